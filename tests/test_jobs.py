"""Outbox and jobs: nothing is lost while Redis is down, and a job runs once."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import pkgutil
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from redis.exceptions import RedisError

from app import JOBS
from core import audit, db, jobs
from core.db import create_pool
from core.identity import service as identity
from core.migrate import upgrade_async
from core.notify import notify
from core.settings import Settings
from core.worker import IN_PROGRESS_LEASE_S, Jobs, LeasingWorker, build_worker, run_worker
from tests.conftest import ROOT, create_database, database_url, drop_database
from trading.opening import jobs as opening_jobs


class RedisServer:
    """A redis-server of this test's own, so it can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is installed by make test"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


async def committed_notification(pool: asyncpg.Pool, *, login: str,
                                 key: str) -> tuple[UUID, int]:
    """A person and a notification job for them, committed together."""
    async with pool.acquire() as conn, conn.transaction():
        user_id = await identity.create_user(conn, audit.SYSTEM, login=login, name="收件人",
                                             roles=["expert"])
        outbox_id = await notify(conn, key=key, user_id=user_id, subject="澄清文件",
                                 subject_en="Clarification")
    assert outbox_id is not None
    return user_id, outbox_id


async def forget(pool: asyncpg.Pool, *, login: str, key: str) -> None:
    """Remove what a committed job test left (the audit rows stay, as they must)."""
    await pool.execute("DELETE FROM notifications WHERE outbox_id IN "
                       "(SELECT id FROM outbox WHERE job_key LIKE $1)", f"notify:{key}:%")
    await pool.execute("DELETE FROM outbox WHERE job_key LIKE $1", f"notify:{key}:%")
    await pool.execute("DELETE FROM users WHERE login = $1", login)


@pytest.fixture(scope="module")
async def own_db(settings: Settings) -> AsyncIterator[Settings]:
    """The settings with a migrated database of this module's own. These tests commit, count
    the outbox and run real workers (whose chronograph acts on every due row it finds): other
    tests' committed data must not reach them, nor they it."""
    name = f"th_jobs_{secrets.token_hex(4)}"
    url = await create_database(settings.database.url, name)
    await upgrade_async(url)
    yield replace(settings, database=replace(settings.database, url=url))
    await drop_database(settings.database.url, name)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


async def test_job_enqueued_while_redis_is_down_runs_exactly_once(
        own_db: Settings, redis_server: RedisServer) -> None:
    pool = await create_pool(own_db.database.url, min_size=1, max_size=3)
    login = f"notified-{secrets.token_hex(3)}"
    queue = f"test:queue:{secrets.token_hex(3)}"
    job_settings = replace(own_db, redis=replace(own_db.redis, url=redis_server.url,
                                                   queue=queue))
    try:
        # Redis is down (never started): the change and its job commit together.
        user_id, outbox_id = await committed_notification(pool, login=login,
                                                          key="clarification-1")

        with pytest.raises((RedisError, OSError)):
            redis = await jobs.connect_redis(redis_server.url)
            await jobs.relay_once(pool, redis, queue=queue)
        row = await pool.fetchrow("SELECT relayed_at, done_at FROM outbox WHERE id = $1", outbox_id)
        assert row["relayed_at"] is None and row["done_at"] is None

        # Redis comes back: the row is relayed, then relayed a second time
        # (as after a relay crash between enqueue and commit).
        redis_server.start()
        redis = await jobs.connect_redis(redis_server.url)
        try:
            assert await jobs.relay_once(pool, redis, queue=queue) >= 1
            await pool.execute("UPDATE outbox SET relayed_at = NULL WHERE id = $1", outbox_id)
            assert await jobs.relay_once(pool, redis, queue=queue) >= 1
            assert await pool.fetchval("SELECT relay_count FROM outbox WHERE id = $1",
                                       outbox_id) == 2

            worker = build_worker(job_settings, TEST_JOBS, burst=True)
            await worker.main()
            await worker.close()

            count = await pool.fetchval(
                "SELECT count(*) FROM notifications WHERE user_id = $1", user_id)
            assert count == 1
            row = await pool.fetchrow("SELECT done_at, run_count FROM outbox WHERE id = $1",
                                      outbox_id)
            assert row["done_at"] is not None and row["run_count"] == 1

            # Even after Redis forgot the job id, a third delivery does nothing.
            await redis.flushdb()
            await pool.execute("UPDATE outbox SET relayed_at = NULL WHERE id = $1", outbox_id)
            await jobs.relay_once(pool, redis, queue=queue)
            worker = build_worker(job_settings, TEST_JOBS, burst=True)
            await worker.main()
            await worker.close()
            assert await pool.fetchval(
                "SELECT count(*) FROM notifications WHERE user_id = $1", user_id) == 1
            assert await pool.fetchval("SELECT run_count FROM outbox WHERE id = $1",
                                       outbox_id) == 1
        finally:
            await redis.aclose()
    finally:
        await forget(pool, login=login, key="clarification-1")
        await pool.close()


