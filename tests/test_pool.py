"""The pool serves waiting requests in the order they asked (core/pool.py)."""

from __future__ import annotations

import asyncio

from core.db import create_pool
from core.settings import Settings


async def test_waiters_get_connections_in_the_order_they_asked(settings: Settings) -> None:
    pool = await create_pool(settings.database.url, min_size=2, max_size=2)
    served: list[int] = []

    async def request(n: int) -> None:
        async with pool.acquire() as conn:
            served.append(n)
            await conn.fetchval("SELECT pg_sleep(0.005)")

    try:
        # newcomers keep arriving while connections are handed back: where the pool's own
        # queue let a newcomer take a connection meant for a woken waiter, the order broke
        tasks = []
        for n in range(60):
            tasks.append(asyncio.create_task(request(n)))
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        assert served == list(range(60))
        assert pool.get_idle_size() == pool.get_size() == 2
    finally:
        await pool.close()


async def test_a_connection_released_twice_gives_back_one_turn(settings: Settings) -> None:
    pool = await create_pool(settings.database.url, min_size=1, max_size=1)
    try:
        conn = await pool.acquire()
        await pool.release(conn)
        await pool.release(conn)  # asyncpg ignores the second release; so must the turns
        first = await pool.acquire()
        # with one connection, a second acquire must wait until the first is released
        second = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.05)
        assert not second.done()
        await pool.release(first)
        await pool.release(await asyncio.wait_for(second, 5))
    finally:
        await pool.close()


async def test_a_wait_that_times_out_gives_its_turn_back(settings: Settings) -> None:
    pool = await create_pool(settings.database.url, min_size=1, max_size=1)
    try:
        held = await pool.acquire()
        try:
            await pool.acquire(timeout=0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("an acquire on a full pool did not time out")
        await pool.release(held)
        await pool.release(await asyncio.wait_for(pool.acquire(), 5))
    finally:
        await pool.close()
