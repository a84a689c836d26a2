"""SQL of the role workspaces: read-only views across the domains' tables."""

# ---------------------------------------------------------------- supervisor
# Tenders past their draft, with the fields the phase is told from; $1: live (true) or past.
SUPERVISED_TENDERS = """
    SELECT t.id, t.code, t.title, t.region, t.status, t.paused_since, t.published_at,
           t.documents_until, t.bid_deadline, o.name AS owner
    FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.status <> 'draft'
      AND (t.status IN ('published', 'bidding_closed', 'opened', 'evaluating')) = $1
    ORDER BY t.bid_deadline DESC NULLS LAST, t.id
    LIMIT $2"""

# The lots of those tenders with their opening, if it has started.
SUPERVISED_LOTS = """
    SELECT l.id, l.tender_id, l.number, l.title, lo.status AS opening_status,
           lo.bids_at_deadline
    FROM lots l LEFT JOIN lot_openings lo ON lo.lot_id = l.id
    WHERE l.tender_id = ANY($1::uuid[])
    ORDER BY l.tender_id, l.number"""

SUPERVISED_TENDER = """
    SELECT t.id, t.code, t.title, t.status, t.bid_deadline, t.created_at, o.name AS owner
    FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.id = $1 AND t.status <> 'draft'"""

# A tender's audit rows (the tender's own, its lots' and its bids'), each with the hash of
# the row just before it in the whole chain, so each link can be checked where it stands.
TENDER_AUDIT = """
    SELECT a.id, a.at, a.actor_id, a.actor_role, a.action, a.object_type, a.object_id,
           host(a.client_ip) AS client_ip, a.request_id, a.payload_digest, a.prev_hash, a.hash,
           u.name AS actor_name, p.hash AS before_hash
    FROM audit_log a
    LEFT JOIN users u ON u.id = a.actor_id
    LEFT JOIN LATERAL (SELECT b.hash FROM audit_log b WHERE b.id < a.id
                       ORDER BY b.id DESC LIMIT 1) p ON true
    WHERE (a.object_type = 'tender' AND a.object_id = $1::uuid::text)
       OR (a.object_type = 'lot'
           AND a.object_id IN (SELECT l.id::text FROM lots l WHERE l.tender_id = $1::uuid))
       OR (a.object_type = 'bid'
           AND a.object_id IN (SELECT b.id::text FROM bids b JOIN lots l ON l.id = b.lot_id
                               WHERE l.tender_id = $1::uuid))
    ORDER BY a.id
    LIMIT $2"""

# The stretch of the chain a tender lived through: from the first row written since the
# tender was created ($1, a time the audit log cannot move) to the row after its last ($2).
WINDOW_START = "SELECT min(id) FROM audit_log WHERE at >= $1"
ROW_AFTER = "SELECT min(id) FROM audit_log WHERE id > $1"
HASH_BEFORE = "SELECT hash FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT 1"
AUDIT_RANGE = """
    SELECT id, at, actor_id, actor_role, action, object_type, object_id,
           host(client_ip) AS client_ip, request_id, payload_digest, prev_hash, hash
    FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"""

# ---------------------------------------------------------------- site operator
# Lots whose deadline (the opening) falls in [$1, $2).
OPENINGS_BETWEEN = """
    SELECT l.id AS lot_id, l.number, l.title AS lot_title, t.id AS tender_id, t.code,
           t.title, t.status, t.bid_deadline, lo.status AS opening_status
    FROM lots l JOIN tenders t ON t.id = l.tender_id
    LEFT JOIN lot_openings lo ON lo.lot_id = l.id
    WHERE t.status NOT IN ('draft', 'cancelled')
      AND t.bid_deadline >= $1 AND t.bid_deadline < $2
    ORDER BY t.bid_deadline, t.code, l.number"""