async def test_enqueue_is_idempotent_per_key(conn: asyncpg.Connection) -> None:
    user_id = await identity.create_user(conn, audit.SYSTEM, login="twice-notified", name="两次",
                                         roles=["expert"])
    first = await notify(conn, key="k", user_id=user_id, subject="a", subject_en="a")
    second = await notify(conn, key="k", user_id=user_id, subject="a", subject_en="a")
    assert first is not None and second is None
    async def not_a_job(ctx: dict[str, object], outbox_id: int) -> None:
        return None

    with pytest.raises(TypeError, match="not a job function"):
        await jobs.enqueue(conn, not_a_job, "x")


def test_every_job_function_is_wired_to_the_worker() -> None:
    """A job nobody runs would wait in the outbox forever: every @jobs.job function of the
    server's packages is in ``app.JOBS``, and ``app.JOBS`` lists jobs only."""
    found = set()
    for package in ("core", "signing", "trading", "evaluation", "archive"):
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            module = importlib.import_module(info.name)
            found |= {f"{module.__name__}.{name}" for name, value in vars(module).items()
                      if jobs.is_job(value) and value.__module__ == module.__name__}
    wired = {f"{f.__module__}.{f.__name__}" for f in JOBS.functions}
    assert found == wired
    assert {s.function for s in JOBS.schedules} <= set(JOBS.functions)


async def test_rolled_back_change_leaves_no_job(conn: asyncpg.Connection) -> None:
    user_id = await identity.create_user(conn, audit.SYSTEM, login="rolled-back", name="回滚",
                                         roles=["expert"])
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await notify(conn, key="gone", user_id=user_id, subject="s", subject_en="s")
            raise RuntimeError("the change failed")
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE job_key LIKE 'notify:gone:%'") == 0


async def test_worker_process_waits_out_a_redis_outage(own_db: Settings,
                                                       redis_server: RedisServer) -> None:
    """The real `tenderhall worker`: started with Redis down, it delivers once Redis is up."""
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    login = f"worker-e2e-{secrets.token_hex(3)}"
    env = {**os.environ, "DATABASE_URL": own_db.database.url, "REDIS_URL": redis_server.url,
           "REDIS_QUEUE": f"test:worker:{secrets.token_hex(3)}",
           "S3_BUCKET_PREFIX": own_db.storage.bucket_prefix}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from app import cli; cli()", "worker"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        user_id, outbox_id = await committed_notification(pool, login=login, key="worker-e2e")
        await asyncio.sleep(2)  # the worker is up, Redis is not: the row must wait
        assert worker.poll() is None, "the worker must survive Redis being down"
        assert await pool.fetchval("SELECT relayed_at FROM outbox WHERE id = $1", outbox_id) is None

        redis_server.start()
        for _ in range(150):
            if await pool.fetchval("SELECT done_at FROM outbox WHERE id = $1", outbox_id):
                break
            await asyncio.sleep(0.2)
        row = await pool.fetchrow("SELECT done_at, run_count FROM outbox WHERE id = $1", outbox_id)
        assert row["done_at"] is not None, "the job did not run within 30 s of Redis coming back"
        assert row["run_count"] == 1
        assert await pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1",
                                   user_id) == 1
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        await forget(pool, login=login, key="worker-e2e")
        await pool.close()


def test_worker_stops_on_sigterm(own_db: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": own_db.database.url,
           "S3_BUCKET_PREFIX": own_db.storage.bucket_prefix}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from app import cli; cli()", "worker"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    seen = []
    for line in worker.stderr:  # signals are handled from its first log line on
        seen.append(line)
        if "worker_started" in line:
            break
    assert worker.poll() is None, "".join(seen)[-2000:]
    worker.terminate()
    _, err = worker.communicate(timeout=15)
    assert worker.returncode == 0, err[-2000:]
    assert "worker_stopped" in err


