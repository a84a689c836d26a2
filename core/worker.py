"""The worker process: arq functions plus the outbox relay.

The relay runs beside the arq worker, not inside it, because it must keep
going (and keep rows safe) while Redis is down, which is exactly when an arq
worker cannot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from arq.constants import in_progress_key_prefix
from arq.cron import cron
from arq.worker import Worker
from redis.exceptions import RedisError

from core import jobs
from core.db import create_pool
from core.settings import Settings
from core.storage import open_store

log = structlog.get_logger(__name__)

# How long a job a worker took stays its own without word from that worker. arq
# holds the in-progress marker for the longest job timeout (five minutes) plus ten
# seconds, so a worker that died mid-job held its job that long; here the marker
# is a lease renewed while the job runs, and a dead worker's job is free again
# within this. The job's run time is still limited by arq's job_timeout.
IN_PROGRESS_LEASE_S = 30.0


@dataclass(frozen=True)
class Schedule:
    """A job run by the clock (arq cron): at ``minute`` of each hour, or every minute."""

    function: jobs.JobFunc
    minute: frozenset[int] | None = None
    run_at_startup: bool = True


@dataclass(frozen=True)
class Jobs:
    """What a worker runs: the job functions and the clock's schedules. The application
    lists them in one place (``app.JOBS``); nothing registers itself by being imported."""

    functions: Sequence[jobs.JobFunc]
    schedules: Sequence[Schedule] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for func in [*self.functions, *(s.function for s in self.schedules)]:
            jobs.job_name(func)  # a function not marked @jobs.job is a wiring mistake


class LeasingWorker(Worker):
    """arq's worker with its in-progress markers held as short, renewed leases."""

    def __init__(self, *args: Any, lease_s: float = IN_PROGRESS_LEASE_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = lease_s  # read by arq when it marks a job started

    async def main(self) -> None:
        keeper = asyncio.create_task(self._renew_leases())
        try:
            await super().main()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _renew_leases(self) -> None:
        """A task of its own: the poll loop blocks while every job slot is taken."""
        lease_ms = int(self.in_progress_timeout_s * 1000)
        while True:
            await asyncio.sleep(self.in_progress_timeout_s / 4)
            running = [job_id for job_id, task in self.job_tasks.items() if not task.done()]
            if not running or self._pool is None:
                continue
            try:
                async with self.pool.pipeline(transaction=False) as pipe:
                    for job_id in running:
                        # PEXPIRE only extends a marker that exists: a finished
                        # job's deleted marker is not brought back
                        pipe.pexpire(in_progress_key_prefix + job_id, lease_ms)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("worker_lease_renewal_failed", error=str(exc), jobs=len(running))


def build_worker(settings: Settings, wiring: Jobs, *, burst: bool = False,
                 db_pool: Any = None, lease_s: float = IN_PROGRESS_LEASE_S) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["db_pool"] = db_pool or await create_pool(settings.database.url, min_size=1,
                                                      max_size=4)
        ctx["own_pool"] = db_pool is None
        ctx["store"] = open_store(settings.storage)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if ctx.get("own_pool"):
            await ctx["db_pool"].close()

    return LeasingWorker(
        lease_s=lease_s,
        functions=list(wiring.functions),  # type: ignore[arg-type]
        redis_settings=jobs.arq_settings(settings.redis.url),
        queue_name=settings.redis.queue,
        on_startup=startup,
        on_shutdown=shutdown,
        burst=burst,
        cron_jobs=[] if burst else [
            cron(s.function, name=f"cron:{jobs.job_name(s.function)}",  # type: ignore[arg-type]
                 minute=set(s.minute) if s.minute is not None else None,
                 run_at_startup=s.run_at_startup, unique=True)
            for s in wiring.schedules],
        keep_result=24 * 3600,
        max_tries=5,
        handle_signals=False,
    )


async def run_worker(settings: Settings, wiring: Jobs, *,
                     lease_s: float = IN_PROGRESS_LEASE_S) -> None:
    """Relay forever; run the arq worker, restarting it after a Redis outage.

    SIGTERM or SIGINT stops both. A job cut off mid-way rolls back with its
    transaction (``jobs.run_once``) and runs again on the next delivery.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker_started", queue=settings.redis.queue)  # from here SIGTERM stops it cleanly
    pool = await create_pool(settings.database.url, min_size=1, max_size=4)
    relay = asyncio.create_task(
        jobs.relay_forever(pool, settings.redis.url, queue=settings.redis.queue))
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            worker = build_worker(settings, wiring, db_pool=pool, lease_s=lease_s)
            running = asyncio.create_task(worker.async_run())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                running.cancel()
            try:
                await running
            except asyncio.CancelledError:
                pass
            except (RedisError, OSError, ConnectionError) as exc:
                log.warning("worker_redis_unavailable", error=str(exc))
            except Exception:
                log.exception("worker_failed")
            with contextlib.suppress(Exception):
                await worker.close()
            if not stop.is_set():
                await asyncio.wait({stopping}, timeout=2)
    finally:
        for task in (relay, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pool.close()
        log.info("worker_stopped")
