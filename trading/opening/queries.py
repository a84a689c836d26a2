"""SQL for the opening."""

from __future__ import annotations

CLOCK = "SELECT clock_timestamp()"

# the tender's schedule, share-locked: a demo clock or a postponement waits for the opening
OPENING_OF_BID = """
    SELECT t.status, t.bid_deadline, t.paused_since, t.decryption_minutes, t.decrypt_failure
    FROM tenders t WHERE t.id = $1 FOR SHARE
"""

# Starting the opening: FOR UPDATE from the first statement, so that it waits for any
# finalize still holding the tender FOR SHARE (its bid counts, S5). Not an upgrade from
# FOR SHARE, which two bidders at once would deadlock on.
OPENING_OF_BID_TO_START = """
    SELECT t.status, t.bid_deadline, t.paused_since, t.decryption_minutes, t.decrypt_failure
    FROM tenders t WHERE t.id = $1 FOR UPDATE
"""

OPENING_STARTED = "SELECT EXISTS (SELECT 1 FROM lot_openings WHERE tender_id = $1)"

OPENED = """
    SELECT bid_id, opened_by, user_id, opened_at, inner_signer, total_price, price_sheet, files
    FROM bid_openings WHERE bid_id = $1
"""

INSERT_OPENED = """
    INSERT INTO bid_openings (bid_id, tender_id, lot_id, organization_id, opened_by, user_id,
        inner_signer, inner_signer_sha256, total_price, price_sheet, files)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (bid_id) DO NOTHING
    RETURNING bid_id, opened_by, user_id, opened_at, inner_signer, total_price, price_sheet, files
"""

INSERT_ATTEMPT = "INSERT INTO bid_open_attempts (bid_id, lot_id, user_id, code) VALUES ($1, $2, $3, $4)"

# ---------------------------------------------------------------- the hall's event log
# one writer per lot at a time, until commit: numbers commit in the order they were given
LOCK_HALL = "SELECT pg_advisory_xact_lock(hashtextextended('hall:' || $1, 0))"

INSERT_EVENT = """
    INSERT INTO hall_events (lot_id, seq, kind, payload)
    SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM hall_events WHERE lot_id = $1
    RETURNING seq, at
"""

EVENTS_SINCE = """
    SELECT seq, kind, payload, at FROM hall_events
    WHERE lot_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
"""

# ---------------------------------------------------------------- each lot's opening
TENDER_FOR_OPENING = """
    SELECT id, status, procedure, min_bids, bid_deadline, paused_since, decryption_minutes,
           decrypt_failure, officers_k, officers_n
    FROM tenders WHERE id = $1
"""

# the valid submissions at the deadline (none can change after it) decide each lot (S5)
START_LOTS = """
    INSERT INTO lot_openings AS o (lot_id, tender_id, status, bids_at_deadline, required_bids,
                                   decrypt_failure, window_closes_at, failed_reason)
    SELECT l.id, l.tender_id, CASE WHEN c.n < $2 THEN 'failed' ELSE 'decrypting' END,
           c.n, $2, $4, $3, CASE WHEN c.n < $2 THEN 'too_few_bids' END
    FROM lots l CROSS JOIN LATERAL (
        SELECT count(*)::int AS n FROM bids b WHERE b.lot_id = l.id AND b.status = 'submitted') c
    WHERE l.tender_id = $1
    ORDER BY l.number
    ON CONFLICT (lot_id) DO NOTHING
    RETURNING o.lot_id, (SELECT number FROM lots WHERE id = o.lot_id) AS number, o.status,
              o.bids_at_deadline, o.required_bids, o.decrypt_failure
"""

LOT_OPENING = """
    SELECT o.lot_id, o.tender_id, o.status, o.bids_at_deadline, o.required_bids,
           o.decrypt_failure, o.window_closes_at, o.started_at, o.read_at, o.failed_reason,
           o.confirm_until, o.closed_at, l.number, l.title
    FROM lot_openings o JOIN lots l ON l.id = o.lot_id WHERE o.lot_id = $1
"""

LOCK_LOT_OPENING = "SELECT status FROM lot_openings WHERE lot_id = $1 FOR UPDATE"

