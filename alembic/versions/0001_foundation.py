"""Foundation: identity and roles, sessions, API keys, audit chain, outbox, calendar, tenders.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE organizations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        credit_code char(18) NOT NULL,
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
        kind text NOT NULL CHECK (kind IN (
            'platform', 'trading_centre', 'tenderer', 'agency', 'bidder',
            'insurer', 'bank', 'supervision', 'expert_affiliation')),
        region text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT organizations_credit_code_key UNIQUE (credit_code),
        CONSTRAINT organizations_credit_code_format
            CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$')
    );

    CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        login text NOT NULL,
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
        organization_id uuid REFERENCES organizations(id),
        city text NOT NULL DEFAULT '',
        email text,
        phone text,
        password_hash text,
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT users_login_key UNIQUE (login),
        CONSTRAINT users_login_format CHECK (login ~ '^[a-z0-9][a-z0-9._-]{2,63}$')
    );
    CREATE INDEX users_organization_idx ON users (organization_id);

    CREATE TABLE user_roles (
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN (
            'admin', 'tenderer', 'agency', 'bidder', 'expert',
            'site_operator', 'supervisor', 'insurer')),
        granted_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role)
    );

    CREATE TABLE sessions (
        id bigserial PRIMARY KEY,
        token_digest bytea NOT NULL UNIQUE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        client_ip inet,
        user_agent text NOT NULL DEFAULT '',
        CHECK (expires_at > created_at)
    );
    CREATE INDEX sessions_user_idx ON sessions (user_id);

    CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        prefix text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{12}$'),
        secret_digest bytea NOT NULL,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
    );

    -- Audit log: an append-only hash chain. Each row's hash covers the previous
    -- row's hash, so a changed or removed row breaks every link after it.
    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor_id uuid,
        actor_role text,
        action text NOT NULL CHECK (action ~ '^[a-z_]+(\\.[a-z_]+)+$'),
        object_type text NOT NULL,
        object_id text NOT NULL,
        client_ip inet,
        request_id text,
        payload_digest bytea NOT NULL CHECK (length(payload_digest) = 32),
        prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32)
    );
    CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id);

    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

    -- Outbox: jobs written in the same transaction as the change that needs
    -- them, relayed to Redis after commit. job_key is the idempotent arq job id.
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        job_key text NOT NULL UNIQUE,
        function text NOT NULL,
        args jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        available_at timestamptz NOT NULL DEFAULT now(),
        relayed_at timestamptz,
        relay_count integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        done_at timestamptz,
        run_count integer NOT NULL DEFAULT 0,
        last_error text
    );
    CREATE INDEX outbox_pending_idx ON outbox (available_at) WHERE relayed_at IS NULL;

    CREATE TABLE notifications (
        id bigserial PRIMARY KEY,
        outbox_id bigint UNIQUE REFERENCES outbox(id),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        subject text NOT NULL,
        subject_en text NOT NULL,
        body text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        read_at timestamptz
    );
    CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

    -- Working-day calendar (rule A8): only the exceptions are stored; a
    -- weekday is a working day and a weekend day is not, unless listed here.
    CREATE TABLE calendar_days (
        day date PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
        name text NOT NULL DEFAULT '',
        updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE tenders (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        code text NOT NULL CHECK (code ~ '^[A-Za-z0-9-]{4,40}$'),
        title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        region text NOT NULL DEFAULT '',
        procedure text NOT NULL DEFAULT 'open' CHECK (procedure IN (
            'open', 'invited', 'gp_open', 'gp_invited', 'gp_competitive_negotiation',
            'gp_competitive_consultation', 'gp_single_source', 'gp_inquiry')),
        status text NOT NULL DEFAULT 'draft' CHECK (status IN (
            'draft', 'published', 'bidding_closed', 'opened', 'evaluating',
            'awarded', 'failed', 'cancelled')),
        owner_org_id uuid NOT NULL REFERENCES organizations(id),
        agency_org_id uuid REFERENCES organizations(id),
        budget numeric(18, 2) CHECK (budget IS NULL OR budget > 0),
        published_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT tenders_code_key UNIQUE (code),
        CONSTRAINT tenders_published_has_time CHECK (status = 'draft' OR published_at IS NOT NULL)
    );
    CREATE INDEX tenders_public_idx ON tenders (published_at DESC, id) WHERE status <> 'draft';
    CREATE INDEX tenders_owner_idx ON tenders (owner_org_id);
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE tenders;
    DROP TABLE calendar_days;
    DROP TABLE notifications;
    DROP TABLE outbox;
    DROP TABLE audit_log;
    DROP FUNCTION audit_log_refuse_change();
    DROP TABLE api_keys;
    DROP TABLE sessions;
    DROP TABLE user_roles;
    DROP TABLE users;
    DROP TABLE organizations;
    """)