@jobs.job
async def flaky_test_job(ctx: dict[str, object], outbox_id: int) -> None:
    """Fails on its first run, as an insurer's gateway might."""
    async def body(conn: asyncpg.Connection, args: dict[str, object]) -> None:
        runs = await conn.fetchval("SELECT run_count FROM outbox WHERE id = $1", outbox_id)
        await conn.execute("INSERT INTO notifications (outbox_id, user_id, subject, subject_en) "
                           "VALUES ($1, $2, 'x', 'x')", outbox_id, UUID(str(args["user_id"])))
        if runs == 0:
            raise RuntimeError("insurer gateway timed out")

    await jobs.run_once(ctx, outbox_id, body)  # type: ignore[arg-type]


# the application's jobs and this file's own
TEST_JOBS = Jobs(functions=[*JOBS.functions, flaky_test_job])


async def test_failed_job_is_retried_after_a_backoff_not_lost(own_db: Settings,
                                                              redis_server: RedisServer) -> None:
    pool = await create_pool(own_db.database.url, min_size=1, max_size=3)
    login = f"flaky-{secrets.token_hex(3)}"
    queue = f"test:flaky:{secrets.token_hex(3)}"
    job_settings = replace(own_db, redis=replace(own_db.redis, url=redis_server.url,
                                                   queue=queue))
    redis_server.start()
    redis = await jobs.connect_redis(redis_server.url)
    try:
        async with pool.acquire() as conn, conn.transaction():
            user_id = await identity.create_user(conn, audit.SYSTEM, login=login, name="重试",
                                                 roles=["expert"])
            outbox_id = await jobs.enqueue(conn, flaky_test_job, f"notify:flaky:{login}",
                                           user_id=str(user_id))
        assert await jobs.relay_once(pool, redis, queue=queue) == 1
        worker = build_worker(job_settings, TEST_JOBS, burst=True)
        await worker.main()
        await worker.close()
        row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
        assert row["done_at"] is None and row["run_count"] == 1
        assert "insurer gateway timed out" in row["last_error"]
        assert row["relayed_at"] is None
        delay = await pool.fetchval("SELECT available_at - now() FROM outbox WHERE id = $1",
                                    outbox_id)
        assert 5 < delay.total_seconds() <= 10
        # the failed try's writes were rolled back
        assert await pool.fetchval("SELECT count(*) FROM notifications WHERE outbox_id = $1",
                                   outbox_id) == 0
        assert await jobs.relay_once(pool, redis, queue=queue) == 0  # still backing off

        await pool.execute("UPDATE outbox SET available_at = now() WHERE id = $1", outbox_id)
        assert await jobs.relay_once(pool, redis, queue=queue) == 1
        worker = build_worker(job_settings, TEST_JOBS, burst=True)
        await worker.main()
        await worker.close()
        row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
        assert row["done_at"] is not None and row["run_count"] == 2 and row["last_error"] is None
        assert await pool.fetchval("SELECT count(*) FROM notifications WHERE outbox_id = $1",
                                   outbox_id) == 1
    finally:
        await redis.aclose()
        await forget(pool, login=login, key="flaky")
        await pool.close()


async def test_relayed_job_lost_by_redis_is_relayed_again(own_db: Settings,
                                                          redis_server: RedisServer) -> None:
    """Redis emptied (restarted without persistence, or flushed): relayed rows not done go
    again at once, since the relay's sentinel went with them; rows merely old go again after
    REDELIVER_AFTER."""
    pool = await create_pool(own_db.database.url, min_size=1, max_size=3)
    login = f"lost-{secrets.token_hex(3)}"
    redis_server.start()
    redis = await jobs.connect_redis(redis_server.url)
    queue = f"test:lost:{secrets.token_hex(3)}"
    try:
        _, outbox_id = await committed_notification(pool, login=login, key="lost")
        assert await jobs.relay_once(pool, redis, queue=queue) == 1
        assert await jobs.relay_once(pool, redis, queue=queue) == 0  # Redis still has it
        await redis.flushall()  # the queued job is gone, and the sentinel with it
        assert await jobs.relay_once(pool, redis, queue=queue) == 1
        assert await redis.zcard(queue) == 1
        assert await jobs.relay_once(pool, redis, queue=queue) == 0
        await pool.execute("UPDATE outbox SET relayed_at = now() - interval '11 minutes' "
                           "WHERE id = $1", outbox_id)
        assert await jobs.relay_once(pool, redis, queue=queue) == 1
        assert await pool.fetchval("SELECT relay_count FROM outbox WHERE id = $1",
                                   outbox_id) == 3
    finally:
        await redis.aclose()
        await forget(pool, login=login, key="lost")
        await pool.close()


