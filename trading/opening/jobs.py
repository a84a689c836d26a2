"""The opening's jobs: the opening record's issues and the officers' fallback.

The entry points are thin wrappers around the services' work (``record.issue`` under
``run_once``; ``officers.open_remaining`` before it, for the reason
``open_by_officers`` gives); ``request_record`` and ``request_officers`` ask for
them in the caller's transaction. The modules this one imports cannot import it
back, yet their work asks for jobs: a share handed over asks for the officers, and
a lot read out, by a bidder or by the officers' job, asks for a record. So they take
the request functions as arguments from their callers above this module (the
routes, the chronograph and the entry points here); modules above it, such as
``objections``, call them directly.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import jobs
from trading.opening import officers, record
from trading.opening import queries as q


async def request_record(conn: asyncpg.Connection, lot_id: UUID, as_of: int) -> None:
    """Ask for an issue of the lot's record as of hall event ``as_of`` (after the caller
    commits)."""
    await jobs.enqueue(conn, issue_opening_record, f"opening-record:{lot_id}:{as_of}",
                       lot_id=str(lot_id))


async def request_officers(conn: asyncpg.Connection, lot_id: UUID) -> None:
    """Ask for the officers' job of the lot's current round (``officers.job_key``)."""
    await jobs.enqueue(conn, open_by_officers, await officers.job_key(conn, lot_id),
                       lot_id=str(lot_id))


@jobs.job
async def issue_opening_record(ctx: dict[str, Any], outbox_id: int) -> None:
    """Issue the lot's opening record as of its hall's last event (the hall is told once
    the issue has committed)."""
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await record.issue(conn, ctx["store"], ctx["settings"], UUID(args["lot_id"]))
    await jobs.run_once(ctx, outbox_id, body)


@jobs.job
async def open_by_officers(ctx: dict[str, Any], outbox_id: int) -> None:
    """Open the lot's remaining bids with the officers' shares.

    The work commits bid by bid (the hall shows each at once) and holds no
    transaction while a bid is fetched and decrypted, so it cannot run inside
    ``run_once``'s transaction; nor may it take a second connection while
    ``run_once`` holds one: the worker's pool is smaller than the number of jobs
    arq runs at once, and jobs each holding one connection while waiting for
    another would wait for ever. So the work runs first, on a connection it
    gives back, and ``run_once`` then records the outcome: done, or the failure,
    retried after a backoff (the work is idempotent and carries on where it
    stopped).
    """
    failure: Exception | None = None
    pool: asyncpg.Pool = ctx["db_pool"]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(q.OUTBOX_JOB, outbox_id)
        if row is not None and row["done_at"] is None:
            try:
                await officers.open_remaining(conn, ctx["store"], ctx["settings"],
                                              UUID(row["args"]["lot_id"]), env=ctx,
                                              request_record=request_record)
            except Exception as exc:  # recorded by run_once below, for the retry
                failure = exc

    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        if failure is not None:
            raise failure
    await jobs.run_once(ctx, outbox_id, body)
