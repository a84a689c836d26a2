"""G5: when a tender's opening moves (a clarification under T3, an objection's pause under
T4), every issuer holding one of its guarantees is told, so it can update or endorse the
cover to the new deadline plus the bid validity.

The tender's side records the move as a ``guarantee_events`` row, exactly once, in its own
job; this module turns each recorded move into one signed ``guarantee.deadline_moved``
message per live guarantee (outbound.send: stored, then delivered with retries) and marks
the event delivered in the same transaction, so a move is announced once, and a crash
before the commit announces it on the next pass instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from core import clock, db, jobs
from core.settings import Settings
from trading.bonds import outbound
from trading.bonds import queries as q


async def push_moves(conn: asyncpg.Connection, settings: Settings, *, limit: int = 100) -> int:
    """Announce up to ``limit`` recorded moves to their issuers; how many messages."""
    sent = 0
    for event in await conn.fetch(q.PENDING_EVENTS, limit):
        new = datetime.fromisoformat(event["payload"]["new_bid_deadline"])
        for g in await conn.fetch(q.LIVE_GUARANTEES, event["tender_id"]):
            await outbound.send(
                conn, settings, issuer_id=g["issuer_id"], issuer_code=g["issuer_code"],
                type="guarantee.deadline_moved", body={
                    "order": str(g["id"]), "number": g["number"],
                    "old_bid_deadline": event["payload"]["old_bid_deadline"],
                    "new_bid_deadline": new.astimezone(clock.SHANGHAI).isoformat(),
                    # the cover the guarantee must now reach (G10)
                    "valid_until_required": (new + timedelta(days=g["bid_validity_days"]))
                    .astimezone(clock.SHANGHAI).isoformat()})
            sent += 1
        await conn.execute(q.EVENT_DELIVERED, event["id"])
    return sent


@jobs.job
async def push_guarantee_events(ctx: dict[str, Any], outbox_id: int | None = None) -> int:
    """The scheduler's pass over recorded moves (every minute), one short transaction."""
    pool: asyncpg.Pool = ctx["db_pool"]
    async with pool.acquire() as conn, db.transaction(conn, ctx):
        return await push_moves(conn, ctx["settings"])
