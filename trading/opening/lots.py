"""Each lot's opening, from the deadline to every bid read out (S4, S5, S6).

At the deadline a lot opens only with enough valid bids (S5: three, or the
tender's own higher minimum; a single-source procedure needs its one):
otherwise it fails (流标) and nothing in it is ever decrypted. An opened lot
gives its bidders the decryption window. When every bid is opened the lot is
read; when the window closes first, bids left closed are decided by the
lot's rule as it stood at the deadline: withdrawn (whose fault, S6), or kept
for the opening officers' shares (trading/opening/officers.py).

Starting is idempotent and may happen wherever it is first needed: the
chronograph at the deadline, a bidder opening its bid, a hall page. The count
is the same wherever it happens: after the deadline no bid can change.

A lot that fails or is read asks for an issue of the opening record through
``request_record``, which its caller hands down (``trading.opening.jobs.request_record``):
the officers' job, in that module, does work that reaches this one, so this one cannot
import it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core import audit
from trading.opening import hall
from trading.opening import queries as q
from trading.tenders import releases

MIN_BIDS = 3  # S5: 法 28, 条例 44
# a failure of the platform's own (the stored bid could not be read) is not the bidder's (S6)
PLATFORM_CODES = frozenset({"stored_bid_unreadable"})

# Asks, in the caller's transaction, for an issue of the lot's record as of a hall event:
# (conn, lot_id, as_of).
RequestRecord = Callable[[asyncpg.Connection, UUID, int], Awaitable[None]]


def required_bids(tender: dict[str, Any]) -> int:
    """S5's threshold: at least three, or more if the tender says so; a single-source
    procedure negotiates with its one supplier."""
    if tender["procedure"] == "gp_single_source":
        return int(tender["min_bids"])
    return max(MIN_BIDS, int(tender["min_bids"]))


async def start(conn: asyncpg.Connection, tender_id: UUID, now: datetime, *,
                request_record: RequestRecord) -> list[dict[str, Any]]:
    """Each lot's opening once the deadline has passed (nothing before); the lots started
    by this call (none if another got there first)."""
    tender = await conn.fetchrow(q.TENDER_FOR_OPENING, tender_id)
    if (tender is None or tender["status"] not in ("published", "bidding_closed")
            or now < tender["bid_deadline"] or tender["paused_since"] is not None):
        return []  # a paused tender (T4) has not reached its deadline
    closes = tender["bid_deadline"] + timedelta(minutes=tender["decryption_minutes"])
    started = [dict(r) for r in await conn.fetch(
        q.START_LOTS, tender_id, required_bids(dict(tender)), closes, tender["decrypt_failure"])]
    for lot in started:
        facts = {"lot": lot["number"], "bids": lot["bids_at_deadline"],
                 "required": lot["required_bids"]}
        if lot["status"] == "failed":
            await audit.record(conn, audit.SYSTEM, "lot.failed", "lot", lot["lot_id"],
                               {**facts, "reason": "too_few_bids"})
            event = await hall.emit(conn, lot["lot_id"], "lot.failed",
                                    {**facts, "reason": "too_few_bids"})
            await request_record(conn, lot["lot_id"], event.seq)
        else:
            await audit.record(conn, audit.SYSTEM, "lot.opening_started", "lot", lot["lot_id"],
                               {**facts, "window_closes_at": closes.isoformat(),
                                "rule": lot["decrypt_failure"]})
            await hall.emit(conn, lot["lot_id"], "opening.started",
                            {**facts, "window_closes_at": closes.isoformat(),
                             "rule": lot["decrypt_failure"]})
    return started


async def settle_if_read(conn: asyncpg.Connection, lot_id: UUID, *,
                         request_record: RequestRecord) -> bool:
    """The lot is read once no bid is left closed or undecided (row locked by the caller)."""
    row = await conn.fetchrow(q.MARK_READ, lot_id)
    if row is None:
        return False
    facts = {"opened": row["opened"], "not_opened": row["not_opened"],
             "confirm_until": row["confirm_until"].isoformat()}
    await audit.record(conn, audit.SYSTEM, "lot.read", "lot", lot_id, facts)
    event = await hall.emit(conn, lot_id, "opening.read", facts)
    await request_record(conn, lot_id, event.seq)
    return True


async def close_windows(conn: asyncpg.Connection, tender_id: UUID, *,
                        request_record: RequestRecord) -> int:
    """The decryption window has closed: decide every lot still decrypting; how many."""
    decided = 0
    for lot in await conn.fetch(q.LOTS_DECRYPTING, tender_id):
        lot_id = lot["lot_id"]
        closed = await conn.fetch(q.UNOPENED_BIDS, lot_id)
        decided += 1
        if not closed:
            await settle_if_read(conn, lot_id, request_record=request_record)
            continue
        if lot["decrypt_failure"] == "officers":
            await conn.execute(q.SET_LOT_STATUS, lot_id, "decrypting", "officers")
            names = [b["bidder_name"] for b in closed]
            await audit.record(conn, audit.SYSTEM, "lot.officers_needed", "lot", lot_id,
                               {"bids": [str(b["id"]) for b in closed]})
            await hall.emit(conn, lot_id, "officers.needed",
                            {"bidders": names, "k": lot["officers_k"], "n": lot["officers_n"]})
            continue
        for bid in closed:
            await record_not_opened(conn, bid, lot_id)
        await settle_if_read(conn, lot_id, request_record=request_record)
    return decided


async def record_not_opened(conn: asyncpg.Connection, bid: asyncpg.Record | dict[str, Any],
                            lot_id: UUID) -> None:
    """A bid nobody opened: withdrawn after the deadline if the bidder failed (its security
    may be kept), before it if the platform did (S6)."""
    codes = [r["code"] for r in await conn.fetch(q.ATTEMPT_CODES, bid["id"])]
    fault = "platform" if PLATFORM_CODES.intersection(codes) else "bidder"
    last = codes[-1] if codes else None
    if await conn.fetchval(q.INSERT_FAILURE, bid["id"], lot_id, fault, last) is None:
        return  # decided before
    await audit.record(conn, audit.SYSTEM, "bid.not_opened", "bid", bid["id"],
                       {"fault": fault, "last_code": last, "attempts": len(codes)})
    await hall.emit(conn, lot_id, "bid.not_opened",
                    {"bid_id": str(bid["id"]), "bidder": bid["bidder_name"], "fault": fault,
                     "last_code": last})


async def settle_tender(conn: asyncpg.Connection, tender_id: UUID) -> str | None:
    """The tender follows its lots (row locked by the caller): failed when every lot failed
    (it can be re-tendered), opened when every lot is read or failed."""
    states = [r["status"] for r in await conn.fetch(q.LOT_STATES, tender_id)]
    if not states or any(s is None or s in ("decrypting", "officers") for s in states):
        return None
    target = "failed" if all(s == "failed" for s in states) else "opened"
    if not await conn.fetchval(q.SET_TENDER_STATUS, tender_id, "bidding_closed", target):
        return None
    await audit.record(conn, audit.SYSTEM, f"tender.{target}", "tender", tender_id,
                       {"lots": states})
    await releases.record(conn, tender_id, "tenderUpdate")  # OCDS: opened, or unsuccessful
    return target