# ---------------------------------------------------------------- tenderer and agency
# Objections to the documents still unanswered, per tender of the organization ($1). Counts
# only: which organization objected is not the workspace's to show (T7).
OPEN_OBJECTIONS = """
    SELECT t.id AS tender_id, t.code, t.title, count(*) AS waiting,
           min(j.answer_due_at) AS first_due, bool_or(now() > j.answer_due_at) AS overdue
    FROM objections j JOIN tenders t ON t.id = j.tender_id
    WHERE j.answered_at IS NULL AND (t.owner_org_id = $1 OR t.agency_org_id = $1)
    GROUP BY t.id, t.code, t.title
    ORDER BY min(j.answer_due_at)"""

# Objections raised at an opening, waiting for the host's answer.
OPEN_OPENING_OBJECTIONS = """
    SELECT t.id AS tender_id, t.code, t.title, l.id AS lot_id, l.number, count(*) AS waiting
    FROM opening_objections j JOIN lots l ON l.id = j.lot_id JOIN tenders t ON t.id = l.tender_id
    WHERE j.answered_at IS NULL AND (t.owner_org_id = $1 OR t.agency_org_id = $1)
    GROUP BY t.id, t.code, t.title, l.id, l.number
    ORDER BY t.code, l.number"""

# Notices written but not signed yet: tender notices of drafts, clarifications.
UNSIGNED_NOTICES = """
    SELECT n.id, n.number, n.kind, n.title, n.created_at, t.id AS tender_id, t.code,
           t.status AS tender_status
    FROM notices n JOIN tenders t ON t.id = n.tender_id
    WHERE n.status = 'draft' AND t.status <> 'cancelled'
      AND (t.owner_org_id = $1 OR t.agency_org_id = $1)
    ORDER BY n.created_at"""

DRAFT_TENDERS = """
    SELECT t.id, t.code, t.title, t.created_at
    FROM tenders t
    WHERE t.status = 'draft' AND (t.owner_org_id = $1 OR t.agency_org_id = $1)
    ORDER BY t.created_at DESC"""

# ---------------------------------------------------------------- administrator
COUNT_USERS = "SELECT count(*) FROM users"

PEOPLE = """
    SELECT u.id, u.login, u.name, u.is_active, u.created_at, o.name AS organization,
           coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL),
                    '{}') AS roles
    FROM users u
    LEFT JOIN organizations o ON o.id = u.organization_id
    LEFT JOIN user_roles r ON r.user_id = u.id
    GROUP BY u.id, o.name
    ORDER BY u.created_at DESC, u.login
    LIMIT $1"""

COUNT_ORGANIZATIONS = "SELECT count(*) FROM organizations"

ORGANIZATIONS = """
    SELECT o.id, o.name, o.credit_code, o.kind, o.region, o.created_at,
           (SELECT count(*) FROM users u WHERE u.organization_id = o.id) AS members
    FROM organizations o
    ORDER BY o.created_at DESC, o.name
    LIMIT $1"""

CERTIFICATES = """
    SELECT c.id, c.purpose, c.subject, c.credit_code, c.not_after, c.created_at,
           encode(c.cert_sha256, 'hex') AS sha256, u.login, u.name
    FROM user_certificates c JOIN users u ON u.id = c.user_id
    ORDER BY c.created_at DESC
    LIMIT $1"""

# $2: the user's own only (NULL: everyone's)
API_KEYS = """
    SELECT k.id, k.name, k.prefix, k.created_at, k.expires_at, k.last_used_at, k.revoked_at,
           u.login, u.name AS owner, now() >= k.expires_at AS expired
    FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE $2::uuid IS NULL OR k.user_id = $2
    ORDER BY k.created_at DESC
    LIMIT $1"""

API_KEY_OWNER = "SELECT user_id FROM api_keys WHERE id = $1"

MY_CERTIFICATES = """
    SELECT c.id, c.purpose, c.subject, c.credit_code, c.not_after, c.created_at
    FROM user_certificates c WHERE c.user_id = $1
    ORDER BY c.created_at DESC"""
