"""SQL for bid uploads, bids and their marks."""

# ---------------------------------------------------------------- the lot a bid goes to
LOT_FOR_BID = """
    SELECT t.id AS tender_id, t.code, t.title AS tender_title, t.status, t.bid_deadline,
           t.bid_validity_days, t.paused_since, l.id AS lot_id, l.number, l.title AS lot_title,
           l.max_bid_bytes, l.opening_cert_der
    FROM tenders t JOIN lots l ON l.tender_id = t.id
    WHERE t.id = $1 AND l.number = $2
"""

LOT_BY_ID = """
    SELECT t.id AS tender_id, t.code, t.title AS tender_title, t.status, t.bid_deadline,
           t.bid_validity_days, t.paused_since, l.id AS lot_id, l.number, l.title AS lot_title,
           l.max_bid_bytes, l.opening_cert_der
    FROM tenders t JOIN lots l ON l.tender_id = t.id
    WHERE l.id = $1
"""

# the deciding read: the tender row share-locked (the deadline transition waits
# for finalizes in flight), then the clock read after the lock is held
LOCK_TENDER_SHARE = "SELECT status, bid_deadline FROM tenders WHERE id = $1 FOR SHARE"
CLOCK = "SELECT clock_timestamp()"

IS_HOLDER = """
    SELECT EXISTS (SELECT 1 FROM document_holders WHERE tender_id = $1 AND organization_id = $2)
"""

ORGANIZATION = "SELECT id, name, credit_code FROM organizations WHERE id = $1"

# ---------------------------------------------------------------- uploads
UPLOAD_COLUMNS = """id, tender_id, lot_id, organization_id, user_id, idempotency_key, size,
    declared_sha256, part_size, object_key, s3_upload_id, parts_done, bytes_done, part_etags,
    hash_state, head, busy_token, busy_until, device, creator, client_ips, status, created_at,
    updated_at, (SELECT b.id FROM bids b WHERE b.upload_id = bid_uploads.id) AS bid_id"""

UPLOAD_BY_KEY = f"""
    SELECT {UPLOAD_COLUMNS} FROM bid_uploads WHERE organization_id = $1 AND idempotency_key = $2
"""

GET_UPLOAD = f"SELECT {UPLOAD_COLUMNS} FROM bid_uploads WHERE id = $1"
LOCK_UPLOAD = f"SELECT {UPLOAD_COLUMNS} FROM bid_uploads WHERE id = $1 FOR UPDATE"

INSERT_UPLOAD = f"""
    INSERT INTO bid_uploads (id, tender_id, lot_id, organization_id, user_id, idempotency_key,
        size, declared_sha256, part_size, object_key, s3_upload_id, hash_state, device, creator,
        client_ips)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ARRAY[$15::inet])
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
    RETURNING {UPLOAD_COLUMNS}
"""

# a part may start when the previous one is recorded and nobody else holds the lease
TAKE_LEASE = """
    UPDATE bid_uploads SET busy_token = $3, busy_until = clock_timestamp() + $4::interval,
        client_ips = CASE WHEN $5::inet IS NULL OR $5::inet = ANY(client_ips) THEN client_ips
                          ELSE client_ips || $5::inet END
    WHERE id = $1 AND status = 'open' AND parts_done = $2 - 1
      AND (busy_until IS NULL OR busy_until < clock_timestamp())
    RETURNING hash_state, parts_done, bytes_done
"""

RENEW_LEASE = """
    UPDATE bid_uploads SET busy_until = clock_timestamp() + $3::interval
    WHERE id = $1 AND busy_token = $2 RETURNING id
"""

LEASE_LEFT = """
    SELECT ceil(extract(epoch FROM busy_until - clock_timestamp())) FROM bid_uploads WHERE id = $1
"""

RELEASE_LEASE = """
    UPDATE bid_uploads SET busy_token = NULL, busy_until = NULL WHERE id = $1 AND busy_token = $2
"""