LOTS_DECRYPTING = """
    SELECT o.lot_id, o.decrypt_failure, t.officers_k, t.officers_n
    FROM lot_openings o JOIN tenders t ON t.id = o.tender_id
    WHERE o.tender_id = $1 AND o.status = 'decrypting' AND o.window_closes_at <= clock_timestamp()
    ORDER BY o.lot_id FOR UPDATE OF o
"""

# submitted bids of the lot neither opened nor decided yet
UNOPENED_BIDS = """
    SELECT b.id, b.tender_id, b.lot_id, b.organization_id, org.name AS bidder_name
    FROM bids b JOIN organizations org ON org.id = b.organization_id
    WHERE b.lot_id = $1 AND b.status = 'submitted'
      AND NOT EXISTS (SELECT 1 FROM bid_openings x WHERE x.bid_id = b.id)
      AND NOT EXISTS (SELECT 1 FROM bid_opening_failures f WHERE f.bid_id = b.id)
    ORDER BY b.received_at
"""

SET_LOT_STATUS = "UPDATE lot_openings SET status = $3 WHERE lot_id = $1 AND status = $2"

MARK_READ = """
    UPDATE lot_openings o SET status = 'read', read_at = clock_timestamp(),
        confirm_until = clock_timestamp() + make_interval(mins => (
            SELECT t.objection_minutes FROM tenders t WHERE t.id = o.tender_id))
    WHERE o.lot_id = $1 AND o.status IN ('decrypting', 'officers')
      AND NOT EXISTS (
        SELECT 1 FROM bids b WHERE b.lot_id = o.lot_id AND b.status = 'submitted'
          AND NOT EXISTS (SELECT 1 FROM bid_openings x WHERE x.bid_id = b.id)
          AND NOT EXISTS (SELECT 1 FROM bid_opening_failures f WHERE f.bid_id = b.id))
    RETURNING o.confirm_until,
              (SELECT count(*) FROM bid_openings x WHERE x.lot_id = o.lot_id) AS opened,
              (SELECT count(*) FROM bid_opening_failures f WHERE f.lot_id = o.lot_id) AS not_opened
"""

ATTEMPT_CODES = "SELECT code FROM bid_open_attempts WHERE bid_id = $1 ORDER BY id"

INSERT_FAILURE = """
    INSERT INTO bid_opening_failures (bid_id, lot_id, fault, last_code) VALUES ($1, $2, $3, $4)
    ON CONFLICT (bid_id) DO NOTHING RETURNING bid_id
"""

FAILED_BID = "SELECT 1 FROM bid_opening_failures WHERE bid_id = $1"

LOT_STATES = """
    SELECT o.status FROM lots l LEFT JOIN lot_openings o ON o.lot_id = l.id
    WHERE l.tender_id = $1 ORDER BY l.number
"""

SET_TENDER_STATUS = """
    UPDATE tenders SET status = $3, version = version + 1, updated_at = now()
    WHERE id = $1 AND status = $2 RETURNING id
"""

# ---------------------------------------------------------------- the officers' shares
_SHARE_COLUMNS = """s.lot_id, s.share_index, s.officer_id, s.envelope, s.submitted_at, s.used_at,
    u.name AS officer_name, t.officers_k, t.officers_n"""
_SHARE_FROM = """FROM lot_opening_shares s JOIN users u ON u.id = s.officer_id
    JOIN lots l ON l.id = s.lot_id JOIN tenders t ON t.id = l.tender_id"""

MY_SHARE = f"SELECT {_SHARE_COLUMNS} {_SHARE_FROM} WHERE s.lot_id = $1 AND s.officer_id = $2"

MY_SHARE_FOR_UPDATE = f"""
    SELECT {_SHARE_COLUMNS} {_SHARE_FROM} WHERE s.lot_id = $1 AND s.officer_id = $2
    FOR UPDATE OF s
"""

LOT_OPENING_FOR_UPDATE = """
    SELECT o.status, t.officers_k, t.officers_n FROM lot_openings o
    JOIN tenders t ON t.id = o.tender_id WHERE o.lot_id = $1 FOR UPDATE OF o
"""

