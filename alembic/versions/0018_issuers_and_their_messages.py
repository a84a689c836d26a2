"""Guarantee issuers (insurers and banks), their products, and every signed message
exchanged with them (docs/issuer-api.md).

An issuer is an organization of kind insurer or bank that the trading centre has enabled;
its people (role insurer) carry its API keys and its bound signing and encryption
certificates (user_certificates), which is how a message's signer is recognised. Products
say what a bidder is offered and at what premium. Every message, in or out, is kept with
the exact bytes its signature covers (RFC 8785 canonical JSON) and the signature, so a
supervisor can check any of them with openssl; a message id is unique per sender and
direction, which is what refuses a replay (or answers it as before).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE issuers (
        organization_id uuid PRIMARY KEY REFERENCES organizations(id),
        kind text NOT NULL CHECK (kind IN ('insurer', 'bank')),
        status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'suspended')),
        -- where the platform delivers its messages (the issuer's gateway)
        gateway_url text NOT NULL CHECK (gateway_url ~ '^https?://[^\\s]+$'),
        status_reason text CHECK (status_reason IS NULL OR length(btrim(status_reason)) BETWEEN 2 AND 500),
        status_changed_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT issuers_suspension_reason CHECK (status = 'enabled' OR status_reason IS NOT NULL)
    );

    CREATE TABLE issuer_products (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        issuer_id uuid NOT NULL REFERENCES issuers(organization_id),
        form text NOT NULL CHECK (form IN ('guarantee_insurance', 'bank_guarantee', 'e_guarantee')),
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 2 AND 200),
        -- premium = max(amount x rate, minimum), to the cent
        premium_rate numeric(8, 6) NOT NULL CHECK (premium_rate > 0 AND premium_rate < 0.1),
        minimum_premium numeric(18, 2) NOT NULL DEFAULT 0 CHECK (minimum_premium >= 0),
        maximum_amount numeric(18, 2) CHECK (maximum_amount IS NULL OR maximum_amount > 0),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT issuer_products_name_key UNIQUE (issuer_id, name)
    );

    CREATE TABLE issuer_messages (
        id bigserial PRIMARY KEY,
        direction text NOT NULL CHECK (direction IN ('in', 'out')),
        issuer_id uuid NOT NULL REFERENCES issuers(organization_id),
        message_id uuid NOT NULL,
        type text NOT NULL CHECK (type ~ '^[a-z_]+(\\.[a-z_]+)+$'),
        in_reply_to uuid,
        sent_at timestamptz NOT NULL,
        -- the RFC 8785 bytes the signature covers, and the detached CMS signature (DER)
        canonical bytea NOT NULL,
        signature bytea NOT NULL,
        signer text NOT NULL,
        -- for an inbound message: the platform's signed answer, given again to a replay
        answer_canonical bytea,
        answer_signature bytea,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT issuer_messages_once UNIQUE (direction, issuer_id, message_id),
        CONSTRAINT issuer_messages_answer_whole CHECK (
            (answer_canonical IS NULL) = (answer_signature IS NULL))
    );
    CREATE INDEX issuer_messages_reply_idx ON issuer_messages (in_reply_to)
        WHERE in_reply_to IS NOT NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE issuer_messages;
    DROP TABLE issuer_products;
    DROP TABLE issuers;
    """)