RECORD_PART = """
    UPDATE bid_uploads SET parts_done = parts_done + 1, bytes_done = bytes_done + $3,
        part_etags = part_etags || $4::text, hash_state = $5,
        head = CASE WHEN parts_done = 0 THEN $6 ELSE head END,
        busy_token = NULL, busy_until = NULL, updated_at = now()
    WHERE id = $1 AND busy_token = $2 AND parts_done = $7 - 1
    RETURNING parts_done, bytes_done
"""

# a finalize's claim on a complete upload: the part lease's columns (no part can be
# taken once every part is in), so the expiry pass also leaves a finalize in flight alone
CLAIM_UPLOAD = """
    UPDATE bid_uploads SET busy_token = $3, busy_until = clock_timestamp() + $4::interval
    WHERE id = $1 AND status = 'open' AND parts_done = $2
      AND (busy_until IS NULL OR busy_until < clock_timestamp())
    RETURNING id
"""

# the store keeps a dead completion locked: the same row starts over with a new multipart
# upload under a new key, no parts, a fresh hash
RESTART_UPLOAD = """
    UPDATE bid_uploads SET object_key = $3, s3_upload_id = $4, parts_done = 0, bytes_done = 0,
        part_etags = '{}', hash_state = $5, head = '', busy_token = NULL, busy_until = NULL,
        updated_at = now()
    WHERE id = $1 AND busy_token = $2 AND status = 'open'
    RETURNING id
"""

SET_UPLOAD_FINALIZED = """
    UPDATE bid_uploads SET status = 'finalized', updated_at = now(),
        busy_token = NULL, busy_until = NULL,
        client_ips = CASE WHEN $2::inet IS NULL OR $2::inet = ANY(client_ips) THEN client_ips
                          ELSE client_ips || $2::inet END
    WHERE id = $1 RETURNING client_ips
"""

# ---------------------------------------------------------------- bids
BID_COLUMNS = """b.id, b.tender_id, b.lot_id, b.organization_id, b.submitted_by, b.upload_id,
    b.status, b.object_key, b.version_id, b.size, b.p7m_sha256, b.p7s_sha256, b.signer_subject,
    b.envelope_kind, b.content_cipher, b.recipients, b.received_at, b.replaces,
    b.superseded_at, b.withdrawn_at, b.receipt_pdf_key, b.receipt_pdf_sha256,
    t.code AS tender_code, t.title AS tender_title, t.bid_deadline, l.number AS lot_number,
    l.title AS lot_title, o.name AS bidder_name, o.credit_code AS bidder_credit_code,
    (SELECT n.id FROM bids n WHERE n.replaces = b.id) AS superseded_by"""

_BID_FROM = """FROM bids b JOIN tenders t ON t.id = b.tender_id JOIN lots l ON l.id = b.lot_id
    JOIN organizations o ON o.id = b.organization_id"""

GET_BID = f"SELECT {BID_COLUMNS} {_BID_FROM} WHERE b.id = $1"

BIDS_OF_ORG = f"""
    SELECT {BID_COLUMNS} {_BID_FROM}
    WHERE b.organization_id = $1 AND ($2::uuid IS NULL OR b.tender_id = $2)
    ORDER BY b.received_at DESC LIMIT 500
"""

# the lots an organization may still bid for: documents obtained, published, deadline ahead
BIDDABLE = """
    SELECT t.id AS tender_id, t.code AS tender_code, t.title AS tender_title, t.bid_deadline,
           l.number AS lot_number, l.title AS lot_title
    FROM document_holders h JOIN tenders t ON t.id = h.tender_id
    JOIN lots l ON l.tender_id = t.id
    WHERE h.organization_id = $1 AND t.status = 'published' AND t.bid_deadline > clock_timestamp()
    ORDER BY t.bid_deadline, t.code, l.number LIMIT 200
"""

