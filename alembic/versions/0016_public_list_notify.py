"""Tell listening API processes when what the public tender list shows has changed.

Each API process keeps the public list's answers in memory (core/readcache.py)
and empties them when this channel speaks. A statement that changes tenders,
or an organization's name (the list shows the tenderer's name), notifies once
per transaction at commit; a rolled-back change says nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE FUNCTION public_tenders_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('public_tenders', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER tenders_public_changed
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenders
        FOR EACH STATEMENT EXECUTE FUNCTION public_tenders_changed();
    CREATE TRIGGER organizations_public_changed
        AFTER UPDATE OF name ON organizations
        FOR EACH STATEMENT EXECUTE FUNCTION public_tenders_changed();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER organizations_public_changed ON organizations;
    DROP TRIGGER tenders_public_changed ON tenders;
    DROP FUNCTION public_tenders_changed();
    """)
