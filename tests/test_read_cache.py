"""The public list kept in memory (core/readcache.py): served without the database until a
commit changes what it shows, never kept while its channel is unheard."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from litestar import Litestar

from core import uscc
from core.db import connect, create_pool
from core.readcache import ReadCache
from core.settings import Settings
from trading.tenders.queries.tenders import PUBLIC_TENDERS_CHANNEL


@dataclass
class Kept:
    cache: ReadCache
    statements: list[str]
    committed: asyncpg.Connection  # outside any test transaction: what it writes is committed


@pytest.fixture
async def kept(app: Litestar, settings: Settings) -> AsyncIterator[Kept]:
    """The app on a pool of its own that records every statement, with a cache of its own
    (no shared test transaction: reads go through the pool as in production)."""
    seen: list[str] = []
    pool = await create_pool(settings.database.url, min_size=1, max_size=2)
    for _ in range(2):
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query.strip().upper()))
    cache = ReadCache(settings.database.url, PUBLIC_TENDERS_CHANNEL, entries=8)
    await cache.start()
    committed = await connect(settings.database.url)
    saved = app.state.db_pool, app.state.public_tenders
    app.state.db_pool, app.state.public_tenders = pool, cache
    try:
        yield Kept(cache, seen, committed)
    finally:
        app.state.db_pool, app.state.public_tenders = saved
        await committed.execute("DELETE FROM tenders WHERE code LIKE 'RC-%'")
        await committed.execute("DELETE FROM organizations WHERE name = '缓存测试招标人'")
        await committed.close()
        await cache.close()
        await pool.close()


async def publish(conn: asyncpg.Connection, code: str) -> None:
    org = await conn.fetchval(
        "INSERT INTO organizations (credit_code, name, kind) VALUES ($1, '缓存测试招标人', "
        "'tenderer') RETURNING id", uscc.make(f"915100{secrets.randbelow(10**11):011d}"))
    await conn.execute(
        "INSERT INTO tenders (code, title, owner_org_id, status, published_at, documents_from, "
        "documents_until, bid_deadline) VALUES ($1, '缓存测试项目', $2, 'published', now(), "
        "now(), now() + interval '6 days', now() + interval '21 days')", code, org)


async def listed(client: httpx.AsyncClient, q: str) -> list[str]:
    r = await client.get("/api/tenders/", params={"q": q})
    assert r.status_code == 200, r.text
    return [t["code"] for t in r.json()["items"]]


async def eventually(check: object, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


async def test_a_kept_answer_costs_no_statement_and_a_commit_replaces_it(
        session_client: httpx.AsyncClient, kept: Kept) -> None:
    session_client.cookies.clear()
    q = f"RC-{secrets.token_hex(3)}"
    assert await listed(session_client, q) == []
    asked = len(kept.statements)
    assert asked and any("FROM TENDERS" in s for s in kept.statements)
    assert await listed(session_client, q) == []
    assert len(kept.statements) == asked, "a kept answer went to the database"
    # a commit elsewhere (another process, say) changes what the list shows
    await publish(kept.committed, f"{q}-1")

    async def shows_it() -> bool:
        return await listed(session_client, q) == [f"{q}-1"]

    await eventually(shows_it)
    # and the new answer is kept in turn
    asked = len(kept.statements)
    assert await listed(session_client, q) == [f"{q}-1"]
    assert len(kept.statements) == asked


async def test_a_change_rolled_back_keeps_the_answer(
        session_client: httpx.AsyncClient, kept: Kept) -> None:
    session_client.cookies.clear()
    q = f"RC-{secrets.token_hex(3)}"
    assert await listed(session_client, q) == []
    tx = kept.committed.transaction()
    await tx.start()
    await publish(kept.committed, f"{q}-1")
    await tx.rollback()
    await asyncio.sleep(0.2)
    asked = len(kept.statements)
    assert await listed(session_client, q) == []
    assert len(kept.statements) == asked


async def test_without_its_channel_the_cache_keeps_nothing_until_it_hears_again(
        session_client: httpx.AsyncClient, kept: Kept, settings: Settings) -> None:
    session_client.cookies.clear()
    q = f"RC-{secrets.token_hex(3)}"
    assert await listed(session_client, q) == []
    admin = await connect(settings.database.url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)",
                                    kept.cache.listener_pid)

        async def off() -> bool:
            return not kept.cache.live

        await eventually(off)
        # while deaf, every read goes to the database, so a change shows at once
        await publish(kept.committed, f"{q}-1")
        for _ in range(2):
            asked = len(kept.statements)
            assert await listed(session_client, q) == [f"{q}-1"]
            assert len(kept.statements) > asked

        async def on() -> bool:
            return kept.cache.live

        await eventually(on)
        assert await listed(session_client, q) == [f"{q}-1"]
        asked = len(kept.statements)
        assert await listed(session_client, q) == [f"{q}-1"]
        assert len(kept.statements) == asked
    finally:
        await admin.close()


async def test_the_oldest_answer_goes_first_beyond_the_bound(
        session_client: httpx.AsyncClient, kept: Kept) -> None:
    session_client.cookies.clear()
    keys = [f"RC-{secrets.token_hex(3)}" for _ in range(9)]  # the cache holds 8
    for q in keys:
        await listed(session_client, q)
    asked = len(kept.statements)
    await listed(session_client, keys[-1])
    assert len(kept.statements) == asked
    await listed(session_client, keys[0])
    assert len(kept.statements) > asked