HOLD_SHARE = """
    UPDATE lot_opening_shares SET submitted_at = clock_timestamp(), held = $3
    WHERE lot_id = $1 AND share_index = $2 AND submitted_at IS NULL
"""

HELD_COUNT = "SELECT count(*)::int FROM lot_opening_shares WHERE lot_id = $1 AND held IS NOT NULL"

HELD_SHARES = """
    SELECT share_index, held FROM lot_opening_shares
    WHERE lot_id = $1 AND held IS NOT NULL ORDER BY share_index
"""

LOT_FOR_OFFICERS = """
    SELECT o.status, o.tender_id, l.opening_cert_der, t.officers_k
    FROM lot_openings o JOIN lots l ON l.id = o.lot_id JOIN tenders t ON t.id = o.tender_id
    WHERE o.lot_id = $1
"""

LOCK_TENDER = "SELECT 1 FROM tenders WHERE id = $1 FOR UPDATE"

WIPE_SHARES = """
    WITH wiped AS (
        UPDATE lot_opening_shares SET held = NULL, used_at = clock_timestamp()
        WHERE lot_id = $1 AND held IS NOT NULL RETURNING 1)
    SELECT count(*)::int FROM wiped
"""

# ---------------------------------------------------------------- what the hall shows
HALL_LOT = """
    SELECT l.id AS lot_id, l.number, l.title, t.id AS tender_id, t.code AS tender_code,
           t.title AS tender_title, t.status AS tender_status, t.bid_deadline, t.paused_since,
           t.decryption_minutes, t.decrypt_failure, t.officers_k, t.officers_n,
           t.owner_org_id, t.agency_org_id
    FROM lots l JOIN tenders t ON t.id = l.tender_id WHERE l.id = $1
"""

LAST_EVENT = "SELECT coalesce(max(seq), 0) FROM hall_events WHERE lot_id = $1"

HALL_SIGNINS = """
    SELECT u.name, o.name AS organization, s.role, s.at, s.organization_id, s.ip,
           s.certificate_subject
    FROM hall_signins s JOIN users u ON u.id = s.user_id
    LEFT JOIN organizations o ON o.id = s.organization_id
    WHERE s.lot_id = $1 ORDER BY s.at
"""

# every bid valid at the deadline, with how far its opening has come
HALL_BIDS = """
    SELECT b.id, b.received_at, org.name AS bidder_name, org.credit_code,
           x.opened_by, x.opened_at, x.total_price, x.price_sheet,
           f.fault, f.last_code AS failure_code,
           (SELECT count(*)::int FROM bid_open_attempts a WHERE a.bid_id = b.id) AS attempts,
           (SELECT a.code FROM bid_open_attempts a WHERE a.bid_id = b.id
            ORDER BY a.id DESC LIMIT 1) AS last_code,
           sec.form AS security_form, sec.issuer AS security_issuer,
           sec.number AS security_number, sec.amount AS security_amount,
           sec.status AS security_status, sec.problems AS security_problems
    FROM bids b JOIN organizations org ON org.id = b.organization_id
    LEFT JOIN bid_openings x ON x.bid_id = b.id
    LEFT JOIN bid_opening_failures f ON f.bid_id = b.id
    -- the bid's security: its organization's guarantee for the lot, the issued one first
    LEFT JOIN LATERAL (
        SELECT g.form, io.name AS issuer, g.number, g.amount, g.status, g.problems
        FROM guarantees g JOIN organizations io ON io.id = g.issuer_id
        WHERE g.lot_id = b.lot_id AND g.bidder_org_id = b.organization_id
          AND g.status NOT IN ('rejected', 'surrendered', 'released')
        ORDER BY (g.status = 'issued') DESC, g.created_at DESC LIMIT 1) sec ON true
    WHERE b.lot_id = $1 AND b.status = 'submitted'
    ORDER BY b.received_at
"""

HALL_SHARES = """
    SELECT s.share_index AS index, u.name AS officer, s.submitted_at, s.used_at
    FROM lot_opening_shares s JOIN users u ON u.id = s.officer_id
    WHERE s.lot_id = $1 ORDER BY s.share_index
"""

