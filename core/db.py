"""PostgreSQL through asyncpg: the pool, the one-transaction-per-request dependency, and
the after-commit hook.

Services take a connection and never commit; the dependency below opens the
transaction before the handler runs and commits after it returns, or rolls
back when it raises, so a failing request leaves no partial write.

What must happen only once a change is committed (telling the hall's live
clients, say) is registered with ``on_commit(conn, callback)`` by the service
that makes the change. Whoever owns the transaction runs the callbacks after
a successful COMMIT, in the order they were registered, and drops them on a
rollback: the request middleware, ``jobs.run_once``, ``short_transaction`` and
``transaction``. A failing callback is logged, never raised: the change is
committed by then and the client's answer must say so. In tests a request runs
in a savepoint on the test's shared connection: its callbacks run when that
savepoint is released, although the test's own transaction rolls back later.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from asyncpg.transaction import Transaction
from litestar import Request
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core import queries as q
from core.constraints import from_postgres
from core.errors import Conflict, DatabaseUnavailable, DomainError
from core.pool import FairPool

Connection = asyncpg.Connection  # the type services receive
Pool = asyncpg.Pool
AfterCommit = Callable[[], Awaitable[Any]]
_TX_KEY = "db_transaction"
_KEEP_KEY = "db_keep_refusal"
log = structlog.get_logger(__name__)

# What a failure to reach the database looks like, wherever it surfaces: refused or dropped
# sockets, a pool that waited in vain, a server starting up, shutting down or full.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.InterfaceError)


@dataclass(eq=False)  # told apart by identity: two fresh contexts look alike
class TxContext:
    """A transaction opened through this module: what runs once it commits, and what that
    work may need (``env``: the app's state for a request, the worker's context for a job)."""

    env: Mapping[str, Any]
    root: bool
    callbacks: list[AfterCommit] = field(default_factory=list)


# The open transactions of each connection, innermost last, keyed by the object services
# receive (a pool's proxy is not weak-referenceable). An entry lives exactly as long as its
# transaction: whoever pushes it pops it, so an id is never reused while it is here.
_OPEN: dict[int, list[TxContext]] = {}


def _push(conn: asyncpg.Connection, env: Mapping[str, Any] | None) -> TxContext:
    stack = _OPEN.setdefault(id(conn), [])
    root = env is not None or not stack
    ctx = TxContext(env if env is not None else (stack[-1].env if stack else {}), root)
    stack.append(ctx)
    return ctx


def _pop(conn: asyncpg.Connection, ctx: TxContext) -> None:
    stack = _OPEN.get(id(conn), [])
    if ctx in stack:
        stack.remove(ctx)
    if not stack:
        _OPEN.pop(id(conn), None)


def current(conn: asyncpg.Connection) -> TxContext:
    """The innermost transaction opened through this module on ``conn``.

    A service that registers after-commit work on a connection nobody opened a
    transaction on here (a script on a bare connection) has nobody to run it:
    that is a bug, and it raises rather than lose the work silently.
    """
    stack = _OPEN.get(id(conn))
    if not stack:
        raise RuntimeError("no transaction opened through core.db on this connection")
    return stack[-1]


def on_commit(conn: asyncpg.Connection, callback: AfterCommit) -> None:
    """Run ``callback`` once the transaction ``conn`` is in has committed (never after a
    rollback), after the callbacks registered before it."""
    current(conn).callbacks.append(callback)


async def _after_commit(ctx: TxContext) -> None:
    for callback in ctx.callbacks:
        try:
            await callback()
        except Exception as exc:  # committed already: the caller's answer stands
            log.warning("after_commit_failed", callback=getattr(callback, "__qualname__", "?"),
                        error=f"{type(exc).__name__}: {exc}"[:300])
    ctx.callbacks.clear()


def _close(conn: asyncpg.Connection, ctx: TxContext, *, committed: bool) -> TxContext | None:
    """End ``ctx``'s bookkeeping; the context whose callbacks are now due, if any. A savepoint
    released hands its callbacks to the transaction around it, to run when that commits."""
    _pop(conn, ctx)
    if not committed:
        return None
    if ctx.root:
        return ctx
    current(conn).callbacks.extend(ctx.callbacks)
    return None


@asynccontextmanager
async def transaction(conn: asyncpg.Connection,
                      env: Mapping[str, Any] | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A transaction with an after-commit hook, for work outside a request (a job's steps, a
    script). Inside another one on the same connection and without ``env`` it is a
    savepoint: its callbacks wait for the outer commit (and go if the savepoint rolls back).
    With ``env`` it is a transaction of its own as far as callbacks go (in tests, a
    savepoint on the shared connection whose callbacks run when it is released)."""
    ctx = _push(conn, env)
    try:
        async with conn.transaction():
            yield conn
    except BaseException:
        _close(conn, ctx, committed=False)
        raise
    due = _close(conn, ctx, committed=True)
    if due is not None:
        await _after_commit(due)


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
        await conn.execute(q.ROLLBACK)


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await FairPool(
        dsn=url, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=_reset_connection, max_queries=50000, max_inactive_connection_lifetime=300.0,
        connection_class=asyncpg.Connection, record_class=asyncpg.Record, loop=None,
        server_settings={"timezone": "UTC", "application_name": "tenderhall"},
    )
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
    ctx: TxContext


