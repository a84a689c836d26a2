"""SQL for the opening."""

from __future__ import annotations

CLOCK = "SELECT clock_timestamp()"

# the tender's schedule, share-locked: a demo clock or a postponement waits for the opening
OPENING_OF_BID = """
    SELECT t.status, t.bid_deadline, t.decryption_minutes, t.decrypt_failure
    FROM tenders t WHERE t.id = $1 FOR SHARE
"""

OPENED = """
    SELECT bid_id, opened_by, user_id, opened_at, inner_signer, total_price, price_sheet, files
    FROM bid_openings WHERE bid_id = $1
"""

INSERT_OPENED = """
    INSERT INTO bid_openings (bid_id, tender_id, lot_id, organization_id, opened_by, user_id,
        inner_signer, inner_signer_sha256, total_price, price_sheet, files)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (bid_id) DO NOTHING
    RETURNING bid_id, opened_by, user_id, opened_at, inner_signer, total_price, price_sheet, files
"""

INSERT_ATTEMPT = "INSERT INTO bid_open_attempts (bid_id, lot_id, user_id, code) VALUES ($1, $2, $3, $4)"
