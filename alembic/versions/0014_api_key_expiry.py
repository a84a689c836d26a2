"""API keys expire: each key has an expiry set at creation, within a maximum.

Keys made before this revision had none; they get 90 days from the upgrade,
so no client stops at the moment of the upgrade and none lives for ever.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
    UPDATE api_keys SET expires_at = now() + interval '90 days';
    ALTER TABLE api_keys ALTER COLUMN expires_at SET NOT NULL,
        ADD CONSTRAINT api_keys_expiry_order CHECK (expires_at > created_at);
    CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX api_keys_user_idx;
    ALTER TABLE api_keys DROP COLUMN expires_at;
    """)