async def acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    """A pooled connection, or ``DatabaseUnavailable`` (503) when the database cannot be
    reached: a client is told to come back, not that the platform has a bug."""
    try:
        conn: asyncpg.Connection = await pool.acquire()
    except CONNECTION_ERRORS as exc:
        raise unavailable(exc) from exc
    return conn


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
    return DatabaseUnavailable({"reason": type(exc).__name__})


async def provide_transaction(request: Request[Any, Any, Any], state: State) -> asyncpg.Connection:
    """Litestar dependency: the request's connection, inside its one transaction.

    The transaction is opened the first time a handler or dependency asks for
    it and finished by ``transaction_middleware`` when the response starts:
    committed for a 2xx/3xx, rolled back otherwise. Finishing it in middleware
    rather than in a generator dependency means it is finished exactly once,
    before the client hears anything, whatever raised and wherever. Callbacks
    registered with ``on_commit`` run after the COMMIT, before the response
    starts.

    In tests ``state.shared_connection`` holds a connection already inside the
    test's transaction; the request then runs in a savepoint on it.
    """
    if request.scope["type"] != "http":  # type: ignore[comparison-overlap]
        # a WebSocket has no response to finish the transaction at; those
        # handlers take short transactions from the pool themselves
        raise RuntimeError("conn is for HTTP handlers only")
    scope_state = request.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    current_tx: _RequestTransaction | None = scope_state.get(_TX_KEY)
    if current_tx is not None:
        return current_tx.conn
    shared: asyncpg.Connection | None = getattr(state, "shared_connection", None)
    pool: asyncpg.Pool | None = None
    if shared is not None:
        conn = shared
    else:
        pool = state.db_pool
        conn = await acquire(pool)
    tx = conn.transaction()
    try:
        await tx.start()
    except BaseException as exc:
        if pool is not None:
            await pool.release(conn)
        if isinstance(exc, CONNECTION_ERRORS):
            raise unavailable(exc) from exc
        raise
    scope_state[_TX_KEY] = _RequestTransaction(conn, tx, pool, _push(conn, state))
    return conn


def keep_refusal(request: Request[Any, Any, Any]) -> None:
    """Commit this request's transaction although it answers an error.

    For a refusal that must leave its audit row (an account locked after
    failed sign-ins, an expired API key used), called when that row is all
    the request wrote, just before the error is raised.
    """
    request.scope.setdefault("state", {})[_KEEP_KEY] = True  # type: ignore[typeddict-item]