COMMITTED: list[str] = []


@jobs.job
async def hooked_test_job(ctx: dict[str, object], outbox_id: int) -> None:
    """Registers after-commit work, then fails if told to."""
    async def body(conn: asyncpg.Connection, args: dict[str, object]) -> None:
        db.on_commit(conn, lambda: _note(f"{args['name']}:1"))
        db.on_commit(conn, _boom)
        db.on_commit(conn, lambda: _note(f"{args['name']}:2"))
        if args["fail"]:
            raise RuntimeError("the job's body failed")

    await jobs.run_once(ctx, outbox_id, body)  # type: ignore[arg-type]


# ------------------------------------------------------------ after a failure
# Each test breaks a service instance of its own (its own redis-server, its own worker
# process, its own database refusing connections) and measures how long the pending job
# takes once that part is back. The bound is a minute; before, it was five to ten.
BACK_WITHIN_S = 60.0


@jobs.job
async def gated_test_job(ctx: dict[str, object], outbox_id: int) -> None:
    """The first run marks that it started, then waits for the test's word; later runs go
    straight on. What it does is one notification row, so a second run would show."""
    async def body(conn: asyncpg.Connection, args: dict[str, object]) -> None:
        started, release = Path(str(args["started"])), Path(str(args["release"]))
        if not started.exists():
            started.touch()
            while not release.exists():
                await asyncio.sleep(0.05)
        await conn.execute("INSERT INTO notifications (outbox_id, user_id, subject, subject_en) "
                           "VALUES ($1, $2, 'x', 'x')", outbox_id, UUID(str(args["user_id"])))

    await jobs.run_once(ctx, outbox_id, body)  # type: ignore[arg-type]


async def _note(text: str) -> None:
    COMMITTED.append(text)


async def _boom() -> None:
    raise RuntimeError("a callback that fails is logged, not raised")


async def test_job_after_commit_runs_once_committed_never_after_a_rollback(
        own_db: Settings) -> None:
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    key = secrets.token_hex(3)
    try:
        ids = {}
        async with pool.acquire() as conn, conn.transaction():
            for name, fail in (("ok", False), ("bad", True)):
                ids[name] = await jobs.enqueue(conn, hooked_test_job, f"hooked:{key}:{name}",
                                               name=name, fail=fail)
        COMMITTED.clear()
        await hooked_test_job({"db_pool": pool}, ids["ok"])
        assert COMMITTED == ["ok:1", "ok:2"]  # in order; the failing one in between logged
        assert await pool.fetchval("SELECT done_at FROM outbox WHERE id = $1", ids["ok"])
        with pytest.raises(RuntimeError, match="body failed"):
            await hooked_test_job({"db_pool": pool}, ids["bad"])
        assert COMMITTED == ["ok:1", "ok:2"]
    finally:
        await pool.execute("DELETE FROM outbox WHERE job_key LIKE $1", f"hooked:{key}:%")
        await pool.close()


ADVISORY_LOCKS = """
    SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND a.datname = current_database()
"""


