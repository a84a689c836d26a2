"""Objections whose answer is late (T4): flagged once, for the staff in charge and supervisors.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from core.migrate import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- Set by the chronograph when the 3-day answer period has passed with no
    -- answer; the flag is what makes the alert happen once.
    ALTER TABLE objections ADD COLUMN overdue_flagged_at timestamptz,
        ADD CONSTRAINT objections_flagged_when_due CHECK (
            overdue_flagged_at IS NULL OR overdue_flagged_at >= answer_due_at);
    -- the chronograph's scan: open, not yet flagged, by due moment
    CREATE INDEX objections_overdue_idx ON objections (answer_due_at)
        WHERE answered_at IS NULL AND overdue_flagged_at IS NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX objections_overdue_idx;
    ALTER TABLE objections DROP CONSTRAINT objections_flagged_when_due,
        DROP COLUMN overdue_flagged_at;
    """)
