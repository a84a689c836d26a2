"""Jobs: an outbox in PostgreSQL relayed to arq on Redis.

A change that needs a side effect writes an outbox row in its own
transaction (``enqueue``), so the job exists exactly when the change does. The
relay copies pending rows to Redis with the row's ``job_key`` as the arq job
id; while Redis is down rows simply wait. A row relayed twice is still run
once: arq refuses a second job with the same id while the first is known, and
the ``run_once`` guard below records completion in the row itself, so a
re-delivery after arq has forgotten the id finds the work already done.

After a failure, pending work comes back within seconds of the failed part's
return, not at the ten-minute re-send:
- Redis restarted empty: the relay keeps a sentinel key in Redis; when it is
  gone, whatever was relayed and is not done is relayed again at once.
- a worker died mid-job: its in-progress marker is a short lease renewed while
  the job runs (``core.worker``), so another worker takes the job soon after.
- PostgreSQL down: a failure that cannot be recorded is kept in the worker's
  memory and written by the relay as soon as the database answers, which makes
  the row due again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings as ArqRedisSettings
from redis.exceptions import RedisError

from core import db
from core import queries as q

log = structlog.get_logger(__name__)

JobFunc = Callable[..., Awaitable[Any]]
_MARK = "__tenderhall_job__"


def job(func: JobFunc) -> JobFunc:
    """Mark an arq job function. Marking registers nothing: the worker runs the functions
    the application lists (``app.JOBS``), and a test checks that every marked function is
    listed there, so a job cannot exist without a worker that runs it."""
    setattr(func, _MARK, func.__name__)
    return func


def is_job(func: object) -> bool:
    return isinstance(getattr(func, _MARK, None), str)


def job_name(func: JobFunc) -> str:
    """The name the outbox stores and arq dispatches on (the function's own name)."""
    name = getattr(func, _MARK, None)
    if not isinstance(name, str):
        raise TypeError(f"{func!r} is not a job function (mark it with @jobs.job)")
    return name


async def enqueue(
    conn: asyncpg.Connection,
    function: JobFunc,
    job_key: str,
    *,
    available_at: datetime | None = None,
    **args: Any,
) -> int | None:
    """Write an outbox row in the caller's transaction; None if job_key is already queued.

    ``function`` is the job function itself, not its name: a renamed or removed job is an
    import error where it is enqueued, not a row that no worker can run."""
    row_id: int | None = await conn.fetchval(
        q.ENQUEUE, job_key, job_name(function), args, available_at,
    )
    return row_id


async def args_of(conn: asyncpg.Connection, outbox_id: int) -> dict[str, Any] | None:
    """A job's arguments, read without taking its row: for a job that must do its network
    I/O before ``run_once`` opens its transaction."""
    args: dict[str, Any] | None = await conn.fetchval(q.OUTBOX_ARGS, outbox_id)
    return args


def arq_settings(url: str) -> ArqRedisSettings:
    settings = ArqRedisSettings.from_dsn(url)
    settings.conn_retries = 0
    settings.conn_timeout = 2
    return settings


async def connect_redis(url: str) -> ArqRedis:
    return await create_pool(arq_settings(url))


# A relayed row not done after this long is relayed again: Redis may have lost
# it (restarted without persistence). run_once makes the second copy harmless.
REDELIVER_AFTER = timedelta(minutes=10)
# Present in Redis while Redis still holds what the relay handed it; see relay_once.
SENTINEL_SUFFIX = ":outbox-relay-sentinel"
RETRY_BASE = timedelta(seconds=10)
RETRY_MAX = timedelta(hours=1)


def arq_job_id(job_key: str, delivery: int) -> str:
    """One arq id per delivery: a retry is not swallowed by arq's memory of a failed try."""
    return f"{job_key}#{delivery}"


# Failures run_once could not record because the database was down: outbox id -> error.
# The relay of the same process writes them once the database answers.
_UNRECORDED: dict[int, str] = {}


async def relay_once(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, redis: ArqRedis, *, queue: str,
    limit: int = 200, redeliver_after: timedelta = REDELIVER_AFTER,
) -> int:
    """Relay due outbox rows to Redis; returns how many were handed over.

    Each row is marked in the same transaction that locked it, after Redis
    accepted it; if Redis fails the transaction rolls back and the row stays
    pending. A crash between the two leaves the row pending with the same
    delivery number, so the next relay's copy is absorbed by the arq job id.

    A missing sentinel key means this Redis no longer holds what was relayed
    (restarted without persistence, or flushed): every relayed row not done
    goes again now. The sentinel is set only after that commits, so a failure
    in between only repeats the re-send. Rows being run (locked by run_once)
    are skipped: they are not lost, and waiting for them would stall the relay.
    """
    sentinel = queue + SENTINEL_SUFFIX
    unrecorded = dict(_UNRECORDED)

    async def work(conn: asyncpg.Connection) -> tuple[int, bool]:
        async with conn.transaction():
            for outbox_id, error in unrecorded.items():
                await conn.execute(q.RECORD_UNRECORDED, outbox_id, error)
            forgotten = not await redis.exists(sentinel)
            await conn.execute(q.RESET_RELAYED, None if forgotten else redeliver_after)
            rows = await conn.fetch(q.DUE_ROWS, limit)
            for row in rows:
                await redis.enqueue_job(row["function"], row["id"],
                                        _job_id=arq_job_id(row["job_key"], row["relay_count"] + 1),
                                        _queue_name=queue)
                await conn.execute(q.MARK_RELAYED, row["id"])
            return len(rows), forgotten

    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            moved, forgotten = await work(conn)
    else:
        moved, forgotten = await work(pool_or_conn)
    for outbox_id in unrecorded:
        _UNRECORDED.pop(outbox_id, None)
    if forgotten:
        await redis.set(sentinel, b"1")
        log.info("outbox_relay_sentinel_set", queue=queue)
    return moved


async def relay_forever(pool: asyncpg.Pool, redis_url: str, *, queue: str,
                        interval: float = 0.5) -> None:
    """The relay loop: survives Redis and PostgreSQL outages, with backoff."""
    redis: ArqRedis | None = None
    delay = interval
    while True:
        try:
            if redis is None:
                redis = await connect_redis(redis_url)
            moved = await relay_once(pool, redis, queue=queue)
            delay = interval
            if moved:
                log.info("outbox_relayed", count=moved)
                continue
        except (TimeoutError, RedisError, OSError, ConnectionError) as exc:
            log.warning("outbox_relay_waiting", error=str(exc), retry_in=delay)
            if redis is not None:
                with contextlib.suppress(Exception):
                    await redis.aclose()
            redis = None
            delay = min(delay * 2, 10.0)
        except Exception as exc:  # the database, most likely: keep going, it comes back
            log.exception("outbox_relay_failed", error=str(exc), retry_in=delay)
            delay = min(delay * 2, 10.0)
        await asyncio.sleep(delay)


async def run_once(ctx: dict[str, Any], outbox_id: int,
                   body: Callable[[asyncpg.Connection, dict[str, Any]], Awaitable[Any]]) -> Any:
    """Run a job's body exactly once per outbox row, in one transaction.

    The row is locked for the duration, so two deliveries of the same job
    cannot run side by side; the one that comes second sees ``done_at`` set.
    When the body fails, its writes roll back and the failure is recorded in
    a transaction of its own, with the row set to be relayed again after a
    backoff: a failed job is retried, never silently dropped. What the body
    registers with ``db.on_commit`` runs once the job's transaction has
    committed, with ``ctx`` as its environment.
    """
    pool: asyncpg.Pool = ctx["db_pool"]
    try:
        async with pool.acquire() as conn, db.transaction(conn, ctx):
            row = await conn.fetchrow(q.LOCK_OUTBOX_ROW, outbox_id)
            if row is None:
                log.warning("job_without_outbox_row", outbox_id=outbox_id)
                return None
            if row["done_at"] is not None:
                log.info("job_already_done", outbox_id=outbox_id)
                return None
            result = await body(conn, row["args"])
            await conn.execute(q.MARK_DONE, outbox_id)
            return result
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            # backoff: 10 s, 20 s, 40 s ... capped at an hour
            failures = await pool.fetchval(q.RECORD_FAILURE, outbox_id, error, RETRY_BASE,
                                           RETRY_MAX)
        except Exception as record_exc:  # the database itself is down: remember it here
            _UNRECORDED[outbox_id] = error
            log.warning("job_failed_unrecorded", outbox_id=outbox_id, error=str(exc)[:300],
                        record_error=str(record_exc)[:300])
            raise exc from None
        log.warning("job_failed_will_retry", outbox_id=outbox_id, failures=failures,
                    error=str(exc)[:300])
        raise
