"""Opened bids: what a bid held once decrypted at the opening (S4, S6).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- One row per bid opened after the deadline: by its bidder with the content
    -- key it unwrapped at its own office, or by the opening officers' shares.
    -- The price sheet is what the opening reads out (唱标). Never changed.
    CREATE TABLE bid_openings (
        bid_id uuid PRIMARY KEY REFERENCES bids(id),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        opened_by text NOT NULL CHECK (opened_by IN ('bidder', 'officers')),
        user_id uuid REFERENCES users(id),
        opened_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        inner_signer text NOT NULL,
        inner_signer_sha256 bytea NOT NULL CHECK (length(inner_signer_sha256) = 32),
        total_price numeric(18, 2) NOT NULL CHECK (total_price > 0),
        price_sheet jsonb NOT NULL,
        files text[] NOT NULL
    );
    CREATE INDEX bid_openings_lot_idx ON bid_openings (lot_id);
    CREATE FUNCTION bid_openings_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'an opened bid is never changed' USING
            ERRCODE = 'check_violation', CONSTRAINT = 'bid_openings_immutable';
    END $$;
    CREATE TRIGGER bid_openings_immutable BEFORE UPDATE OR DELETE ON bid_openings
        FOR EACH ROW EXECUTE FUNCTION bid_openings_refuse_change();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE bid_openings;
    DROP FUNCTION bid_openings_refuse_change();
    """)
