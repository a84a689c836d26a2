"""Each tender's next due moment, recomputed from its row: what the chronograph fires next.

It sits below both the chronograph (which fires what is due) and the services
that move a schedule (publication, clarifications, objections, the opening),
so none of them needs the chronograph itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core import clock
from trading.tenders.queries import tenders as tender_sql


def next_due(tender: dict[str, Any], now: datetime) -> tuple[datetime | None, str | None]:
    """What the tender waits for next: documents period end, the bid deadline (the
    opening), then the end of the decryption window."""
    if tender["status"] == "bidding_closed":
        closes = tender["bid_deadline"] + timedelta(minutes=tender["decryption_minutes"])
        if closes > now:
            return closes, "decryption_closed"
        # past the window with a lot not yet decided (started late, waiting for the officers'
        # shares, or read after the window by a key handed over in time): look again now
        return (now, "decryption_closed") if tender.get("opening_pending") else (None, None)
    if tender["status"] == "opened":  # S7: lots close once confirmations and objections are
        until = tender.get("confirm_until")
        return (until, "objections_closed") if until is not None and until > now else (None, None)
    if tender["status"] != "published" or tender["paused_since"] is not None:
        return None, None
    if tender["documents_until"] > now:
        return tender["documents_until"], "documents_closed"
    return tender["bid_deadline"], "deadline"


async def schedule_next(conn: asyncpg.Connection, tender_id: UUID) -> None:
    """Store the tender's next due moment (after any change to its schedule or state)."""
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    if row is None:
        return
    tender = dict(row) | {
        "confirm_until": await conn.fetchval(tender_sql.LATEST_CONFIRM_UNTIL, tender_id),
        "opening_pending": await conn.fetchval(tender_sql.OPENING_PENDING, tender_id)}
    at, kind = next_due(tender, await clock.db_now(conn))
    await conn.execute(tender_sql.SET_DUE, tender_id, at, kind)
