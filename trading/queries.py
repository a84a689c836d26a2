"""SQL for tenders."""

TENDER_COLUMNS = """t.id, t.code, t.title, t.region, t.procedure, t.status, t.owner_org_id,
    t.agency_org_id, t.budget, t.published_at, t.created_at, o.name AS owner_name"""

INSERT_TENDER = """
    INSERT INTO tenders (code, title, region, procedure, owner_org_id, agency_org_id, budget)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
"""

GET_TENDER = f"""
    SELECT {TENDER_COLUMNS} FROM tenders t JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.id = $1
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
    UPDATE tenders SET status = 'published', published_at = now()
    WHERE id = $1 AND status = 'draft' RETURNING id
"""
