"""SQL for notices: the tender notice (number 0) and the clarifications after it."""

NOTICE_COLUMNS = """id, tender_id, number, kind, status, title, body, requested_bid_deadline,
    content_sha256, signer_subject, old_bid_deadline, new_bid_deadline, pdf_key, pdf_sha256,
    created_at, published_at"""

NOTICES = f"""
    SELECT {NOTICE_COLUMNS} FROM notices WHERE tender_id = $1 AND (NOT $2 OR status = 'published')
    ORDER BY number
"""

GET_NOTICE = f"SELECT {NOTICE_COLUMNS} FROM notices WHERE tender_id = $1 AND id = $2"

GET_NOTICE_BY_NUMBER = f"""
    SELECT {NOTICE_COLUMNS}, content, signature FROM notices WHERE tender_id = $1 AND number = $2
"""

INSERT_TENDER_NOTICE = """
    INSERT INTO notices (tender_id, number, kind, status, title, content, content_sha256,
                         signature, signer_subject, signer_cert_sha256, created_by, published_at,
                         new_bid_deadline)
    VALUES ($1, 0, 'tender', 'published', $2, $3, $4, $5, $6, $7, $8, now(), $9) RETURNING id
"""

# the whole row, for the notice's PDF
NOTICE_BY_ID = "SELECT * FROM notices WHERE id = $1"

# once: a second rendering finds the key set and stores nothing
SET_PDF = "UPDATE notices SET pdf_key = $2, pdf_sha256 = $3 WHERE id = $1 AND pdf_key IS NULL"

# the tenderer and the agency, as a notice names them
PARTIES = "SELECT id, name, credit_code FROM organizations WHERE id = ANY($1)"

# the code the signer's certificate must carry to speak for the organization
CREDIT_CODE = "SELECT credit_code FROM organizations WHERE id = $1"
