"""Publication: signed documents and notices, opening officers and key shares, holders,
clarifications with read receipts, objections, OCDS releases, events for guarantee issuers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- the public list pages through the index in its own order, filtered by region too
    DROP INDEX tenders_public_idx;
    CREATE INDEX tenders_public_idx ON tenders (published_at DESC, id DESC)
        WHERE status <> 'draft';
    CREATE INDEX tenders_public_region_idx ON tenders (region, published_at DESC, id DESC)
        WHERE status <> 'draft';

    -- Notices (公告): number 0 is the tender notice, 1.. the clarifications and
    -- amendments. What was signed is kept byte for byte with its CMS signature.
    CREATE TABLE notices (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        number integer NOT NULL CHECK (number >= 0),
        kind text NOT NULL CHECK (kind IN ('tender', 'clarification')),
        status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
        title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        body text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
        requested_bid_deadline timestamptz,
        content bytea,
        content_sha256 bytea CHECK (length(content_sha256) = 32),
        signature bytea,
        signer_subject text,
        signer_cert_sha256 bytea,
        old_bid_deadline timestamptz,
        new_bid_deadline timestamptz,
        pdf_key text,
        pdf_sha256 bytea,
        created_by uuid REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        CONSTRAINT notices_tender_number_key UNIQUE (tender_id, number),
        CONSTRAINT notices_number_kind CHECK ((kind = 'tender') = (number = 0)),
        CONSTRAINT notices_published_is_signed CHECK (status = 'draft' OR (
            content IS NOT NULL AND signature IS NOT NULL AND published_at IS NOT NULL))
    );
    -- one draft clarification at a time per tender keeps the numbering simple
    CREATE UNIQUE INDEX notices_one_draft_idx ON notices (tender_id) WHERE status = 'draft';

    -- Tender documents and clarification attachments: the file in object
    -- storage, its SHA-256 and the agency's detached CMS signature over it.
    CREATE TABLE tender_documents (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        notice_id uuid REFERENCES notices(id),
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200
                                  AND name !~ '[/\\\\\\x00-\\x1f]'),
        content_type text NOT NULL,
        size bigint NOT NULL CHECK (size > 0),
        sha256 bytea NOT NULL CHECK (length(sha256) = 32),
        object_key text NOT NULL UNIQUE,
        signature bytea NOT NULL,
        signer_subject text NOT NULL,
        signer_cert_sha256 bytea NOT NULL,
        frozen boolean NOT NULL DEFAULT false,
        uploaded_by uuid REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT tender_documents_name_key UNIQUE NULLS NOT DISTINCT (tender_id, notice_id, name)
    );
    CREATE INDEX tender_documents_tender_idx ON tender_documents (tender_id);

    -- Once published, a document is part of the record: no change, no removal.
    CREATE FUNCTION tender_documents_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.frozen AND (TG_OP = 'DELETE' OR NEW.sha256 <> OLD.sha256
                           OR NEW.object_key <> OLD.object_key OR NOT NEW.frozen) THEN
            RAISE EXCEPTION 'published tender documents are immutable'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END $$;
    CREATE TRIGGER tender_documents_frozen BEFORE UPDATE OR DELETE ON tender_documents
        FOR EACH ROW EXECUTE FUNCTION tender_documents_refuse_change();

    -- Opening officers (k of n hold shares of each lot's opening key).
    CREATE TABLE tender_officers (
        tender_id uuid NOT NULL REFERENCES tenders(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        position smallint NOT NULL CHECK (position BETWEEN 1 AND 15),
        CONSTRAINT tender_officers_pkey PRIMARY KEY (tender_id, user_id),
        CONSTRAINT tender_officers_position_key UNIQUE (tender_id, position)
    );

    CREATE TABLE lot_opening_shares (
        lot_id uuid NOT NULL REFERENCES lots(id) ON DELETE CASCADE,
        share_index smallint NOT NULL,
        officer_id uuid NOT NULL REFERENCES users(id),
        officer_cert_sha256 bytea NOT NULL,
        envelope bytea NOT NULL,
        submitted_at timestamptz,
        CONSTRAINT lot_opening_shares_pkey PRIMARY KEY (lot_id, share_index),
        CONSTRAINT lot_opening_shares_officer_key UNIQUE (lot_id, officer_id)
    );

    -- Holders of the documents (T2, T3): an organization becomes one at its
    -- first download; every download is kept.
    CREATE TABLE document_holders (
        tender_id uuid NOT NULL REFERENCES tenders(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        first_user_id uuid NOT NULL REFERENCES users(id),
        obtained_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT document_holders_pkey PRIMARY KEY (tender_id, organization_id)
    );

    CREATE TABLE document_downloads (
        id bigserial PRIMARY KEY,
        document_id uuid NOT NULL REFERENCES tender_documents(id),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        user_id uuid NOT NULL REFERENCES users(id),
        at timestamptz NOT NULL DEFAULT now(),
        client_ip inet
    );
    CREATE INDEX document_downloads_tender_idx ON document_downloads (tender_id, organization_id);

    -- A notification may concern something (a clarification): its read_at is
    -- the read receipt the agency sees.
    ALTER TABLE notifications ADD COLUMN ref text;
    CREATE INDEX notifications_ref_idx ON notifications (ref) WHERE ref IS NOT NULL;

    -- Objections to the tender documents (T4).
    CREATE TABLE objections (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        user_id uuid NOT NULL REFERENCES users(id),
        body text NOT NULL CHECK (length(btrim(body)) BETWEEN 5 AND 20000),
        submitted_at timestamptz NOT NULL DEFAULT now(),
        answer_due_at timestamptz NOT NULL,
        answer text CHECK (answer IS NULL OR length(btrim(answer)) BETWEEN 2 AND 20000),
        answered_at timestamptz,
        answered_by uuid REFERENCES users(id),
        CONSTRAINT objections_answer_complete CHECK (
            (answer IS NULL) = (answered_at IS NULL) AND (answer IS NULL) = (answered_by IS NULL))
    );
    CREATE INDEX objections_open_idx ON objections (tender_id) WHERE answered_at IS NULL;

    -- OCDS releases, append-only: the record is compiled from them.
    CREATE TABLE ocds_releases (
        id text PRIMARY KEY,
        tender_id uuid NOT NULL REFERENCES tenders(id),
        seq bigserial NOT NULL,
        tag text NOT NULL CHECK (tag IN ('tender', 'tenderAmendment', 'tenderUpdate',
                                         'tenderCancellation')),
        date timestamptz NOT NULL,
        release jsonb NOT NULL
    );
    CREATE INDEX ocds_releases_tender_idx ON ocds_releases (tender_id, seq);

    -- Events for the issuers of bid guarantees (G5: the opening moved); the
    -- bid-security stage delivers them to the insurers' and banks' gateways.
    CREATE TABLE guarantee_events (
        id bigserial PRIMARY KEY,
        tender_id uuid NOT NULL REFERENCES tenders(id),
        kind text NOT NULL CHECK (kind IN ('opening_postponed')),
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        CONSTRAINT guarantee_events_once UNIQUE (tender_id, kind, payload)
    );
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE guarantee_events;
    DROP TABLE ocds_releases;
    DROP TABLE objections;
    DROP INDEX notifications_ref_idx;
    ALTER TABLE notifications DROP COLUMN ref;
    DROP TABLE document_downloads;
    DROP TABLE document_holders;
    DROP TABLE lot_opening_shares;
    DROP TABLE tender_officers;
    DROP TABLE tender_documents;
    DROP FUNCTION tender_documents_refuse_change();
    DROP TABLE notices;
    DROP INDEX tenders_public_region_idx;
    DROP INDEX tenders_public_idx;
    CREATE INDEX tenders_public_idx ON tenders (published_at DESC, id) WHERE status <> 'draft';
    """)