async def test_ten_officers_jobs_at_once_on_the_workers_own_pool(
        own_db: Settings, redis_server: RedisServer) -> None:
    """arq runs 10 jobs at once on the worker's pool of 4 connections: a job that waited
    for a second connection while its run_once held one would wait for ever (the worker
    hangs and this times out). Afterwards no connection holds an advisory lock."""
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    queue = f"test:officers:{secrets.token_hex(3)}"
    job_settings = replace(own_db, redis=replace(own_db.redis, url=redis_server.url,
                                                   queue=queue))
    redis_server.start()
    redis = await jobs.connect_redis(redis_server.url)
    key = secrets.token_hex(3)
    try:
        async with pool.acquire() as conn, conn.transaction():
            ids = [await jobs.enqueue(conn, opening_jobs.open_by_officers,
                                      f"officers-open:{key}:{i}", lot_id=str(uuid4()))
                   for i in range(10)]
        assert await jobs.relay_once(pool, redis, queue=queue) == 10
        worker = build_worker(job_settings, JOBS, burst=True)
        assert worker.max_jobs >= 10
        try:
            await asyncio.wait_for(worker.main(), timeout=120)
        finally:
            await worker.close()
        done = await pool.fetch("SELECT done_at, run_count FROM outbox WHERE id = ANY($1)", ids)
        assert len(done) == 10
        assert all(r["done_at"] is not None and r["run_count"] == 1 for r in done)
        assert await pool.fetchval(ADVISORY_LOCKS) == 0
    finally:
        await redis.aclose()
        await pool.execute("DELETE FROM outbox WHERE job_key LIKE $1", f"officers-open:{key}:%")
        await pool.close()


# the application's jobs and schedules, and the gated job
FAILURE_JOBS = Jobs(functions=[*JOBS.functions, gated_test_job], schedules=JOBS.schedules)
WORKER = ("import asyncio; from core.settings import Settings; from core.worker import run_worker; "
          "from tests.test_jobs import FAILURE_JOBS; "
          "asyncio.run(run_worker(Settings.from_env(), FAILURE_JOBS, lease_s={lease_s!r}))")


def start_worker(settings: Settings, redis_url: str, queue: str,
                 lease_s: float = IN_PROGRESS_LEASE_S) -> subprocess.Popen[bytes]:
    """A real worker process (what `tenderhall worker` runs) that also runs the gated job."""
    env = {**os.environ, "DATABASE_URL": settings.database.url, "REDIS_URL": redis_url,
           "REDIS_QUEUE": queue, "S3_BUCKET_PREFIX": settings.storage.bucket_prefix}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER.format(lease_s=lease_s)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def seconds_until_done(url: str, outbox_id: int) -> float | None:
    """Seconds until the row is done (None: not within BACK_WITHIN_S). A fresh connection
    each time: the test's pool may hold connections the outage cut."""
    start = time.monotonic()
    while time.monotonic() - start < BACK_WITHIN_S:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn = await asyncpg.connect(url)
            try:
                if await conn.fetchval("SELECT done_at FROM outbox WHERE id = $1", outbox_id):
                    return time.monotonic() - start
            finally:
                await conn.close()
        await asyncio.sleep(0.2)
    return None


async def wait_for(path: Path, worker: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if path.exists():
            return
        assert worker.poll() is None, "the worker died"
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path.name} did not appear")


async def gated_job(pool: asyncpg.Pool, tmp_path: Path, *, login: str) -> tuple[UUID, int]:
    async with pool.acquire() as conn, conn.transaction():
        user_id = await identity.create_user(conn, audit.SYSTEM, login=login, name="门控",
                                             roles=["expert"])
        outbox_id = await jobs.enqueue(conn, gated_test_job, f"notify:gated:{login}",
                                       user_id=str(user_id), started=str(tmp_path / "started"),
                                       release=str(tmp_path / "release"))
    assert outbox_id is not None
    return user_id, outbox_id


async def ran_once(url: str, user_id: UUID) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1",
                                         user_id)
        return count
    finally:
        await conn.close()


async def test_job_in_a_redis_that_restarted_empty_runs_within_a_minute(
        own_db: Settings, redis_server: RedisServer) -> None:
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    login = f"redis-restart-{secrets.token_hex(3)}"
    queue = f"test:restart:{secrets.token_hex(3)}"
    redis_server.start()
    worker = None
    try:
        user_id, outbox_id = await committed_notification(pool, login=login, key="restart")
        redis = await jobs.connect_redis(redis_server.url)
        try:
            assert await jobs.relay_once(pool, redis, queue=queue) == 1  # handed to Redis...
        finally:
            await redis.aclose()
        redis_server.stop()  # ...which dies with it, before any worker took it
        redis_server.start()
        worker = start_worker(own_db, redis_server.url, queue)
        took = await seconds_until_done(own_db.database.url, outbox_id)
        print(f"\nredis restarted empty: job done {took} s after Redis was back")
        assert took is not None, "not done within a minute of Redis coming back"
        assert await ran_once(own_db.database.url, user_id) == 1
    finally:
        if worker is not None:
            stop_worker(worker)
        await forget(pool, login=login, key="restart")
        await pool.close()


