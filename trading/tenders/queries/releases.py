"""SQL for the tenders' OCDS releases: the snapshot each change keeps, and the releases."""

SNAPSHOT_TENDER = """
    SELECT t.id, t.code, t.title, t.status, t.procedure, t.sector, t.budget, t.ceiling_price,
           t.owner_org_id, t.agency_org_id, t.documents_from, t.documents_until,
           t.clarification_deadline, t.bid_deadline, t.bid_validity_days, t.evaluation_method,
           t.security_forms, t.published_at, t.cancel_reason, t.cancelled_at
    FROM tenders t WHERE t.id = $1
"""

SNAPSHOT_LOTS = "SELECT id, number, title, budget FROM lots WHERE tender_id = $1 ORDER BY number"

# the published documents (each linked to the public announcement page) and notices
SNAPSHOT_DOCUMENTS = """
    SELECT d.id, d.name, encode(d.sha256, 'hex') AS sha256, d.size, d.content_type,
           '/tenders/' || d.tender_id || '#document-' || d.id AS url,
           coalesce(n.published_at, t.published_at) AS published_at,
           CASE WHEN d.notice_id IS NULL THEN 'tender_document' ELSE 'clarification' END AS kind
    FROM tender_documents d JOIN tenders t ON t.id = d.tender_id
    LEFT JOIN notices n ON n.id = d.notice_id
    WHERE d.tender_id = $1 AND d.frozen
    UNION ALL
    SELECT n.id, n.title, encode(n.content_sha256, 'hex'), length(n.content), 'application/json',
           '/api/tenders/' || n.tender_id || '/notices/' || n.number || '/content',
           n.published_at, CASE WHEN n.number = 0 THEN 'announcement' ELSE 'clarification' END
    FROM notices n WHERE n.tender_id = $1 AND n.status = 'published'
    ORDER BY published_at, name
"""

SNAPSHOT_PARTIES = """
    SELECT o.id, o.name, o.credit_code, o.kind, o.region FROM organizations o
    WHERE o.id IN (SELECT owner_org_id FROM tenders WHERE id = $1
                   UNION SELECT agency_org_id FROM tenders WHERE id = $1)
"""

SNAPSHOT_AMENDMENTS = """
    SELECT id, published_at AS date, title AS rationale, left(body, 1000) AS description,
           old_bid_deadline, new_bid_deadline
    FROM notices WHERE tender_id = $1 AND kind = 'clarification' AND status = 'published'
    ORDER BY number
"""

# the release id: the tender's id and the release's number among the tender's, from 0001
INSERT_RELEASE = """
    INSERT INTO ocds_releases (id, tender_id, tag, date, release)
    VALUES ($1 || '-' || lpad((SELECT count(*) + 1 FROM ocds_releases WHERE tender_id = $2)::text,
                              4, '0'), $2, $3, $4, $5)
"""

RELEASES = "SELECT id, tag, date, release FROM ocds_releases WHERE tender_id = $1 ORDER BY seq"
