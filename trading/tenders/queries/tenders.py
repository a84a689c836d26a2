"""SQL for tenders and lots: drafts, the public and own lists, publication, status and
the next due moment."""

import functools
from typing import Any

# Columns a client sets on a draft, in the order of the INSERT/UPDATE parameters.
EDITABLE = ("code", "title", "region", "procedure", "sector", "budget", "ceiling_price",
            "agency_org_id", "min_bids", "has_prequalification", "security_cap_percent",
            "security_cap_amount", "security_forms", "documents_from", "documents_until",
            "clarification_deadline", "bid_deadline", "bid_validity_days", "evaluation_method",
            "weights", "decryption_minutes", "decrypt_failure", "officers_n", "officers_k",
            "objection_minutes")

TENDER_COLUMNS = """t.id, t.code, t.title, t.region, t.procedure, t.status, t.owner_org_id,
    t.agency_org_id, t.budget, t.published_at, t.created_at, o.name AS owner_name, t.sector,
    t.ceiling_price, t.min_bids, t.has_prequalification, t.security_cap_percent,
    t.security_cap_amount, t.security_forms, t.documents_from, t.documents_until,
    t.clarification_deadline, t.bid_deadline, t.bid_validity_days, t.evaluation_method,
    t.weights, t.decryption_minutes, t.decrypt_failure, t.officers_n, t.officers_k,
    t.objection_minutes,
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
    SELECT id, number, title, budget, security_amount, ceiling_price,
           encode(sha256(opening_cert_der), 'hex') AS opening_cert_sha256
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

# The public list: never drafts, nor drafts that were cancelled (no publication time). Each
# combination of filters gets a statement of its own with only its own conditions: one
# statement with "$n IS NULL OR ..." for every filter has no plan good for all of them, so
# PostgreSQL planned it anew on every call (1.5 ms, against 0.3 ms to run it). The page's ids
# come from the index first and only those rows are joined. The total: with a keyword or a
# date range, a count of the matching ids; otherwise the sum of the counts the database keeps
# per (status, region, procedure) (0015), the same rows without reading them.
# PostgreSQL notifies this channel whenever what the public list shows may have changed
# (0016): API processes then drop the answers they keep (core/readcache.py).
PUBLIC_TENDERS_CHANNEL = "public_tenders"
PUBLIC_FILTERS = ("keyword", "region", "status", "procedure", "since", "until")
_PUBLIC_CONDITIONS = {
    "keyword": "(t.title ILIKE '%' || {p}::text || '%' OR t.code ILIKE '%' || {p}::text || '%')",
    "region": "t.region = {p}::text",
    "status": "t.status = {p}::text",
    "procedure": "t.procedure = {p}::text",
    "since": "t.published_at >= {p}::timestamptz",
    "until": "t.published_at < {p}::timestamptz",
}
_KEPT = frozenset({"region", "status", "procedure"})


@functools.cache
def _list_public(present: tuple[str, ...]) -> str:
    places = {name: f"${n}" for n, name in enumerate(present, start=1)}
    where = " AND ".join(["t.status <> 'draft'", "t.published_at IS NOT NULL",
                          *(_PUBLIC_CONDITIONS[name].format(p=places[name]) for name in present)])
    if _KEPT.issuperset(present):
        kept = " AND ".join(f"c.{name} = {places[name]}::text" for name in present)
        total = ("SELECT coalesce(sum(c.n), 0)::bigint FROM public_tender_counts c"
                 + (f" WHERE {kept}" if kept else ""))
    else:
        total = f"SELECT count(*) FROM tenders t WHERE {where}"
    limit, offset = f"${len(present) + 1}", f"${len(present) + 2}"
    return f"""
    WITH page AS (SELECT t.id FROM tenders t WHERE {where}
                  ORDER BY t.published_at DESC, t.id DESC LIMIT {limit} OFFSET {offset})
    SELECT {TENDER_COLUMNS}, ({total}) AS total
    FROM page p JOIN tenders t ON t.id = p.id JOIN organizations o ON o.id = t.owner_org_id
    ORDER BY t.published_at DESC, t.id DESC
    """


def list_public(filters: dict[str, Any], limit: int, offset: int) -> tuple[str, list[Any]]:
    """The statement for the filters given (a value of None is no filter) and its arguments."""
    present = tuple(name for name in PUBLIC_FILTERS if filters.get(name) is not None)
    return _list_public(present), [*(filters[name] for name in present), limit, offset]


# The regions that published tenders name, read as a loose index scan over the region index
# (one probe per distinct value instead of a pass over every row).
PUBLIC_REGIONS = """
    WITH RECURSIVE r(region) AS (
        SELECT min(region) FROM tenders WHERE status <> 'draft'
        UNION ALL
        SELECT (SELECT min(t.region) FROM tenders t
                WHERE t.status <> 'draft' AND t.region > r.region)
        FROM r WHERE r.region IS NOT NULL)
    SELECT region FROM r WHERE region IS NOT NULL AND region <> '' LIMIT 500
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

ORGANIZATION_KIND = "SELECT kind FROM organizations WHERE id = $1"

AGENCIES = "SELECT id, name FROM organizations WHERE kind = 'agency' ORDER BY name LIMIT 500"

# The schedule after the deadline: the opening's tables, read for the tender's next due
# moment (trading/tenders/schedule.py).
LATEST_CONFIRM_UNTIL = """
    SELECT max(confirm_until) FROM lot_openings WHERE tender_id = $1 AND status = 'read'
"""

# lots of a started opening not yet read or failed, or an opening not started at all
OPENING_PENDING = """
    SELECT EXISTS (SELECT 1 FROM lots l LEFT JOIN lot_openings o ON o.lot_id = l.id
                   WHERE l.tender_id = $1 AND (o.lot_id IS NULL
                                               OR o.status IN ('decrypting', 'officers')))
"""

# G5: the opening moved; an event for the issuers of the tender's guarantees, made once
INSERT_OPENING_POSTPONED = """
    INSERT INTO guarantee_events (tender_id, kind, payload)
    VALUES ($1, 'opening_postponed', $2) ON CONFLICT DO NOTHING
"""