def test_a_dead_workers_job_is_free_again_within_a_minute() -> None:
    """What the platform's workers hold a job by without word from them: a lease well inside
    the minute (the test below proves the lease with a shorter one of its own)."""
    assert IN_PROGRESS_LEASE_S == 30.0
    assert IN_PROGRESS_LEASE_S + 5 < BACK_WITHIN_S  # and arq's poll, the worker's start
    for func in (run_worker, build_worker):
        assert inspect.signature(func).parameters["lease_s"].default == IN_PROGRESS_LEASE_S
    assert LeasingWorker.__init__.__kwdefaults__["lease_s"] == IN_PROGRESS_LEASE_S


# the lease of the workers in the test below: shorter than the platform's, so the test waits
# a few seconds for it to lapse, not half a minute; the test above pins the platform's
SHORT_LEASE_S = 4.0


async def test_job_of_a_worker_killed_mid_job_runs_within_a_minute(
        own_db: Settings, redis_server: RedisServer, tmp_path: Path) -> None:
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    login = f"killed-{secrets.token_hex(3)}"
    queue = f"test:killed:{secrets.token_hex(3)}"
    redis_server.start()
    first = start_worker(own_db, redis_server.url, queue, lease_s=SHORT_LEASE_S)
    second = None
    try:
        user_id, outbox_id = await gated_job(pool, tmp_path, login=login)
        await wait_for(tmp_path / "started", first)  # the first worker is inside the job
        first.kill()
        first.wait()
        second = start_worker(own_db, redis_server.url, queue, lease_s=SHORT_LEASE_S)
        took = await seconds_until_done(own_db.database.url, outbox_id)
        print(f"\nworker killed mid-job: job done {took} s after a worker was back")
        assert took is not None, "not done within a minute of a worker coming back"
        assert await ran_once(own_db.database.url, user_id) == 1
        assert await pool.fetchval("SELECT run_count FROM outbox WHERE id = $1", outbox_id) == 1
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        await pool.execute("DELETE FROM notifications WHERE outbox_id IN "
                           "(SELECT id FROM outbox WHERE job_key = $1)", f"notify:gated:{login}")
        await pool.execute("DELETE FROM outbox WHERE job_key = $1", f"notify:gated:{login}")
        await pool.execute("DELETE FROM users WHERE login = $1", login)
        await pool.close()


async def test_job_failed_while_the_database_was_down_runs_within_a_minute(
        own_db: Settings, redis_server: RedisServer, tmp_path: Path) -> None:
    """The job fails because its database went away; recording that failure fails too. Once
    the database takes connections again the job runs, within a minute and once."""
    name = own_db.database.url.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(database_url(own_db.database.url, "postgres"))
    pool = await create_pool(own_db.database.url, min_size=1, max_size=2)
    login = f"db-down-{secrets.token_hex(3)}"
    queue = f"test:dbdown:{secrets.token_hex(3)}"
    redis_server.start()
    worker = start_worker(own_db, redis_server.url, queue)
    try:
        user_id, outbox_id = await gated_job(pool, tmp_path, login=login)
        await pool.close()
        await wait_for(tmp_path / "started", worker)
        # the database goes away: no new connections, the open ones cut
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        (tmp_path / "release").touch()  # the job goes on, into a database that is gone
        await asyncio.sleep(3)  # its failure, and the failed attempt to record it
        assert worker.poll() is None, "the worker must survive the database being down"
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        took = await seconds_until_done(own_db.database.url, outbox_id)
        print(f"\ndatabase down: job done {took} s after the database was back")
        assert took is not None, "not done within a minute of the database coming back"
        assert await ran_once(own_db.database.url, user_id) == 1
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        stop_worker(worker)
        conn = await asyncpg.connect(own_db.database.url)
        try:
            await conn.execute("DELETE FROM notifications WHERE outbox_id IN "
                               "(SELECT id FROM outbox WHERE job_key = $1)",
                               f"notify:gated:{login}")
            await conn.execute("DELETE FROM outbox WHERE job_key = $1", f"notify:gated:{login}")
            await conn.execute("DELETE FROM users WHERE login = $1", login)
        finally:
            await conn.close()
