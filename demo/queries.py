"""The demo's SQL, by the module that runs it: the demo clock and the seed."""

# ---------------------------------------------- demo clock (demo.clock)
# the tender's schedule, its row locked as the deadline transition locks it, and the
# database clock read under that lock
LOCK_SCHEDULE = """
    SELECT status, bid_deadline, paused_since, clock_timestamp() AS now
    FROM tenders WHERE id = $1 FOR UPDATE
"""

LOCK_TENDER = "SELECT 1 FROM tenders WHERE id = $1 FOR UPDATE"

LATEST_BID = "SELECT max(received_at) FROM bids WHERE tender_id = $1"

# every scheduled moment by the same interval, so the order the CHECKs require holds
SHIFT_SCHEDULE = """
    UPDATE tenders SET documents_from = documents_from + $2::interval,
           documents_until = documents_until + $2::interval,
           clarification_deadline = clarification_deadline + $2::interval,
           bid_deadline = bid_deadline + $2::interval,
           next_due_at = next_due_at + $2::interval,
           version = version + 1, updated_at = now()
    WHERE id = $1
"""

SHIFT_DRAFT_DEADLINES = """
    UPDATE notices SET requested_bid_deadline = requested_bid_deadline + $2::interval
    WHERE tender_id = $1 AND status = 'draft' AND requested_bid_deadline IS NOT NULL
"""

CLOSE_WINDOWS = """
    UPDATE lot_openings SET window_closes_at = clock_timestamp()
    WHERE tender_id = $1 AND status = 'decrypting' AND window_closes_at > clock_timestamp()
    RETURNING lot_id, window_closes_at
"""

DECRYPTION_CLOSED_NOW = """
    UPDATE tenders SET next_due_at = clock_timestamp(), next_due_kind = 'decryption_closed'
    WHERE id = $1 AND status = 'bidding_closed'
"""


# ---------------------------------------------- seed (demo.run)
ORGANIZATION_BY_CREDIT_CODE = "SELECT id FROM organizations WHERE credit_code = $1"

# the stored password hash of a login; then of several at once
HASH_OF_LOGIN = "SELECT password_hash FROM users WHERE login = $1"

SET_HASH_OF_LOGINS = "UPDATE users SET password_hash = $2 WHERE login = ANY($1::text[])"

USER_EXISTS = "SELECT 1 FROM users WHERE login = $1"


# ---------------------------------------------- the portal's catalogue (demo.portal)
TENDERS_WITH_CODES = "SELECT count(*) FROM tenders WHERE code = ANY($1::text[])"

# a tender as publication leaves it, dated in the past; cancelled ones with their reason.
# A bid its bidder does not decrypt counts as withdrawn: these tenders name no officers
INSERT_PORTAL_TENDER = """
    INSERT INTO tenders (owner_org_id, agency_org_id, code, title, region, procedure, sector,
                         budget, status, published_at, documents_from, documents_until,
                         clarification_deadline, bid_deadline, evaluation_method,
                         cancel_reason, cancelled_at, decrypt_failure, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            'withdrawn', $10::timestamptz - interval '3 days', $10::timestamptz)
    RETURNING id
"""

MOVE_PORTAL_DEADLINE = """
    UPDATE tenders SET bid_deadline = $2, version = version + 1 WHERE id = $1
"""

INSERT_PORTAL_NOTICE = """
    INSERT INTO notices (tender_id, number, kind, status, title, body, content, content_sha256,
                         signature, signer_subject, signer_cert_sha256, created_at,
                         published_at, old_bid_deadline, new_bid_deadline)
    VALUES ($1, $2, $3, 'published', $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13)
    RETURNING id
"""

# the opening's outcome at the deadline: read out and closed, or failed for too few bids
INSERT_PORTAL_OPENING = """
    INSERT INTO lot_openings (lot_id, tender_id, status, bids_at_deadline, required_bids,
                              decrypt_failure, started_at, window_closes_at, read_at,
                              confirm_until, closed_at, failed_reason)
    VALUES ($1, $2, $3, $4, 3, 'withdrawn', $5, $6, $7, $8, $9, $10)
"""
