"""SQL for tender documents, the organizations that obtained them (holders) and their
downloads."""

DOCUMENT_COLUMNS = """id, tender_id, notice_id, name, content_type, size, sha256, object_key,
    signer_subject, frozen, created_at"""

DOCUMENT_NAME_TAKEN = """
    SELECT EXISTS (SELECT 1 FROM tender_documents
                   WHERE tender_id = $1 AND notice_id IS NOT DISTINCT FROM $2 AND name = $3)
"""

DELETE_DOCUMENT = "DELETE FROM tender_documents WHERE id = $1"

DOCUMENT_KEY_USED = "SELECT EXISTS (SELECT 1 FROM tender_documents WHERE object_key = $1)"

INSERT_DOCUMENT = f"""
    INSERT INTO tender_documents (id, tender_id, notice_id, name, content_type, size, sha256,
                                  object_key, signature, signer_subject, signer_cert_sha256,
                                  uploaded_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {DOCUMENT_COLUMNS}
"""

GET_DOCUMENT = f"""
    SELECT {DOCUMENT_COLUMNS}, signature FROM tender_documents WHERE tender_id = $1 AND id = $2
"""

# the tender's own documents and the attachments of published clarifications
DOCUMENTS = f"""
    SELECT {DOCUMENT_COLUMNS} FROM tender_documents d
    WHERE tender_id = $1 AND (NOT $2 OR frozen)
    ORDER BY notice_id NULLS FIRST, created_at, name
"""

NOTICE_DOCUMENTS = f"""
    SELECT {DOCUMENT_COLUMNS} FROM tender_documents
    WHERE tender_id = $1 AND notice_id IS NOT DISTINCT FROM $2 ORDER BY name
"""

FREEZE_DOCUMENTS = """
    UPDATE tender_documents SET frozen = true
    WHERE tender_id = $1 AND notice_id IS NOT DISTINCT FROM $2
"""

# the wall clock, not the transaction's start: an orphaned object's age is compared with it
CLOCK = "SELECT clock_timestamp()"

IS_HOLDER = """
    SELECT EXISTS (SELECT 1 FROM document_holders WHERE tender_id = $1 AND organization_id = $2)
"""

ADD_HOLDER = """
    INSERT INTO document_holders (tender_id, organization_id, first_user_id)
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
"""

HOLDER_SINCE = """
    SELECT obtained_at FROM document_holders WHERE tender_id = $1 AND organization_id = $2
"""

ADD_DOWNLOAD = """
    INSERT INTO document_downloads (document_id, tender_id, organization_id, user_id, client_ip)
    VALUES ($1, $2, $3, $4, $5)
"""

HOLDERS = """
    SELECT h.organization_id, o.name, o.credit_code, h.obtained_at,
           (SELECT count(*) FROM document_downloads d
            WHERE d.tender_id = h.tender_id AND d.organization_id = h.organization_id) AS downloads
    FROM document_holders h JOIN organizations o ON o.id = h.organization_id
    WHERE h.tender_id = $1 ORDER BY h.obtained_at
"""

# the people of the holders' organizations who bid: the ones a clarification reaches
HOLDER_USERS = """
    SELECT u.id AS user_id, u.organization_id
    FROM document_holders h
    JOIN users u ON u.organization_id = h.organization_id AND u.is_active
    JOIN user_roles r ON r.user_id = u.id AND r.role = 'bidder'
    WHERE h.tender_id = $1 AND ($2::uuid IS NULL OR h.organization_id = $2)
"""
