"""The opening of each lot: its state, bids that were never opened, officers' shares, the
hall's event log.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- One row per lot once its deadline has passed. The bid count is the valid
    -- submissions at the deadline (S5): with fewer than required the lot fails
    -- (流标) and nothing is decrypted. Otherwise bidders decrypt within the
    -- window (S6); bids left closed then count as withdrawn or wait for the
    -- officers' shares, by the rule as it stood at the deadline. 'read' means
    -- every bid is opened or decided.
    CREATE TABLE lot_openings (
        lot_id uuid PRIMARY KEY REFERENCES lots(id),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        status text NOT NULL CHECK (status IN ('decrypting', 'officers', 'read', 'failed')),
        bids_at_deadline integer NOT NULL CHECK (bids_at_deadline >= 0),
        required_bids integer NOT NULL CHECK (required_bids >= 1),
        decrypt_failure text NOT NULL CHECK (decrypt_failure IN ('withdrawn', 'officers')),
        window_closes_at timestamptz NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        read_at timestamptz,
        failed_reason text CHECK (failed_reason IN ('too_few_bids')),
        CONSTRAINT lot_openings_failed CHECK ((status = 'failed') = (failed_reason IS NOT NULL)),
        CONSTRAINT lot_openings_too_few CHECK (
            failed_reason IS NULL OR bids_at_deadline < required_bids),
        CONSTRAINT lot_openings_read_at CHECK ((status = 'read') = (read_at IS NOT NULL))
    );
    CREATE INDEX lot_openings_tender_idx ON lot_openings (tender_id);

    -- A bid nobody could open: whose fault decides its security (S6). Never changed.
    CREATE TABLE bid_opening_failures (
        bid_id uuid PRIMARY KEY REFERENCES bids(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        fault text NOT NULL CHECK (fault IN ('bidder', 'platform')),
        last_code text,
        decided_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TRIGGER bid_opening_failures_immutable BEFORE UPDATE OR DELETE
        ON bid_opening_failures FOR EACH ROW EXECUTE FUNCTION bid_openings_refuse_change();

    -- An officer's share, once unsealed and handed over after the deadline,
    -- waits here sealed under the platform's key until k are in; it is wiped
    -- when the bids are opened. Before the deadline nothing can be handed over.
    ALTER TABLE lot_opening_shares ADD COLUMN held bytea,
        ADD COLUMN used_at timestamptz,
        ADD CONSTRAINT lot_opening_shares_held CHECK (held IS NULL OR submitted_at IS NOT NULL);

    -- What the hall showed, in order per lot: a client resuming with
    -- Last-Event-ID gets what it missed from here.
    CREATE TABLE hall_events (
        lot_id uuid NOT NULL REFERENCES lots(id),
        seq bigint NOT NULL CHECK (seq >= 1),
        kind text NOT NULL CHECK (kind ~ '^[a-z_.]{1,60}$'),
        payload jsonb NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT hall_events_pkey PRIMARY KEY (lot_id, seq)
    );

    -- Who signed in to a lot's hall (a bidder's staff, the host, a supervisor).
    CREATE TABLE hall_signins (
        lot_id uuid NOT NULL REFERENCES lots(id),
        user_id uuid NOT NULL REFERENCES users(id),
        organization_id uuid REFERENCES organizations(id),
        role text NOT NULL CHECK (role IN ('bidder', 'host', 'supervisor', 'officer')),
        certificate_subject text,
        ip inet,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT hall_signins_pkey PRIMARY KEY (lot_id, user_id)
    );
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE hall_signins;
    DROP TABLE hall_events;
    ALTER TABLE lot_opening_shares DROP CONSTRAINT lot_opening_shares_held,
        DROP COLUMN used_at, DROP COLUMN held;
    DROP TABLE bid_opening_failures;
    DROP TABLE lot_openings;
    """)
