"""Keyword search on the public list: trigram indexes on tender title and code.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from core.migrate import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- The keyword is a substring (ILIKE '%kw%'), which no b-tree can serve: without these
    -- the count behind every search reads the whole table. A trigram index answers the
    -- same ILIKE, wildcards in the keyword included, and works for Chinese titles too.
    -- pg_trgm ships with PostgreSQL and is a trusted extension (the database owner may
    -- create it).
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX tenders_public_title_trgm_idx ON tenders USING gin (title gin_trgm_ops)
        WHERE status <> 'draft';
    CREATE INDEX tenders_public_code_trgm_idx ON tenders USING gin (code gin_trgm_ops)
        WHERE status <> 'draft';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX tenders_public_code_trgm_idx;
    DROP INDEX tenders_public_title_trgm_idx;
    -- without CASCADE: if anything else has come to use the extension, this refuses
    DROP EXTENSION IF EXISTS pg_trgm;
    """)
