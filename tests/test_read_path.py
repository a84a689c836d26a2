"""A public read costs the database only its query: no transaction around it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from core.db import create_pool
from core.settings import Settings


@pytest.fixture
async def statements(app: Litestar, settings: Settings) -> AsyncIterator[list[str]]:
    """Every statement the app sends, through a pool of one connection that records them
    (no shared test transaction: requests use the pool as in production)."""
    seen: list[str] = []
    pool = await create_pool(settings.database.url, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: seen.append(record.query.strip().upper()))
    saved = app.state.db_pool
    app.state.db_pool = pool
    try:
        yield seen
    finally:
        app.state.db_pool = saved
        idle, size = pool.get_idle_size(), pool.get_size()
        pool.terminate()
    assert idle == size, "a request kept its pooled connection"


async def test_public_list_runs_its_query_without_a_transaction(
        session_client: httpx.AsyncClient, statements: list[str]) -> None:
    session_client.cookies.clear()
    resp = await session_client.get("/api/tenders/", params={"q": "无此项目"})
    assert resp.status_code == 200
    assert resp.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}
    assert any("FROM TENDERS" in s for s in statements)
    assert not any(s.startswith(("BEGIN", "COMMIT", "ROLLBACK")) for s in statements)