INSERT_SIGNIN = """
    INSERT INTO hall_signins (lot_id, user_id, organization_id, role, certificate_subject, ip)
    VALUES ($1, $2, $3, $4, $5, $6::inet)
    ON CONFLICT (lot_id, user_id) DO NOTHING RETURNING at
"""

SIGNIN_COUNT = "SELECT count(*)::int FROM hall_signins WHERE lot_id = $1"

HOLDS_DOCUMENTS = """
    SELECT 1 FROM document_holders WHERE tender_id = $1 AND organization_id = $2
"""

IS_OFFICER = "SELECT 1 FROM lot_opening_shares WHERE lot_id = $1 AND officer_id = $2"

HALL_MESSAGES = """
    SELECT seq, payload, at FROM hall_events WHERE lot_id = $1 AND kind = 'hall.message'
    ORDER BY seq DESC LIMIT 50
"""

MY_BID_IN_LOT = """
    SELECT id FROM bids WHERE lot_id = $1 AND organization_id = $2 AND status = 'submitted'
"""

# ---------------------------------------------------------------- the opening record
RECORD_TENDER = """
    SELECT t.id AS tender_id, t.code, t.title, t.procedure, t.bid_deadline,
           owner.name AS owner_name, agency.name AS agency_name, l.number, l.title AS lot_title,
           l.budget, l.ceiling_price, l.security_amount
    FROM lots l JOIN tenders t ON t.id = l.tender_id
    JOIN organizations owner ON owner.id = t.owner_org_id
    LEFT JOIN organizations agency ON agency.id = t.agency_org_id
    WHERE l.id = $1
"""

RECORD_BIDS = """
    SELECT b.id, b.received_at, encode(b.p7m_sha256, 'hex') AS p7m_sha256, b.size,
           x.opened_at, x.inner_signer
    FROM bids b LEFT JOIN bid_openings x ON x.bid_id = b.id
    WHERE b.lot_id = $1 AND b.status = 'submitted'
"""

RECORD_AS_OF = "SELECT 1 FROM opening_records WHERE lot_id = $1 AND as_of_event = $2"

NEXT_RECORD_VERSION = """
    SELECT coalesce(max(version), 0) + 1 FROM opening_records WHERE lot_id = $1
"""

INSERT_RECORD = """
    INSERT INTO opening_records (lot_id, version, object_key, sha256, size, as_of_event)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING lot_id, version, object_key, sha256, size, as_of_event, created_at
"""

RECORDS = """
    SELECT version, encode(sha256, 'hex') AS sha256, size, as_of_event, created_at
    FROM opening_records WHERE lot_id = $1 ORDER BY version
"""

RECORD = "SELECT object_key, sha256 FROM opening_records WHERE lot_id = $1 AND version = $2"

# ---------------------------------------------------------------- confirmations and objections
OBJECTIONS = """
    SELECT j.id, o.name AS bidder, u.name AS raised_by_name, j.text, j.raised_at, j.answer,
           a.name AS answered_by_name, j.answered_at
    FROM opening_objections j JOIN organizations o ON o.id = j.organization_id
    JOIN users u ON u.id = j.raised_by LEFT JOIN users a ON a.id = j.answered_by
    WHERE j.lot_id = $1 ORDER BY j.raised_at
"""

CONFIRMATIONS = """
    SELECT o.name AS bidder, u.name AS user_name, c.at
    FROM opening_confirmations c JOIN organizations o ON o.id = c.organization_id
    JOIN users u ON u.id = c.user_id WHERE c.lot_id = $1 ORDER BY c.at
"""

LOT_OPENING_LOCKED = """
    SELECT status, confirm_until FROM lot_openings WHERE lot_id = $1 FOR UPDATE
"""

LOT_STATUS = "SELECT status FROM lot_openings WHERE lot_id = $1"

ORG_NAME = "SELECT name FROM organizations WHERE id = $1"

