"""Public reads kept in memory until PostgreSQL says the data under them changed.

The public tender list is the same for every visitor and changes only when a
tender does, a few times a day against thousands of reads on a deadline
morning. Each process keeps the answers it built, and one connection of its
own LISTENs on a channel that a trigger notifies whenever a statement changes
what such a read shows (0016); a notification empties the cache.

What makes it safe:
- A change shows in the next read once PostgreSQL has delivered the commit's
  notification to this process (milliseconds); a read that raced the commit
  and saw the old data is not kept: every answer is stored under the
  generation it started in, and a notification moves the generation on.
- While the listening connection is down the cache is off (every read goes
  to the database) and empty; it comes back on once the connection is back.
- Only answers built on a pooled connection outside any transaction are kept:
  a test's shared connection may hold rows nobody committed.
- ``entries`` bounds the memory: the least recently read answer goes first.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import asyncpg
import structlog
from litestar.datastructures import State

from core.db import acquire, connect

log = structlog.get_logger(__name__)
T = TypeVar("T")
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


class ReadCache:
    def __init__(self, url: str, channel: str, entries: int) -> None:
        self._url, self._channel, self._entries = url, channel, entries
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._generation = 0
        self._listener: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def live(self) -> bool:
        """Answers are kept and served: the cache is on and its channel is heard."""
        return self._entries > 0 and self._listener is not None and not self._closed

    @property
    def listener_pid(self) -> int | None:
        """The listening connection's server process, for operators (and tests) to find."""
        return self._listener.get_server_pid() if self._listener is not None else None

    async def start(self) -> None:
        if self._entries > 0:
            await self._listen()

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()
        self._drop()

    async def read(self, state: State, key: Hashable,
                   build: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """The answer for ``key``: kept, or built on a pooled connection (and kept)."""
        shared: asyncpg.Connection | None = getattr(state, "shared_connection", None)
        if shared is not None:
            return await build(shared)
        if self.live and key in self._answers:
            self._answers.move_to_end(key)
            kept: T = self._answers[key]
            return kept
        generation, live = self._generation, self.live
        pool: asyncpg.Pool = state.db_pool
        conn = await acquire(pool)
        try:
            answer = await build(conn)
        finally:
            await pool.release(conn)
        if live and self.live and generation == self._generation:
            self._answers[key] = answer
            if len(self._answers) > self._entries:
                self._answers.popitem(last=False)
        return answer

    def _drop(self, *_: Any) -> None:
        self._generation += 1
        self._answers.clear()

    async def _listen(self) -> None:
        conn = await connect(self._url)
        await conn.add_listener(self._channel, self._drop)
        conn.add_termination_listener(self._lost)
        self._drop()  # whatever changed while nobody listened
        self._listener = conn

    def _lost(self, _conn: asyncpg.Connection) -> None:
        self._listener = None
        self._drop()
        if not self._closed and self._reconnecting is None:
            log.warning("read_cache_listener_lost", channel=self._channel)
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
                attempt += 1
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("read_cache_listener_retry", error=type(exc).__name__)
                    continue
                log.info("read_cache_listener_back", channel=self._channel)
                return
        finally:
            self._reconnecting = None
