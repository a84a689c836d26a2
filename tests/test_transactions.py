"""One transaction per request: a failing request leaves no partial write."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from core import audit, db
from core.db import create_pool, provide_transaction, transaction_middleware
from core.deps import Conn
from core.errors import Conflict
from core.http_errors import EXCEPTION_HANDLERS
from core.settings import Settings
from tests.conftest import Client, World, credit_code, login


@post("/api/write-then-fail/{fail:int}")
async def write_then_fail(conn: Conn, fail: FromPath[int],
                          data: JSONBody[dict[str, Any]]) -> dict[str, str]:
    await conn.execute(
        "INSERT INTO organizations (credit_code, name, kind) VALUES ($1, $2, 'bidder')",
        data["code"], "半途失败公司")
    await audit.record(conn, audit.SYSTEM, "organization.create", "organization", data["code"])
    if fail == 1:
        raise Conflict({"why": "after the write"})
    if fail == 2:
        raise RuntimeError("an unexpected bug after the write")
    return {"ok": "yes"}


CALLED: list[str] = []


async def _note(text: str) -> None:
    CALLED.append(text)


async def _boom() -> None:
    raise RuntimeError("a failing callback is logged, not raised")


@post("/api/after-commit/{fail:int}")
async def after_commit(conn: Conn, fail: FromPath[int]) -> dict[str, str]:
    # a transaction-scoped advisory lock, as the audit chain and the hall take them
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('test-lock', 0))")
    db.on_commit(conn, lambda: _note(f"first {fail}"))
    db.on_commit(conn, _boom)
    db.on_commit(conn, lambda: _note(f"second {fail}"))
    if fail:
        raise Conflict({"why": "after registering"})
    return {"ok": "yes"}


RealClient = tuple[Client, asyncpg.Pool]


@pytest.fixture
async def real_pool_client(settings: Settings) -> AsyncIterator[RealClient]:
    """A small app on the real pool: commits and rollbacks are the real ones."""
    pool = await create_pool(settings.database.url, min_size=1, max_size=2)
    app = Litestar([write_then_fail, after_commit], dependencies={"conn": Provide(provide_transaction)},
                   middleware=[transaction_middleware],
                   exception_handlers=EXCEPTION_HANDLERS, state=State({"db_pool": pool}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, pool
    await pool.close()


async def test_failing_request_rolls_back(real_pool_client: RealClient) -> None:
    client, pool = real_pool_client
    audit_before = await pool.fetchval("SELECT count(*) FROM audit_log")
    for fail, status in ((1, 409), (2, 500)):
        code = credit_code()
        r = await client.post(f"/api/write-then-fail/{fail}", json={"code": code})
        assert r.status_code == status
        assert r.json()["code"] in {"conflict", "internal_error"}
        assert await pool.fetchval("SELECT count(*) FROM organizations WHERE credit_code = $1",
                                   code) == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == audit_before

    code = credit_code()
    r = await client.post("/api/write-then-fail/0", json={"code": code})
    assert r.status_code == 201
    assert await pool.fetchval("SELECT count(*) FROM organizations WHERE credit_code = $1",
                               code) == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == audit_before + 1
    await pool.execute("DELETE FROM organizations WHERE credit_code = $1", code)


COUNTS = "SELECT (SELECT count(*) FROM tenders) t, (SELECT count(*) FROM audit_log) a"


async def test_rejected_api_request_changes_nothing(client: Client,
                                                    conn: Conn, world: World) -> None:
    """Through the real app: a duplicate tender code fails after the user was loaded."""
    org = await world.org("tenderer")
    await login(client, await world.user("tenderer", org))
    code = f"T-{secrets.token_hex(3)}"
    assert (await client.post("/api/tenders/", json={"code": code, "title": "一"})).status_code == 201
    counts = await conn.fetchrow(COUNTS)
    r = await client.post("/api/tenders/", json={"code": code, "title": "二"})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert r.json()["message"] == "项目编号已存在"
    after = await conn.fetchrow(COUNTS)
    assert after == counts


async def test_after_commit_callbacks_run_in_order_after_commit_only(
        real_pool_client: RealClient) -> None:
    client, pool = real_pool_client
    CALLED.clear()
    r = await client.post("/api/after-commit/0")
    assert r.status_code == 201, r.text  # the failing callback in between changed nothing
    assert CALLED == ["first 0", "second 0"]
    r = await client.post("/api/after-commit/1")
    assert r.status_code == 409
    assert CALLED == ["first 0", "second 0"]  # rolled back: none of them ran
    # no connection went back to the pool holding the request's advisory lock
    async with pool.acquire() as one, pool.acquire() as two:
        pids = [one.get_server_pid(), two.get_server_pid()]
        assert await one.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND pid = ANY($1)", pids) == 0


async def test_on_commit_outside_a_transaction_of_core_db_is_refused(
        conn: asyncpg.Connection) -> None:
    """Nobody would run it: registering is a bug, not a silent loss."""
    with pytest.raises(RuntimeError, match="no transaction"):
        db.on_commit(conn, _boom)
    async with db.transaction(conn, {}):
        async with db.transaction(conn):  # a savepoint: its callbacks wait for the outer one
            db.on_commit(conn, lambda: _note("inner"))
        CALLED.clear()
        with contextlib.suppress(RuntimeError):
            async with db.transaction(conn):
                db.on_commit(conn, lambda: _note("rolled back"))
                raise RuntimeError("roll the savepoint back")
        assert CALLED == []
    assert CALLED == ["inner"]