INSERT_CONFIRMATION = """
    INSERT INTO opening_confirmations (lot_id, organization_id, user_id) VALUES ($1, $2, $3)
    ON CONFLICT (lot_id, organization_id) DO NOTHING RETURNING at
"""

INSERT_OBJECTION = """
    INSERT INTO opening_objections (lot_id, organization_id, raised_by, text)
    VALUES ($1, $2, $3, $4) RETURNING id, lot_id, text, raised_at, answer, answered_at
"""

ANSWER_OBJECTION = """
    UPDATE opening_objections SET answer = $3, answered_by = $4, answered_at = clock_timestamp()
    WHERE id = $1 AND lot_id = $2 AND answer IS NULL
    RETURNING id, lot_id, text, raised_at, answer, answered_at
"""

OBJECTION_EXISTS = "SELECT 1 FROM opening_objections WHERE id = $1 AND lot_id = $2"

CLOSE_OPENING = """
    UPDATE lot_openings o SET status = 'closed', closed_at = clock_timestamp()
    WHERE o.lot_id = $1 AND o.status = 'read' AND o.confirm_until <= clock_timestamp()
      AND NOT EXISTS (SELECT 1 FROM opening_objections j
                      WHERE j.lot_id = o.lot_id AND j.answer IS NULL)
    RETURNING o.lot_id
"""

READ_LOTS = """
    SELECT lot_id FROM lot_openings WHERE tender_id = $1 AND status = 'read'
    ORDER BY lot_id FOR UPDATE
"""


# what a record is issued as of: the last event other than a record's own issue
RECORD_AS_OF_EVENT = """
    SELECT coalesce(max(seq), 0) FROM hall_events WHERE lot_id = $1 AND kind <> 'record.issued'
"""

# ---------------------------------------------------------------- supervision
SUPERVISED_BIDS = """
    SELECT b.id AS bid_id, b.organization_id, o.name AS bidder, o.credit_code, b.received_at,
           b.client_ips, b.device, b.creator, b.signer_subject,
           s.ip AS signin_ip, s.certificate_subject AS signin_certificate, s.at AS signed_in_at
    FROM bids b JOIN organizations o ON o.id = b.organization_id
    LEFT JOIN LATERAL (
        SELECT x.ip, x.certificate_subject, x.at FROM hall_signins x
        WHERE x.lot_id = b.lot_id AND x.organization_id = b.organization_id AND x.role = 'bidder'
        ORDER BY x.at LIMIT 1) s ON true
    WHERE b.lot_id = $1 AND b.status = 'submitted'
    ORDER BY b.received_at
"""

# C1 in the hall: bidders of different organizations signing in from one address
SHARED_SIGNIN_IPS = """
    SELECT ip, array_agg(DISTINCT organization_id) AS organizations FROM hall_signins
    WHERE lot_id = $1 AND role = 'bidder' AND ip IS NOT NULL
    GROUP BY ip HAVING count(DISTINCT organization_id) > 1 ORDER BY ip
"""

LOCK_RECORDS = "SELECT pg_advisory_xact_lock(hashtextextended('opening-record:' || $1, 0))"

RELEASE_SHARE = """
    UPDATE lot_opening_shares SET held = NULL, submitted_at = NULL
    WHERE lot_id = $1 AND share_index = $2 AND used_at IS NULL AND held IS NOT NULL
    RETURNING share_index
"""


LOCK_LOTS_OF_TENDER = """
    SELECT 1 FROM lot_openings WHERE tender_id = $1 ORDER BY lot_id FOR UPDATE
"""

# the officers' round: how often the lot's set of shares had to be completed again
OFFICERS_ROUND = """
    SELECT count(*)::int FROM hall_events
    WHERE lot_id = $1 AND kind IN ('officers.share_resubmit', 'officers.rebuild_failed')
"""

BID_DECIDED = """
    SELECT EXISTS (SELECT 1 FROM bid_openings WHERE bid_id = $1)
        OR EXISTS (SELECT 1 FROM bid_opening_failures WHERE bid_id = $1)
"""

# a job's own outbox row, read by a job that works before run_once records it
OUTBOX_JOB = "SELECT args, done_at FROM outbox WHERE id = $1"
