"""Failed attempts to open a bid, kept: the opening hall shows each bidder's progress.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- A refused opening (wrong key, signature, price sheet...) with its code;
    -- S6 tells a bidder's own failure from the platform's by these.
    CREATE TABLE bid_open_attempts (
        id bigserial PRIMARY KEY,
        bid_id uuid NOT NULL REFERENCES bids(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        user_id uuid REFERENCES users(id),
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        code text NOT NULL CHECK (code ~ '^[a-z_]{1,60}$')
    );
    CREATE INDEX bid_open_attempts_bid_idx ON bid_open_attempts (bid_id);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE bid_open_attempts;")
