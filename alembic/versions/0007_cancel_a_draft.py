"""A draft may be cancelled: it never had a publication time and never becomes public.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE tenders DROP CONSTRAINT tenders_published_has_time,
        ADD CONSTRAINT tenders_published_has_time
            CHECK (status IN ('draft', 'cancelled') OR published_at IS NOT NULL);
    """)


def downgrade() -> None:
    execute_script("""
    -- refuses while a cancelled draft exists: it has no publication time to give
    ALTER TABLE tenders DROP CONSTRAINT tenders_published_has_time,
        ADD CONSTRAINT tenders_published_has_time CHECK (status = 'draft' OR published_at IS NOT NULL);
    """)
