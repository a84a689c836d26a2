"""The chronograph: each tender keeps its next due moment; a scheduled job fires it.

No transition waits for a request to arrive. ``next_due_at``/``next_due_kind``
say what happens next and when; the worker runs ``chronograph_job`` every
minute, which takes the due tenders with ``FOR UPDATE SKIP LOCKED`` (several
workers share the work without firing a tender twice) and moves each one on.
Firing is idempotent: a transition happens only from the state it expects,
and the next due moment is recomputed from the row each time (by
trading/tenders/schedule.py, which the services that move a schedule call
too, without reaching up to this module). The hall's events a transition
writes are published once its transaction commits (``core.db.on_commit``).

A paused tender (an objection awaiting its answer, T4) has nothing due. The
same pass has two more duties: objections whose 3-day answer period has run
out unanswered are flagged once for supervision (the tender stays paused),
and bid uploads left unfinished at their deadline expire (trading/bids/expiry.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import structlog

from core import audit, clock, db, jobs
from trading.bids import expiry
from trading.opening import lots, objections
from trading.opening import queries as oq
from trading.opening.jobs import request_record
from trading.tenders import objections as tender_objections
from trading.tenders import releases
from trading.tenders.queries import tenders as tender_sql
from trading.tenders.schedule import schedule_next

log = structlog.get_logger(__name__)
BATCH = 100


async def fire(conn: asyncpg.Connection, tender_id: UUID) -> str | None:
    """Carry out what is due for one tender (row already locked); the kind fired, if any.
    The hall's events are published once the caller's transaction commits."""
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    now = await clock.db_now(conn)
    if row is None or row["next_due_at"] is None or row["next_due_at"] > now:
        return None
    kind = row["next_due_kind"]
    if kind == "documents_closed":
        await audit.record(conn, audit.SYSTEM, "tender.documents_closed", "tender", tender_id)
    elif kind == "deadline":
        if await conn.fetchval(tender_sql.SET_STATUS, tender_id, "published", "bidding_closed"):
            await audit.record(conn, audit.SYSTEM, "tender.deadline_reached", "tender",
                               tender_id, {"bid_deadline": row["bid_deadline"].isoformat()})
            await releases.record(conn, tender_id, "tenderUpdate")  # OCDS: the call is over
        # S5: each lot opens or fails (流标)
        await lots.start(conn, tender_id, now, request_record=request_record)
        await lots.settle_tender(conn, tender_id)
    elif kind == "decryption_closed":
        await conn.execute(oq.LOCK_LOTS_OF_TENDER, tender_id)  # before any audit: lock order
        # in case nothing started it yet
        await lots.start(conn, tender_id, now, request_record=request_record)
        await lots.close_windows(conn, tender_id, request_record=request_record)
        await lots.settle_tender(conn, tender_id)
        await objections.close_due(conn, tender_id)  # lots read early may be due too
    elif kind == "objections_closed":
        await conn.execute(oq.LOCK_LOTS_OF_TENDER, tender_id)
        await objections.close_due(conn, tender_id)
    await schedule_next(conn, tender_id)
    return str(kind)


async def run_due(conn: asyncpg.Connection, *, limit: int = BATCH) -> int:
    """Fire every due tender (up to ``limit``) in the caller's transaction."""
    fired = 0
    for r in await conn.fetch(tender_sql.DUE_TENDERS, limit):
        if await fire(conn, r["id"]) is not None:
            fired += 1
    return fired


async def run_overdue(conn: asyncpg.Connection, *, limit: int = BATCH) -> int:
    """Flag objections unanswered past their due moment (up to ``limit``), in the caller's transaction."""
    return await tender_objections.flag_overdue(conn, limit=limit)


async def run_expired_uploads(conn: asyncpg.Connection, *, limit: int = BATCH) -> int:
    """Expire bid uploads left unfinished at their deadline (up to ``limit``)."""
    return await expiry.expire_due(conn, limit=limit)


@jobs.job
async def chronograph_job(ctx: dict[str, Any], outbox_id: int | None = None) -> int:
    """Every minute: due transitions, late objections, then unfinished bid uploads past their
    deadline; one short transaction per batch."""
    pool: asyncpg.Pool = ctx["db_pool"]
    counts = {}
    async with pool.acquire() as conn:
        for name, step in (("chronograph_fired", run_due), ("objections_overdue", run_overdue),
                           ("bid_uploads_expired", run_expired_uploads)):
            counts[name] = 0
            # due tenders one per transaction: a tender's opening locks its lots before it
            # audits, and one transaction over many tenders would hold the audit lock while
            # locking the next tender's lots (the order a request takes them in reverse)
            batch = 1 if step is run_due else BATCH
            while True:
                async with db.transaction(conn, ctx):
                    done = await (run_due(conn, limit=1) if step is run_due else step(conn))
                counts[name] += done
                if done < batch:
                    break
            if counts[name]:
                log.info(name, count=counts[name])
    return sum(counts.values())
