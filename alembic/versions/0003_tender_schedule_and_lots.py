"""Tenders get their procedure flags, schedule, security terms and lots; official calendars.

The rules that need only one row are constraints here (T6 non-cash forms,
the order of the schedule, a published tender having one); the rules that
compare rows or count working days (T1, T2, T5) live in ``trading.tenders.rules``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from core.migrate import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# 国务院办公厅 notices on the public holidays: 国办发明电〔2024〕12号 (2025) and
# 国办发明电〔2025〕7号 (2026). Every day off is listed (weekend days included,
# so the calendar reads like the notice), and every make-up working day.
HOLIDAYS = {
    "元旦": ["2025-01-01", "2026-01-01", "2026-01-02", "2026-01-03"],
    "春节": ["2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-01",
             "2025-02-02", "2025-02-03", "2025-02-04",
             "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
             "2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23"],
    "清明节": ["2025-04-04", "2025-04-05", "2025-04-06", "2026-04-04", "2026-04-05",
               "2026-04-06"],
    "劳动节": ["2025-05-01", "2025-05-02", "2025-05-03", "2025-05-04", "2025-05-05",
               "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"],
    "端午节": ["2025-05-31", "2025-06-01", "2025-06-02", "2026-06-19", "2026-06-20",
               "2026-06-21"],
    "中秋节": ["2026-09-25", "2026-09-26", "2026-09-27"],
    "国庆节": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05",
               "2026-10-06", "2026-10-07"],
    "国庆节、中秋节": ["2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04",
                       "2025-10-05", "2025-10-06", "2025-10-07", "2025-10-08"],
}
WORKDAYS = {
    "春节调休上班": ["2025-01-26", "2025-02-08", "2026-02-14", "2026-02-28"],
    "劳动节调休上班": ["2025-04-27", "2026-05-09"],
    "国庆节调休上班": ["2025-09-28", "2025-10-11", "2026-09-20", "2026-10-10"],
    "元旦调休上班": ["2026-01-04"],
}


def _calendar_sql() -> str:
    values = [f"('{day}', 'holiday', '{name}')" for name, days in HOLIDAYS.items()
              for day in days]
    values += [f"('{day}', 'workday', '{name}')" for name, days in WORKDAYS.items()
               for day in days]
    return ("INSERT INTO calendar_days (day, kind, name) VALUES\n    "
            + ",\n    ".join(values) + "\nON CONFLICT (day) DO NOTHING;")


def _seeded_days() -> str:
    days = [day for group in (HOLIDAYS, WORKDAYS) for ds in group.values() for day in ds]
    return ", ".join(f"'{day}'" for day in days)


def upgrade() -> None:
    execute_script("""
    ALTER TABLE tenders
        ADD COLUMN sector text NOT NULL DEFAULT 'construction'
            CHECK (sector IN ('construction', 'goods', 'services')),
        ADD COLUMN ceiling_price numeric(18, 2) CHECK (ceiling_price IS NULL OR ceiling_price > 0),
        -- procedure flags: configuration, not code paths
        ADD COLUMN min_bids integer NOT NULL DEFAULT 3 CHECK (min_bids BETWEEN 1 AND 20),
        ADD COLUMN has_prequalification boolean NOT NULL DEFAULT false,
        ADD COLUMN security_cap_percent numeric(5, 2) NOT NULL DEFAULT 2
            CHECK (security_cap_percent > 0 AND security_cap_percent <= 2),
        ADD COLUMN security_cap_amount numeric(18, 2)
            CHECK (security_cap_amount IS NULL OR security_cap_amount > 0),
        -- T6: guarantees, guarantee insurance and e-guarantees are always accepted
        ADD COLUMN security_forms text[] NOT NULL
            DEFAULT '{deposit,bank_guarantee,guarantee_insurance,e_guarantee}'
            CONSTRAINT tenders_security_forms_t6 CHECK (
                security_forms @> '{bank_guarantee,guarantee_insurance,e_guarantee}'
                AND security_forms <@ '{deposit,bank_guarantee,guarantee_insurance,e_guarantee}'),
        -- schedule; the bid deadline is also the opening time
        ADD COLUMN documents_from timestamptz,
        ADD COLUMN documents_until timestamptz,
        ADD COLUMN clarification_deadline timestamptz,
        ADD COLUMN bid_deadline timestamptz,
        ADD COLUMN bid_validity_days integer NOT NULL DEFAULT 90
            CHECK (bid_validity_days BETWEEN 30 AND 365),
        ADD COLUMN evaluation_method text NOT NULL DEFAULT 'comprehensive'
            CHECK (evaluation_method IN ('comprehensive', 'lowest_price')),
        ADD COLUMN weights jsonb NOT NULL
            DEFAULT '{"price": 60, "technical": 30, "commercial": 10}',
        -- opening (S6) and the officers holding the opening-key shares
        ADD COLUMN decryption_minutes integer NOT NULL DEFAULT 30
            CHECK (decryption_minutes BETWEEN 5 AND 240),
        ADD COLUMN decrypt_failure text NOT NULL DEFAULT 'officers'
            CHECK (decrypt_failure IN ('withdrawn', 'officers')),
        ADD COLUMN officers_n integer NOT NULL DEFAULT 3,
        ADD COLUMN officers_k integer NOT NULL DEFAULT 2,
        -- the chronograph: the next moment something is due, and what
        ADD COLUMN next_due_at timestamptz,
        ADD COLUMN next_due_kind text,
        ADD COLUMN paused_since timestamptz,
        ADD COLUMN cancel_reason text,
        ADD COLUMN cancelled_at timestamptz,
        ADD COLUMN previous_tender_id uuid REFERENCES tenders(id),
        ADD COLUMN version integer NOT NULL DEFAULT 1,
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
        ADD CONSTRAINT tenders_officers_k_of_n CHECK (officers_k BETWEEN 2 AND officers_n
                                                       AND officers_n <= 15),
        ADD CONSTRAINT tenders_schedule_order CHECK (
            documents_until IS NULL OR documents_from IS NULL OR documents_from < documents_until),
        ADD CONSTRAINT tenders_documents_before_deadline CHECK (
            documents_until IS NULL OR bid_deadline IS NULL OR documents_until <= bid_deadline),
        ADD CONSTRAINT tenders_clarification_before_deadline CHECK (
            clarification_deadline IS NULL OR bid_deadline IS NULL
            OR clarification_deadline <= bid_deadline),
        ADD CONSTRAINT tenders_published_has_schedule CHECK (
            status = 'draft' OR status = 'cancelled' OR (documents_from IS NOT NULL
            AND documents_until IS NOT NULL AND bid_deadline IS NOT NULL)),
        ADD CONSTRAINT tenders_cancel_reason CHECK (
            (status = 'cancelled') = (cancel_reason IS NOT NULL AND cancelled_at IS NOT NULL)),
        ADD CONSTRAINT tenders_ceiling_within_budget CHECK (
            ceiling_price IS NULL OR budget IS NULL OR ceiling_price <= budget),
        ADD CONSTRAINT tenders_retender_once UNIQUE (previous_tender_id);
    -- published tenders carried over from before the schedule existed get one
    UPDATE tenders SET documents_from = published_at,
                       documents_until = published_at + interval '20 days',
                       bid_deadline = published_at + interval '20 days'
        WHERE status <> 'draft' AND bid_deadline IS NULL;
    CREATE INDEX tenders_due_idx ON tenders (next_due_at) WHERE next_due_at IS NOT NULL;

    -- Lots (标段/包): each has its own budget, security and opening certificate.
    CREATE TABLE lots (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tender_id uuid NOT NULL REFERENCES tenders(id) ON DELETE CASCADE,
        number integer NOT NULL CHECK (number BETWEEN 1 AND 99),
        title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        budget numeric(18, 2) NOT NULL CHECK (budget > 0),
        ceiling_price numeric(18, 2) CHECK (ceiling_price IS NULL OR ceiling_price > 0),
        security_amount numeric(18, 2) NOT NULL DEFAULT 0 CHECK (security_amount >= 0),
        max_bid_bytes bigint NOT NULL DEFAULT 524288000
            CHECK (max_bid_bytes BETWEEN 1024 AND 5368709120),
        opening_cert_der bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT lots_number_key UNIQUE (tender_id, number),
        CONSTRAINT lots_ceiling_within_budget CHECK (ceiling_price IS NULL OR ceiling_price <= budget)
    );
    """ + _calendar_sql())


def downgrade() -> None:
    # only the seeded days go: days an administrator added stay
    execute_script(f"""
    DROP TABLE lots;
    DELETE FROM calendar_days WHERE day IN ({_seeded_days()});
    ALTER TABLE tenders
        DROP CONSTRAINT tenders_retender_once,
        DROP CONSTRAINT tenders_ceiling_within_budget,
        DROP CONSTRAINT tenders_cancel_reason,
        DROP CONSTRAINT tenders_published_has_schedule,
        DROP CONSTRAINT tenders_clarification_before_deadline,
        DROP CONSTRAINT tenders_documents_before_deadline,
        DROP CONSTRAINT tenders_schedule_order,
        DROP CONSTRAINT tenders_officers_k_of_n,
        DROP COLUMN updated_at, DROP COLUMN version, DROP COLUMN previous_tender_id,
        DROP COLUMN cancelled_at, DROP COLUMN cancel_reason, DROP COLUMN paused_since,
        DROP COLUMN next_due_kind, DROP COLUMN next_due_at, DROP COLUMN officers_k,
        DROP COLUMN officers_n, DROP COLUMN decrypt_failure, DROP COLUMN decryption_minutes,
        DROP COLUMN weights, DROP COLUMN evaluation_method, DROP COLUMN bid_validity_days,
        DROP COLUMN bid_deadline, DROP COLUMN clarification_deadline,
        DROP COLUMN documents_until, DROP COLUMN documents_from, DROP COLUMN security_forms,
        DROP COLUMN security_cap_amount, DROP COLUMN security_cap_percent,
        DROP COLUMN has_prequalification, DROP COLUMN min_bids, DROP COLUMN ceiling_price,
        DROP COLUMN sector;
    """)
