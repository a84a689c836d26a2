"""Sealed bids: resumable uploads, immutable bids with their receipts, device marks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- An upload in progress: parts streamed through the API into one S3
    -- multipart upload, in order, the running SHA-256 kept after each part.
    -- The idempotency key makes a retried start (or finalize) land on the same row.
    CREATE TABLE bid_uploads (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        user_id uuid NOT NULL REFERENCES users(id),
        idempotency_key text NOT NULL CHECK (idempotency_key ~ '^[A-Za-z0-9_-]{8,100}$'),
        size bigint NOT NULL CHECK (size > 0),
        declared_sha256 bytea CHECK (declared_sha256 IS NULL OR length(declared_sha256) = 32),
        part_size integer NOT NULL CHECK (part_size BETWEEN 5242880 AND 67108864),
        object_key text NOT NULL,
        s3_upload_id text NOT NULL,
        parts_done integer NOT NULL DEFAULT 0 CHECK (parts_done >= 0),
        bytes_done bigint NOT NULL DEFAULT 0,
        part_etags text[] NOT NULL DEFAULT '{}',
        hash_state bytea NOT NULL CHECK (length(hash_state) = 112),
        -- the envelope's first bytes (recipients, cipher), checked without reading S3
        head bytea NOT NULL DEFAULT '' CHECK (length(head) <= 65536),
        busy_token uuid,
        busy_until timestamptz,
        device jsonb NOT NULL DEFAULT '{}',
        creator jsonb,
        client_ips inet[] NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'finalized')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT bid_uploads_key UNIQUE (organization_id, idempotency_key),
        CONSTRAINT bid_uploads_object_key UNIQUE (object_key),
        CONSTRAINT bid_uploads_within_size CHECK (bytes_done <= size),
        CONSTRAINT bid_uploads_parts_etags CHECK (cardinality(part_etags) = parts_done)
    );
    CREATE INDEX bid_uploads_lot_idx ON bid_uploads (lot_id);

    -- A bid as received: the envelope's object, the bidder's outer signature,
    -- the platform's receipt and its timestamp. Rows are never deleted, and
    -- after the bid deadline never changed (trigger below): a replaced bid is
    -- kept as superseded, a withdrawn one as withdrawn.
    CREATE TABLE bids (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        submitted_by uuid NOT NULL REFERENCES users(id),
        upload_id uuid NOT NULL REFERENCES bid_uploads(id),
        status text NOT NULL DEFAULT 'submitted'
            CHECK (status IN ('submitted', 'superseded', 'withdrawn')),
        object_key text NOT NULL,
        version_id text,
        size bigint NOT NULL CHECK (size > 0),
        p7m_sha256 bytea NOT NULL CHECK (length(p7m_sha256) = 32),
        signature bytea NOT NULL,
        p7s_sha256 bytea NOT NULL CHECK (length(p7s_sha256) = 32),
        signer_subject text NOT NULL,
        signer_cert_sha256 bytea NOT NULL,
        envelope_kind text NOT NULL
            CHECK (envelope_kind IN ('enveloped_data', 'authenticated_enveloped_data')),
        content_cipher text NOT NULL,
        recipients jsonb NOT NULL,
        received_at timestamptz NOT NULL,
        receipt bytea NOT NULL,
        receipt_tst bytea NOT NULL,
        replaces uuid REFERENCES bids(id),
        superseded_at timestamptz,
        withdrawn_at timestamptz,
        withdrawal_signature bytea,
        withdrawal_receipt bytea,
        withdrawal_receipt_tst bytea,
        receipt_pdf_key text,
        receipt_pdf_sha256 bytea,
        client_ips inet[] NOT NULL DEFAULT '{}',
        device jsonb NOT NULL DEFAULT '{}',
        creator jsonb,
        CONSTRAINT bids_upload_once UNIQUE (upload_id),
        CONSTRAINT bids_status_times CHECK (
            (status = 'superseded') = (superseded_at IS NOT NULL)
            AND (status = 'withdrawn') = (withdrawn_at IS NOT NULL
                                          AND withdrawal_signature IS NOT NULL
                                          AND withdrawal_receipt IS NOT NULL))
    );
    -- one current bid per bidder and lot
    CREATE UNIQUE INDEX bids_one_current_idx ON bids (lot_id, organization_id)
        WHERE status = 'submitted';
    CREATE INDEX bids_org_idx ON bids (organization_id, received_at DESC);
    CREATE INDEX bids_lot_idx ON bids (lot_id, status);

    -- Sealed means sealed in the database too: no bid row is ever deleted;
    -- before the deadline only the status may move (replaced, withdrawn) and
    -- the receipt PDF be attached once; after it, nothing but that PDF.
    CREATE FUNCTION bids_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        deadline timestamptz;
    BEGIN
        IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
            RAISE EXCEPTION 'bids are never deleted'
                USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'bids_never_deleted';
        END IF;
        IF (NEW.id, NEW.tender_id, NEW.lot_id, NEW.organization_id, NEW.submitted_by,
            NEW.upload_id, NEW.object_key, NEW.version_id, NEW.size, NEW.p7m_sha256,
            NEW.signature, NEW.p7s_sha256, NEW.signer_subject, NEW.signer_cert_sha256,
            NEW.envelope_kind, NEW.content_cipher, NEW.recipients, NEW.received_at,
            NEW.receipt, NEW.receipt_tst, NEW.replaces, NEW.client_ips, NEW.device, NEW.creator)
           IS DISTINCT FROM
           (OLD.id, OLD.tender_id, OLD.lot_id, OLD.organization_id, OLD.submitted_by,
            OLD.upload_id, OLD.object_key, OLD.version_id, OLD.size, OLD.p7m_sha256,
            OLD.signature, OLD.p7s_sha256, OLD.signer_subject, OLD.signer_cert_sha256,
            OLD.envelope_kind, OLD.content_cipher, OLD.recipients, OLD.received_at,
            OLD.receipt, OLD.receipt_tst, OLD.replaces, OLD.client_ips, OLD.device, OLD.creator)
        THEN
            RAISE EXCEPTION 'a received bid cannot be changed'
                USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'bids_immutable';
        END IF;
        IF OLD.receipt_pdf_key IS NOT NULL AND (NEW.receipt_pdf_key, NEW.receipt_pdf_sha256)
                IS DISTINCT FROM (OLD.receipt_pdf_key, OLD.receipt_pdf_sha256) THEN
            RAISE EXCEPTION 'the receipt PDF is attached once'
                USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'bids_immutable';
        END IF;
        IF (NEW.status, NEW.superseded_at, NEW.withdrawn_at, NEW.withdrawal_signature,
            NEW.withdrawal_receipt, NEW.withdrawal_receipt_tst)
           IS DISTINCT FROM
           (OLD.status, OLD.superseded_at, OLD.withdrawn_at, OLD.withdrawal_signature,
            OLD.withdrawal_receipt, OLD.withdrawal_receipt_tst)
        THEN
            IF OLD.status <> 'submitted' THEN
                RAISE EXCEPTION 'only a current bid can be replaced or withdrawn'
                    USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'bids_immutable';
            END IF;
            SELECT bid_deadline INTO deadline FROM tenders WHERE id = NEW.tender_id;
            IF clock_timestamp() >= deadline THEN
                RAISE EXCEPTION 'the bid deadline has passed'
                    USING ERRCODE = 'insufficient_privilege',
                          CONSTRAINT = 'bids_sealed_after_deadline';
            END IF;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER bids_guard BEFORE UPDATE OR DELETE ON bids
        FOR EACH ROW EXECUTE FUNCTION bids_guard();
    CREATE TRIGGER bids_no_truncate BEFORE TRUNCATE ON bids
        FOR EACH STATEMENT EXECUTE FUNCTION bids_guard();

    -- What identifies the submitting machine and the tool that made the file
    -- (collusion indicators C1, C2), one row per identifier, compared across
    -- the bidders of a lot once the bids are opened.
    CREATE TABLE bid_marks (
        bid_id uuid NOT NULL REFERENCES bids(id),
        lot_id uuid NOT NULL REFERENCES lots(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        kind text NOT NULL CHECK (kind IN ('ip', 'host_id', 'mac', 'cpu_serial', 'disk',
                                           'machine_code', 'creator', 'tool_serial')),
        value text NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
        CONSTRAINT bid_marks_pkey PRIMARY KEY (bid_id, kind, value)
    );
    CREATE INDEX bid_marks_lot_idx ON bid_marks (lot_id, kind, value);
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE bid_marks;
    DROP TABLE bids;
    DROP FUNCTION bids_guard();
    DROP TABLE bid_uploads;
    """)
