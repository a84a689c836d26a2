"""PostgreSQL through asyncpg: the pool and the one-transaction-per-request dependency.

Services take a connection and never commit; the dependency below opens the
transaction before the handler runs and commits after it returns, or rolls
back when it raises, so a failing request leaves no partial write.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from litestar import Request
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

Connection = asyncpg.Connection  # the type services receive
Pool = asyncpg.Pool
_TX_KEY = "db_transaction"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=lambda v: json.dumps(v, ensure_ascii=False, default=str),
            decoder=json.loads, schema="pg_catalog",
        )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """End whatever a request left open, in one round trip only when needed.

    asyncpg's default reset (unlock advisory locks, close cursors, unlisten,
    reset settings) costs a round trip on every release. The platform keeps
    no session state: locks are transaction-scoped and settings are fixed at
    connect time, so only an unfinished transaction needs undoing.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn=url, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=_reset_connection,
        server_settings={"timezone": "UTC", "application_name": "tenderhall"},
    )
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn=url, server_settings={"timezone": "UTC", "application_name": "tenderhall"},
    )
    await _init_connection(conn)
    return conn


@dataclass
class _RequestTransaction:
    conn: asyncpg.Connection
    tx: Transaction
    pool: asyncpg.Pool | None  # None: the connection is borrowed (tests), not ours to release


async def provide_transaction(request: Request[Any, Any, Any], state: State) -> asyncpg.Connection:
    """Litestar dependency: the request's connection, inside its one transaction.

    The transaction is opened the first time a handler or dependency asks for
    it and finished by ``transaction_middleware`` when the response starts:
    committed for a 2xx/3xx, rolled back otherwise. Finishing it in middleware
    rather than in a generator dependency means it is finished exactly once,
    before the client hears anything, whatever raised and wherever.

    In tests ``state.shared_connection`` holds a connection already inside the
    test's transaction; the request then runs in a savepoint on it.
    """
    if request.scope["type"] != "http":  # type: ignore[comparison-overlap]
        # a WebSocket has no response to finish the transaction at; those
        # handlers take short transactions from the pool themselves
        raise RuntimeError("conn is for HTTP handlers only")
    scope_state = request.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    current: _RequestTransaction | None = scope_state.get(_TX_KEY)
    if current is not None:
        return current.conn
    shared: asyncpg.Connection | None = getattr(state, "shared_connection", None)
    pool: asyncpg.Pool | None = None
    if shared is not None:
        conn = shared
    else:
        pool = state.db_pool
        conn = await pool.acquire()
    tx = conn.transaction()
    try:
        await tx.start()
    except BaseException:
        if pool is not None:
            await pool.release(conn)
        raise
    scope_state[_TX_KEY] = _RequestTransaction(conn, tx, pool)
    return conn


async def _finish(scope: Scope, *, commit: bool) -> None:
    current: _RequestTransaction | None = scope.get("state", {}).pop(_TX_KEY, None)  # type: ignore[union-attr]
    if current is None:
        return
    try:
        if commit:
            await current.tx.commit()
        else:
            await current.tx.rollback()
    finally:
        if current.pool is not None:
            # release() resets the connection, ending whatever a failed COMMIT left
            await current.pool.release(current.conn)


def transaction_middleware(app: ASGIApp) -> ASGIApp:
    """Commit or roll back the request's transaction as the response starts."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                try:
                    await _finish(scope, commit=status < 400)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    # The commit itself failed (a deferred constraint, a
                    # serialization failure): the client must not get a 2xx.
                    replaced = True
                    await _send_error(send, exc)
                    return
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            await _finish(scope, commit=False)

    return middleware


async def _send_error(send: Send, exc: Exception) -> None:
    from core.errors import Conflict, ServiceUnavailable, from_postgres

    if isinstance(exc, asyncpg.PostgresError):
        err = from_postgres(exc) or Conflict({"reason": "commit_failed"})
    else:  # the connection went away during COMMIT: the outcome is unknown
        err = ServiceUnavailable({"reason": "commit_outcome_unknown"},
                                 message="提交时数据库连接中断，请查询结果后再操作",
                                 message_en="The database connection broke during commit; "
                                            "check the outcome before retrying")
    body = json.dumps(err.body(), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@asynccontextmanager
async def short_transaction(state: State) -> AsyncIterator[asyncpg.Connection]:
    """A transaction of its own, for a handler that must not hold one across a long stream.

    A part of a bid streams for minutes; holding a pooled connection (and a
    transaction) that long would starve the pool. Such handlers take a short
    transaction before the stream and another after it. In tests it is a
    savepoint on the test's shared connection, like a request's.
    """
    shared: asyncpg.Connection | None = getattr(state, "shared_connection", None)
    if shared is not None:
        async with shared.transaction():
            yield shared
        return
    async with state.db_pool.acquire() as conn, conn.transaction():
        yield conn


async def fetch_one(conn: asyncpg.Connection, sql: str, *args: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(sql, *args)
    return dict(row) if row is not None else None


async def fetch_all(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql, *args)]
