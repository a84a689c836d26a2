"""Demo time: a tender's whole schedule moved at once, so that a demo can reach its deadline.

A real bid deadline is at least 20 days out (T1), and a demo cannot wait that
long. Only the demo calls this module; no route exposes it. It moves every
scheduled moment of one tender by the same interval: the documents period,
the clarification deadline, the bid deadline (which is also the opening),
the chronograph's next due moment and a draft clarification's requested
deadline. The order the table's CHECKs require is therefore kept.

What already happened stays as it happened: the publication, the holders, the
clarification, the bids' ``received_at`` and their signed receipts, which
keep naming the deadline of the moment they were issued. The move itself is
appended to the audit log as a demo action (``demo.schedule_shifted``, with
the old and new deadlines), so that nobody reads it as a real event.

The row is locked FOR UPDATE, as the deadline transition locks it. A finalize
in flight holds it FOR SHARE, so the move waits for that bid to commit, and
a finalize after the move reads the new deadline. The bids' guard trigger and
the deadline checks compare against the moved ``bid_deadline`` from then on.
The chronograph's due moment moves with the rest and keeps its kind, so it
catches up as it would after a worker outage: first the close of the
documents period, on a later pass the deadline. ``catch_up`` fires both at
once for a demo that does not want to wait for the worker's passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import asyncpg

from core import audit, db
from core.db import connect
from demo import queries as q
from trading import chronograph

ACTOR = audit.Actor(None, "system", None, "demo-clock")
NOTE = ("演示操作：为演示截标，将项目日程整体前移，并非真实事件 / demo action: the whole "
        "schedule was moved back so that the demo can reach the bid deadline; not a real event")

if TYPE_CHECKING:
    from demo.context import DemoContext

T = TypeVar("T")


class DemoClockError(RuntimeError):
    """The move would make the record contradict itself."""


@dataclass(frozen=True)
class Shift:
    by: timedelta
    old_deadline: datetime
    bid_deadline: datetime


async def shift_schedule(conn: asyncpg.Connection, tender_id: UUID, *,
                         by: timedelta) -> Shift:
    """Move the tender's schedule by ``by`` (negative: back), in the caller's transaction.

    Refused where the result would contradict the record: a paused tender
    (T4: its deadline cannot pass while an objection waits), a bid received
    at or after the moved deadline, or a closed tender's deadline moved into
    the future (it would look open with bidding closed).
    """
    row = await conn.fetchrow(q.LOCK_SCHEDULE, tender_id)
    if row is None:
        raise DemoClockError(f"tender {tender_id} does not exist")
    if row["status"] not in ("published", "bidding_closed") or row["paused_since"] is not None:
        raise DemoClockError(f"tender {tender_id} is {row['status']}"
                             f"{' (paused)' if row['paused_since'] else ''}: schedule kept")
    new_deadline = row["bid_deadline"] + by
    latest = await conn.fetchval(q.LATEST_BID, tender_id)
    if latest is not None and new_deadline <= latest:
        raise DemoClockError(f"a bid was received at {latest.isoformat()}, not before "
                             f"the moved deadline {new_deadline.isoformat()}")
    if row["status"] != "published" and new_deadline > row["now"]:
        raise DemoClockError("bidding is closed: the deadline cannot move into the future")
    await conn.execute(q.SHIFT_SCHEDULE, tender_id, by)
    await conn.execute(q.SHIFT_DRAFT_DEADLINES, tender_id, by)
    await audit.record(conn, ACTOR, "demo.schedule_shifted", "tender", tender_id, {
        "by_seconds": by.total_seconds(), "bid_deadline_before": row["bid_deadline"].isoformat(),
        "bid_deadline_after": new_deadline.isoformat(), "note": NOTE})
    return Shift(by, row["bid_deadline"], new_deadline)


async def pass_deadline(conn: asyncpg.Connection, tender_id: UUID) -> Shift | None:
    """Move the schedule back so that the bid deadline is now; None if it has already passed.

    Now is the database clock read under the row lock, so every bid received
    so far is before the deadline and every later one after it.
    """
    row = await conn.fetchrow(q.LOCK_SCHEDULE, tender_id)
    if row is None or row["bid_deadline"] is None:
        raise DemoClockError(f"tender {tender_id} has no bid deadline")
    if row["bid_deadline"] <= row["now"]:
        return None
    return await shift_schedule(conn, tender_id, by=row["now"] - row["bid_deadline"])


async def catch_up(conn: asyncpg.Connection, tender_id: UUID) -> list[str]:
    """Fire everything due for the tender now, as the worker's next passes would; the kinds fired."""
    fired: list[str] = []
    for _ in range(4):  # documents closed, then the deadline: two at most today
        await conn.execute(q.LOCK_TENDER, tender_id)
        kind = await chronograph.fire(conn, tender_id)
        if kind is None:
            break
        fired.append(kind)
    return fired


async def end_decryption(conn: asyncpg.Connection, tender_id: UUID) -> int:
    """End the decryption window now (a demo cannot wait its 30 minutes); how many lots.

    Audited as a demo action like a schedule move; ``catch_up`` then decides the
    bids left closed as the chronograph would at the window's real end.
    """
    row = await conn.fetchrow(q.LOCK_SCHEDULE, tender_id)
    if row is None:
        raise DemoClockError(f"tender {tender_id} does not exist")
    moved = await conn.fetch(q.CLOSE_WINDOWS, tender_id)
    if moved:
        await conn.execute(q.DECRYPTION_CLOSED_NOW, tender_id)
        await audit.record(conn, ACTOR, "demo.decryption_ended", "tender", tender_id, {
            "lots": [str(r["lot_id"]) for r in moved],
            "note": "演示操作：为演示提前结束解密时限，并非真实事件 / demo action: the decryption "
                    "window was ended early; not a real event"})
    return len(moved)


async def clock_step(ctx: DemoContext, tender: dict[str, Any],
                     move: Callable[[asyncpg.Connection, UUID], Awaitable[T]]) -> T:
    """A demo-clock step on the tender, in a transaction of its own (the demo's database)."""
    conn = await connect(ctx.settings.database.url)
    try:
        async with db.transaction(conn, {}):  # hall events: read back from the log
            return await move(conn, UUID(tender["id"]))
    finally:
        await conn.close()
