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