async def _finish(scope: Scope, *, commit: bool) -> None:
    current_tx: _RequestTransaction | None = scope.get("state", {}).pop(_TX_KEY, None)  # type: ignore[union-attr]
    if current_tx is None:
        return
    due = None
    try:
        if commit:
            await current_tx.tx.commit()
            due = _close(current_tx.conn, current_tx.ctx, committed=True)
        else:
            await current_tx.tx.rollback()
    finally:
        if due is None:
            _close(current_tx.conn, current_tx.ctx, committed=False)
        if current_tx.pool is not None:
            # release() resets the connection, ending whatever a failed COMMIT left; a
            # connection that is gone is closed by it, and that is no news to the client
            try:
                await current_tx.pool.release(current_tx.conn)
            except Exception as exc:
                log.warning("connection_release_failed", error=type(exc).__name__)
    if due is not None:
        await _after_commit(due)


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
                    await _finish(scope, commit=status < 400 or bool(
                        scope.get("state", {}).get(_KEEP_KEY)))
                except Exception as exc:
                    # The commit itself failed (a deferred constraint, a serialization
                    # failure, the connection gone): the client must not get a 2xx, and
                    # whatever it gets is the JSON every error is.
                    replaced = True
                    await _send_error(send, scope, exc)
                    return
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            try:
                await _finish(scope, commit=False)
            except Exception as exc:  # the response is out; the connection is reset anyway
                log.warning("rollback_failed", error=type(exc).__name__)

    return middleware


def commit_error(exc: BaseException) -> DomainError | None:
    """What a client is told when its transaction could not commit; None for a bug."""
    if isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc, asyncpg.InterfaceError):
        # the connection went away during COMMIT: the outcome is unknown
        return DatabaseUnavailable({"reason": "commit_outcome_unknown"},
                                   message="提交时数据库连接中断，请查询结果后再操作",
                                   message_en="The database connection broke during commit; "
                                              "check the outcome before retrying")
    if isinstance(exc, asyncpg.PostgresError):
        return from_postgres(exc) or Conflict({"reason": "commit_failed"})
    if isinstance(exc, asyncpg.InterfaceError):
        return unavailable(exc)
    return None


async def _send_error(send: Send, scope: Scope, exc: Exception) -> None:
    err = commit_error(exc)
    headers = [(b"content-type", b"application/json")]
    if err is None:
        log.error("commit_failed", exc_info=exc)
        status = 500
        body_obj: dict[str, Any] = {
            "code": "internal_error", "message": "服务器内部错误",
            "message_en": "Internal server error",
            "detail": {"request_id": scope.get("state", {}).get("request_id")}}
    else:
        status, body_obj = err.status, err.body()
        if err.retry_after is not None:
            headers.append((b"retry-after", str(err.retry_after).encode()))
    body = json.dumps(body_obj, ensure_ascii=False, default=str).encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@asynccontextmanager
async def short_transaction(state: State) -> AsyncIterator[asyncpg.Connection]:
    """A transaction of its own, for a handler that must not hold one across a long stream.

    A part of a bid streams for minutes, and the hall's live stream for hours;
    holding a pooled connection (and a transaction) that long would starve the
    pool. Such handlers take a short transaction before the stream and another
    after it; ``on_commit`` callbacks run as each commits. In tests it is a
    savepoint on the test's shared connection, like a request's.
    """
    shared: asyncpg.Connection | None = getattr(state, "shared_connection", None)
    if shared is not None:
        async with transaction(shared, state):
            yield shared
        return
    conn = await acquire(state.db_pool)
    try:
        async with transaction(conn, state):
            yield conn
    finally:
        await state.db_pool.release(conn)


async def fetch_one(conn: asyncpg.Connection, sql: str, *args: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(sql, *args)
    return dict(row) if row is not None else None


async def fetch_all(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql, *args)]
