"""An answer to an objection is a signed document, like the notice and its clarifications.

The agency (or the tenderer) signs the exact bytes of the answer (canonical JSON naming
the tender, the objection and a digest of its text) with its organization's signing
certificate; the platform keeps those bytes, the detached CMS signature, its signer and
the certificate's digest, so the objector and a supervisor can check the answer offline.
Answers given before this revision were not signed: the constraint is NOT VALID, so it
binds every answer from now on and leaves those rows as they were.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE objections
        ADD COLUMN answer_signed bytea,
        ADD COLUMN answer_signature bytea,
        ADD COLUMN answer_signer text,
        ADD COLUMN answer_cert_sha256 bytea
            CHECK (answer_cert_sha256 IS NULL OR length(answer_cert_sha256) = 32);
    ALTER TABLE objections ADD CONSTRAINT objections_answer_signed CHECK (
        answered_at IS NULL OR (answer_signed IS NOT NULL AND answer_signature IS NOT NULL
                                AND answer_signer IS NOT NULL
                                AND answer_cert_sha256 IS NOT NULL)) NOT VALID;
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE objections DROP CONSTRAINT objections_answer_signed;
    ALTER TABLE objections DROP COLUMN answer_signed, DROP COLUMN answer_signature,
        DROP COLUMN answer_signer, DROP COLUMN answer_cert_sha256;
    """)
