"""SQL for objections to the tender documents (异议, T4): filed, answered, the tender paused
and resumed, and answers overdue."""

INSERT_OBJECTION = """
    INSERT INTO objections (tender_id, organization_id, user_id, body, answer_due_at)
    VALUES ($1, $2, $3, $4, now() + $5::interval)
    RETURNING id, tender_id, organization_id, body, submitted_at, answer_due_at, answer,
              answered_at
"""

# overdue: the answer came, or is still missing, after its due moment
_COLUMNS = """j.id, j.tender_id, j.organization_id, o.name AS organization, j.body,
    j.submitted_at, j.answer_due_at, j.answer, j.answered_at, j.user_id, j.answer_signer,
    encode(sha256(j.answer_signed), 'hex') AS answer_sha256,
    coalesce(j.answered_at, now()) > j.answer_due_at AS overdue"""

# every objection of the tender, or ($2) one organization's
OBJECTIONS = f"""
    SELECT {_COLUMNS} FROM objections j JOIN organizations o ON o.id = j.organization_id
    WHERE j.tender_id = $1 AND ($2::uuid IS NULL OR j.organization_id = $2)
    ORDER BY j.submitted_at
"""

OBJECTION_EXISTS = "SELECT 1 FROM objections WHERE tender_id = $1 AND id = $2"

# what an answer signs over, and whether it is still to be answered
OBJECTION = """
    SELECT id, organization_id, body, submitted_at, answered_at, answer_signed, answer_signature
    FROM objections WHERE tender_id = $1 AND id = $2
"""

ANSWER = """
    UPDATE objections SET answer = $3, answered_at = now(), answered_by = $4,
           answer_signed = $5, answer_signature = $6, answer_signer = $7,
           answer_cert_sha256 = $8
    WHERE tender_id = $1 AND id = $2 AND answered_at IS NULL RETURNING id, user_id
"""

UNANSWERED = "SELECT count(*) FROM objections WHERE tender_id = $1 AND answered_at IS NULL"

PAUSE_TENDER = "UPDATE tenders SET paused_since = coalesce(paused_since, now()) WHERE id = $1"

RESUME_TENDER = """
    UPDATE tenders SET paused_since = NULL, bid_deadline = bid_deadline + $2::interval,
           version = version + 1, updated_at = now()
    WHERE id = $1 RETURNING bid_deadline
"""

# who answers: the active staff of the tenderer and the agency
STAFF = """
    SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id
    WHERE u.is_active AND u.organization_id = ANY($1) AND r.role IN ('tenderer', 'agency')
"""

SUPERVISORS = """
    SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id
    WHERE u.is_active AND r.role = 'supervisor'
"""

# Only a published tender waits for the answer; a cancelled one no longer does.
# SKIP LOCKED: an objection being answered right now is left to the answer.
OVERDUE = """
    SELECT j.id, j.tender_id, j.body, j.answer_due_at, o.name AS organization
    FROM objections j JOIN tenders t ON t.id = j.tender_id
         JOIN organizations o ON o.id = j.organization_id
    WHERE j.answered_at IS NULL AND j.overdue_flagged_at IS NULL AND j.answer_due_at <= now()
      AND t.status = 'published'
    ORDER BY j.answer_due_at LIMIT $1 FOR UPDATE OF j SKIP LOCKED
"""

FLAG_OVERDUE = """
    UPDATE objections SET overdue_flagged_at = now()
    WHERE id = $1 AND answered_at IS NULL AND overdue_flagged_at IS NULL RETURNING id
"""
