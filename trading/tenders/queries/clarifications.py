"""SQL for clarifications and amendments (澄清/修改): drafts, publication, the deadline they
move, and who they reached."""

from trading.tenders.queries.notices import NOTICE_COLUMNS

# numbered after the tender's last notice; no row while the tender has a draft (one at a time)
INSERT_DRAFT = f"""
    INSERT INTO notices (tender_id, number, kind, title, body, requested_bid_deadline, created_by)
    VALUES ($1, (SELECT coalesce(max(number), 0) + 1 FROM notices WHERE tender_id = $1),
            'clarification', $2, $3, $4, $5)
    ON CONFLICT DO NOTHING RETURNING {NOTICE_COLUMNS}
"""

DELETE_DRAFT_DOCUMENTS = "DELETE FROM tender_documents WHERE notice_id = $1"

DELETE_DRAFT = "DELETE FROM notices WHERE id = $1"

PUBLISH = f"""
    UPDATE notices SET status = 'published', content = $2, content_sha256 = $3, signature = $4,
           signer_subject = $5, signer_cert_sha256 = $6, old_bid_deadline = $7,
           new_bid_deadline = $8, published_at = now()
    WHERE id = $1 AND status = 'draft' RETURNING {NOTICE_COLUMNS}
"""

MOVE_DEADLINE = """
    UPDATE tenders SET bid_deadline = $2, version = version + 1, updated_at = now() WHERE id = $1
"""

# the notifications of one notice (ref 'notice:<id>'): read receipts
DELIVERIES = """
    SELECT n.user_id, u.login, u.name, o.name AS organization, n.created_at AS delivered_at,
           n.read_at
    FROM notifications n JOIN users u ON u.id = n.user_id
    LEFT JOIN organizations o ON o.id = u.organization_id
    WHERE n.ref = $1 ORDER BY o.name, u.login
"""
