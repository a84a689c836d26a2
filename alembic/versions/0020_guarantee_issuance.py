"""What an issuer's messages add to a guarantee: its review, payment and issuance (G2), the
guarantee number and verification code (G7) anyone can check it with, the issuer's PDF,
and the platform's verification of the issued terms (each failure by its code).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE guarantees
        ADD COLUMN reviewed_at timestamptz,
        ADD COLUMN paid_at timestamptz,
        ADD COLUMN issued_at timestamptz,
        ADD COLUMN number text CHECK (number IS NULL OR length(btrim(number)) BETWEEN 4 AND 64),
        ADD COLUMN verification_code text
            CHECK (verification_code IS NULL OR length(btrim(verification_code)) BETWEEN 4 AND 64),
        -- the issuance message: the issuer-signed terms
        ADD COLUMN issued_message uuid,
        ADD COLUMN pdf bytea CHECK (pdf IS NULL OR length(pdf) <= 4194304),
        -- the platform's checks of the issued terms: [] when every one passed
        ADD COLUMN problems text[],
        ADD CONSTRAINT guarantees_issued_whole CHECK (
            issued_at IS NULL OR (number IS NOT NULL AND verification_code IS NOT NULL
                                  AND issued_message IS NOT NULL AND problems IS NOT NULL)),
        ADD CONSTRAINT guarantees_issued_when CHECK (status <> 'issued' OR issued_at IS NOT NULL);
    CREATE UNIQUE INDEX guarantees_number_idx ON guarantees (issuer_id, number)
        WHERE number IS NOT NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX guarantees_number_idx;
    ALTER TABLE guarantees DROP CONSTRAINT guarantees_issued_whole,
        DROP CONSTRAINT guarantees_issued_when,
        DROP COLUMN reviewed_at, DROP COLUMN paid_at, DROP COLUMN issued_at, DROP COLUMN number,
        DROP COLUMN verification_code, DROP COLUMN issued_message, DROP COLUMN pdf,
        DROP COLUMN problems;
    """)
