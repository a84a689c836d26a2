"""Guarantees (投标保证保险, 电子保函): a bidder's application to an issuer for one lot, and
its life cycle (G2) as the issuer's messages move it.

A guarantee names, as G1 asks, the issuer, the bidder and the beneficiary (the tenderer) by
credit code, the tender and lot, the amount and the end of validity; the premium is the one
quoted at the application. One live guarantee per bidder and lot: a rejected or surrendered
one leaves room for another. Before the bid deadline only the bidder and its issuer may
know an application exists (docs/issuer-api.md, "Confidentiality").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from core.migrate import execute_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE guarantees (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        bidder_org_id uuid NOT NULL REFERENCES organizations(id),
        applied_by uuid NOT NULL REFERENCES users(id),
        issuer_id uuid NOT NULL REFERENCES issuers(organization_id),
        product_id uuid NOT NULL REFERENCES issuer_products(id),
        form text NOT NULL CHECK (form IN ('guarantee_insurance', 'bank_guarantee', 'e_guarantee')),
        bidder_code char(18) NOT NULL,
        beneficiary_code char(18) NOT NULL,
        amount numeric(18, 2) NOT NULL CHECK (amount > 0),
        premium numeric(18, 2) NOT NULL CHECK (premium >= 0),
        valid_until timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'applied' CHECK (status IN (
            'applied', 'accepted', 'rejected', 'paid', 'issued', 'surrendered', 'released',
            'claimed')),
        status_reason text,
        application_message uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- one live guarantee per bidder and lot
    CREATE UNIQUE INDEX guarantees_one_live_idx ON guarantees (lot_id, bidder_org_id)
        WHERE status NOT IN ('rejected', 'surrendered', 'released');
    CREATE INDEX guarantees_issuer_idx ON guarantees (issuer_id, status);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE guarantees;")
