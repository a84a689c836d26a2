"""Unfinished bid uploads expire once their tender's deadline has passed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- An upload never finalized before the deadline can never be: the
    -- chronograph marks it expired (the row stays, with the addresses it came
    -- from) and a job drops its parts from the object store.
    ALTER TABLE bid_uploads DROP CONSTRAINT bid_uploads_status_check,
        ADD CONSTRAINT bid_uploads_status_check
            CHECK (status IN ('open', 'finalized', 'expired')),
        ADD COLUMN expired_at timestamptz,
        ADD CONSTRAINT bid_uploads_expired_at
            CHECK ((status = 'expired') = (expired_at IS NOT NULL));
    CREATE INDEX bid_uploads_open_idx ON bid_uploads (tender_id) WHERE status = 'open';
    """)


def downgrade() -> None:
    execute_script("""
    -- refuses while an expired upload exists: its state has no name before this revision
    DROP INDEX bid_uploads_open_idx;
    ALTER TABLE bid_uploads DROP CONSTRAINT bid_uploads_expired_at,
        DROP COLUMN expired_at,
        DROP CONSTRAINT bid_uploads_status_check,
        ADD CONSTRAINT bid_uploads_status_check CHECK (status IN ('open', 'finalized'));
    """)
