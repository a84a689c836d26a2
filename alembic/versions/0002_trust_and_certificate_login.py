"""Trust store of CAs, certificates bound to people, certificate-login challenges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- CAs the platform accepts (mutual recognition): roots and intermediates,
    -- each with its revocation source and the last CRL fetched from it.
    CREATE TABLE trust_cas (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
        cert_der bytea NOT NULL,
        cert_sha256 bytea NOT NULL UNIQUE CHECK (length(cert_sha256) = 32),
        subject text NOT NULL,
        is_root boolean NOT NULL,
        revocation_mode text NOT NULL DEFAULT 'hard-fail'
            CHECK (revocation_mode IN ('hard-fail', 'soft-fail', 'require')),
        crl_url text,
        ocsp_url text,
        crl_der bytea,
        crl_fetched_at timestamptz,
        crl_next_update timestamptz,
        crl_error text,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now()
    );

    -- A person's certificates (signing, encryption, login), bound by an
    -- administrator or by the person while signed in.
    CREATE TABLE user_certificates (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        cert_der bytea NOT NULL,
        cert_sha256 bytea NOT NULL CHECK (length(cert_sha256) = 32),
        purpose text NOT NULL CHECK (purpose IN ('signing', 'encryption', 'login')),
        subject text NOT NULL,
        credit_code char(18),
        not_after timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT user_certificates_cert_purpose_key UNIQUE (cert_sha256, purpose)
    );
    CREATE INDEX user_certificates_user_idx ON user_certificates (user_id);

    -- One-time challenges for certificate login.
    CREATE TABLE login_challenges (
        nonce_digest bytea PRIMARY KEY CHECK (length(nonce_digest) = 32),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    );
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE login_challenges;
    DROP TABLE user_certificates;
    DROP TABLE trust_cas;
    """)
