"""The opening record (开标记录表) and what follows the reading: confirmations and objections.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- S7: once the prices are read, bidders confirm the record or object within
    -- this many minutes; the host answers on the spot.
    ALTER TABLE tenders ADD COLUMN objection_minutes integer NOT NULL DEFAULT 30
        CHECK (objection_minutes BETWEEN 5 AND 240);

    -- A read lot waits for confirmations and objections until confirm_until;
    -- it is closed (ready for evaluation) once that has passed with every
    -- objection answered.
    ALTER TABLE lot_openings DROP CONSTRAINT lot_openings_status_check,
        ADD CONSTRAINT lot_openings_status_check
            CHECK (status IN ('decrypting', 'officers', 'read', 'closed', 'failed')),
        DROP CONSTRAINT lot_openings_read_at,
        ADD CONSTRAINT lot_openings_read_at
            CHECK ((status IN ('read', 'closed')) = (read_at IS NOT NULL)),
        ADD COLUMN confirm_until timestamptz,
        ADD COLUMN closed_at timestamptz,
        ADD CONSTRAINT lot_openings_confirm_until
            CHECK ((read_at IS NULL) = (confirm_until IS NULL)),
        ADD CONSTRAINT lot_openings_closed_at CHECK ((status = 'closed') = (closed_at IS NOT NULL));

    -- Each issue of a lot's opening record: PAdES-signed PDF in the object
    -- store, its SHA-256 here and in the audit log. A new issue follows each
    -- objection and answer; none is ever changed.
    CREATE TABLE opening_records (
        lot_id uuid NOT NULL REFERENCES lots(id),
        version integer NOT NULL CHECK (version >= 1),
        object_key text NOT NULL,
        sha256 bytea NOT NULL CHECK (length(sha256) = 32),
        size bigint NOT NULL CHECK (size > 0),
        as_of_event bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT opening_records_pkey PRIMARY KEY (lot_id, version),
        CONSTRAINT opening_records_as_of_key UNIQUE (lot_id, as_of_event)
    );
    CREATE TRIGGER opening_records_immutable BEFORE UPDATE OR DELETE ON opening_records
        FOR EACH ROW EXECUTE FUNCTION bid_openings_refuse_change();

    -- A bidder's word on the record: it confirms, or it objects (once each;
    -- an objection is answered by the host, and the answer never changes).
    CREATE TABLE opening_confirmations (
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        user_id uuid NOT NULL REFERENCES users(id),
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT opening_confirmations_pkey PRIMARY KEY (lot_id, organization_id)
    );
    CREATE TABLE opening_objections (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        raised_by uuid NOT NULL REFERENCES users(id),
        text text NOT NULL CHECK (length(btrim(text)) BETWEEN 1 AND 2000),
        raised_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        answer text CHECK (answer IS NULL OR length(btrim(answer)) BETWEEN 1 AND 2000),
        answered_by uuid REFERENCES users(id),
        answered_at timestamptz,
        CONSTRAINT opening_objections_answered CHECK (
            (answer IS NULL) = (answered_by IS NULL) AND (answer IS NULL) = (answered_at IS NULL))
    );
    CREATE INDEX opening_objections_lot_idx ON opening_objections (lot_id);
    CREATE FUNCTION opening_objections_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.answer IS NULL AND NEW.answer IS NOT NULL
           AND (NEW.lot_id, NEW.organization_id, NEW.raised_by, NEW.text, NEW.raised_at)
               IS NOT DISTINCT FROM
               (OLD.lot_id, OLD.organization_id, OLD.raised_by, OLD.text, OLD.raised_at) THEN
            RETURN NEW;  -- the one change: its answer
        END IF;
        RAISE EXCEPTION 'an objection and its answer are never changed' USING
            ERRCODE = 'check_violation', CONSTRAINT = 'opening_objections_immutable';
    END $$;
    CREATE TRIGGER opening_objections_immutable BEFORE UPDATE OR DELETE ON opening_objections
        FOR EACH ROW EXECUTE FUNCTION opening_objections_refuse_change();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE opening_objections;
    DROP FUNCTION opening_objections_refuse_change();
    DROP TABLE opening_confirmations;
    DROP TABLE opening_records;
    ALTER TABLE lot_openings DROP CONSTRAINT lot_openings_closed_at,
        DROP CONSTRAINT lot_openings_confirm_until, DROP COLUMN closed_at,
        DROP COLUMN confirm_until, DROP CONSTRAINT lot_openings_read_at,
        DROP CONSTRAINT lot_openings_status_check;
    UPDATE lot_openings SET status = 'read' WHERE status = 'closed';
    ALTER TABLE lot_openings
        ADD CONSTRAINT lot_openings_status_check
            CHECK (status IN ('decrypting', 'officers', 'read', 'failed')),
        ADD CONSTRAINT lot_openings_read_at CHECK ((status = 'read') = (read_at IS NOT NULL));
    ALTER TABLE tenders DROP COLUMN objection_minutes;
    """)