RECEIPT = """
    SELECT receipt, receipt_tst, withdrawal_receipt, withdrawal_receipt_tst, receipt_pdf_key,
           organization_id
    FROM bids WHERE id = $1
"""

SUPERSEDE = """
    UPDATE bids SET status = 'superseded', superseded_at = $3
    WHERE lot_id = $1 AND organization_id = $2 AND status = 'submitted' RETURNING id
"""

INSERT_BID = """
    INSERT INTO bids (id, tender_id, lot_id, organization_id, submitted_by, upload_id,
        object_key, version_id, size, p7m_sha256, signature, p7s_sha256, signer_subject,
        signer_cert_sha256, envelope_kind, content_cipher, recipients, received_at, receipt,
        receipt_tst, replaces, client_ips, device, creator)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21, $22, $23, $24)
"""

INSERT_MARKS = """
    INSERT INTO bid_marks (bid_id, lot_id, organization_id, kind, value)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
"""

WITHDRAW = """
    UPDATE bids SET status = 'withdrawn', withdrawn_at = $2, withdrawal_signature = $3,
        withdrawal_receipt = $4, withdrawal_receipt_tst = $5
    WHERE id = $1 AND status = 'submitted' RETURNING id
"""

# the signed receipt alone: the receipt PDF prints its SHA-256
RECEIPT_BYTES = "SELECT receipt FROM bids WHERE id = $1"

SET_RECEIPT_PDF = """
    UPDATE bids SET receipt_pdf_key = $2, receipt_pdf_sha256 = $3
    WHERE id = $1 AND receipt_pdf_key IS NULL
"""

# after the deadline: how many bidders per lot, never who
COUNTS = """
    SELECT l.id AS lot_id, l.number, count(b.id) AS bids
    FROM lots l LEFT JOIN bids b ON b.lot_id = l.id AND b.status = 'submitted'
    WHERE l.tender_id = $1 GROUP BY l.id, l.number ORDER BY l.number
"""

# C1/C2: identifiers shared by bids of different bidders in one lot. The tool's
# name and version ("creator") is kept for the record but never flags: every user
# of the same tool shares it; the opening reads authorship from the files themselves.
SHARED_MARKS = """
    SELECT m.kind, m.value, array_agg(DISTINCT m.organization_id) AS organizations
    FROM bid_marks m JOIN bids b ON b.id = m.bid_id AND b.status = 'submitted'
    WHERE m.lot_id = $1 AND m.kind <> 'creator'
    GROUP BY m.kind, m.value HAVING count(DISTINCT m.organization_id) > 1
    ORDER BY m.kind, m.value
"""

BIDDER_USERS = """
    SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = 'bidder'
    WHERE u.organization_id = $1 AND u.is_active
"""

# Open uploads of tenders whose deadline has passed (or that were cancelled), not being
# written to right now (a part in flight finishes first) nor finalized at this moment
# (finalize holds the row): marked expired, their S3 parts dropped by a job.
EXPIRE_UPLOADS = """
    WITH due AS (
        SELECT u.id FROM bid_uploads u JOIN tenders t ON t.id = u.tender_id
        WHERE u.status = 'open'
          AND (t.bid_deadline <= clock_timestamp() OR t.status = 'cancelled')
          AND (u.busy_until IS NULL OR u.busy_until < clock_timestamp())
        ORDER BY u.created_at
        LIMIT $1
        FOR UPDATE OF u SKIP LOCKED
    )
    UPDATE bid_uploads u SET status = 'expired', expired_at = clock_timestamp(),
        busy_token = NULL, busy_until = NULL, updated_at = now()
    FROM due WHERE u.id = due.id
    RETURNING u.id, u.tender_id, u.lot_id, u.organization_id, u.parts_done, u.bytes_done, u.size
"""

EXPIRED_UPLOAD = """
    SELECT object_key, s3_upload_id FROM bid_uploads WHERE id = $1 AND status = 'expired'
"""
