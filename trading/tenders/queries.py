"""SQL for tenders and lots."""

# Columns a client sets on a draft, in the order of the INSERT/UPDATE parameters.
EDITABLE = ("code", "title", "region", "procedure", "sector", "budget", "ceiling_price",
            "agency_org_id", "min_bids", "has_prequalification", "security_cap_percent",
            "security_cap_amount", "security_forms", "documents_from", "documents_until",
            "clarification_deadline", "bid_deadline", "bid_validity_days", "evaluation_method",
            "weights", "decryption_minutes", "decrypt_failure", "officers_n", "officers_k")

TENDER_COLUMNS = """t.id, t.code, t.title, t.region, t.procedure, t.status, t.owner_org_id,
    t.agency_org_id, t.budget, t.published_at, t.created_at, o.name AS owner_name, t.sector,
    t.ceiling_price, t.min_bids, t.has_prequalification, t.security_cap_percent,
    t.security_cap_amount, t.security_forms, t.documents_from, t.documents_until,
    t.clarification_deadline, t.bid_deadline, t.bid_validity_days, t.evaluation_method,
    t.weights, t.decryption_minutes, t.decrypt_failure, t.officers_n, t.officers_k,
    t.next_due_at, t.next_due_kind, t.paused_since, t.cancel_reason, t.cancelled_at,
    t.previous_tender_id, t.version"""

INSERT_TENDER = f"""
    INSERT INTO tenders (owner_org_id, previous_tender_id, {", ".join(EDITABLE)})
    VALUES ($1, $2, {", ".join(f"${i}" for i in range(3, 3 + len(EDITABLE)))}) RETURNING id
"""

UPDATE_DRAFT = f"""
    UPDATE tenders SET {", ".join(f"{c} = ${i}" for i, c in enumerate(EDITABLE, start=3))},
           version = version + 1, updated_at = now()
    WHERE id = $1 AND status = 'draft' AND version = $2 RETURNING id
"""

GET_TENDER = f"""
    SELECT {TENDER_COLUMNS} FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.id = $1
"""

LOCK_TENDER = f"""
    SELECT {TENDER_COLUMNS} FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.id = $1 FOR UPDATE OF t
"""

LOTS = """
    SELECT id, number, title, budget, security_amount, ceiling_price
    FROM lots WHERE tender_id = $1 ORDER BY number
"""

DELETE_LOTS = "DELETE FROM lots WHERE tender_id = $1"

INSERT_LOT = """
    INSERT INTO lots (tender_id, number, title, budget, security_amount, ceiling_price)
    VALUES ($1, $2, $3, $4, $5, $6)
"""

COPY_LOTS = """
    INSERT INTO lots (tender_id, number, title, budget, security_amount, ceiling_price,
                      max_bid_bytes)
    SELECT $2, number, title, budget, security_amount, ceiling_price, max_bid_bytes
    FROM lots WHERE tender_id = $1
"""

# Public list: never drafts. Filters are optional ($n IS NULL passes).
LIST_PUBLIC = f"""
    SELECT {TENDER_COLUMNS}, count(*) OVER () AS total
    FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.status <> 'draft'
      AND ($1::text IS NULL OR t.title ILIKE '%' || $1 || '%' OR t.code ILIKE '%' || $1 || '%')
      AND ($2::text IS NULL OR t.region = $2)
      AND ($3::text IS NULL OR t.status = $3)
    ORDER BY t.published_at DESC, t.id DESC
    LIMIT $4 OFFSET $5
"""

LIST_OWN = f"""
    SELECT {TENDER_COLUMNS}
    FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.owner_org_id = $1 OR t.agency_org_id = $1
    ORDER BY t.created_at DESC, t.id DESC
"""

PUBLISH = """
    UPDATE tenders SET status = 'published', published_at = now(),
           documents_from = greatest(documents_from, now()), version = version + 1,
           updated_at = now()
    WHERE id = $1 AND status = 'draft' RETURNING id
"""

SET_DUE = """
    UPDATE tenders SET next_due_at = $2, next_due_kind = $3 WHERE id = $1
"""

CANCEL = """
    UPDATE tenders SET status = 'cancelled', cancel_reason = $2, cancelled_at = now(),
           next_due_at = NULL, next_due_kind = NULL, version = version + 1, updated_at = now()
    WHERE id = $1 AND status = ANY($3::text[]) RETURNING id
"""

SET_STATUS = """
    UPDATE tenders SET status = $3, version = version + 1, updated_at = now()
    WHERE id = $1 AND status = $2 RETURNING id
"""

DUE_TENDERS = """
    SELECT id FROM tenders WHERE next_due_at <= now()
    ORDER BY next_due_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""

CALENDAR_HORIZON = "SELECT min(day), max(day) FROM calendar_days"
