"""The public list's total without a keyword or dates comes from counts the database keeps
(0015): they must agree with counting the rows, through every change a tender goes through."""

from __future__ import annotations

import asyncpg

from tests.conftest import Client
from tests.trading.conftest import Tenderer
from trading.tenders.queries import tenders as queries

PUBLIC = "status <> 'draft' AND published_at IS NOT NULL"


async def kept_and_counted(conn: asyncpg.Connection) -> tuple[set[tuple[str, str, str, int]], ...]:
    kept = {tuple(r) for r in await conn.fetch(
        "SELECT status, region, procedure, n FROM public_tender_counts WHERE n > 0")}
    counted = {tuple(r) for r in await conn.fetch(
        f"SELECT status, region, procedure, count(*) FROM tenders WHERE {PUBLIC} "
        "GROUP BY status, region, procedure")}
    return kept, counted


async def assert_totals_agree(client: Client, conn: asyncpg.Connection) -> None:
    kept, counted = await kept_and_counted(conn)
    assert kept == counted
    for params, where, args in [
        ({}, "", ()),
        ({"region": "四川省雅安市"}, " AND region = $1", ("四川省雅安市",)),
        ({"procedure": "invited"}, " AND procedure = $1", ("invited",)),
        ({"status": "cancelled"}, " AND status = $1", ("cancelled",)),
        ({"status": "published", "region": "四川省成都市", "procedure": "open"},
         " AND status = $1 AND region = $2 AND procedure = $3",
         ("published", "四川省成都市", "open")),
    ]:
        expected = await conn.fetchval(f"SELECT count(*) FROM tenders WHERE {PUBLIC}{where}",
                                       *args)
        r = await client.get("/api/tenders/", params={"page_size": 1, **params})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == expected, params


async def test_kept_totals_follow_publication_changes_and_deletion(
        client: Client, conn: asyncpg.Connection, tenderer: Tenderer) -> None:
    await tenderer.draft("T-CNT-0", region="四川省雅安市")  # a draft is never counted
    a = await tenderer.published("T-CNT-1", region="四川省雅安市")
    b = await tenderer.published("T-CNT-2", region="四川省成都市", procedure="invited")
    await tenderer.published("T-CNT-3", region="四川省成都市")
    await assert_totals_agree(client, conn)
    # a status change, a region corrected, a procedure changed, a row removed
    await conn.execute("UPDATE tenders SET status = 'cancelled', cancel_reason = '测试', "
                       "cancelled_at = now() WHERE id = $1", a["id"])
    await conn.execute("UPDATE tenders SET region = '四川省雅安市', procedure = 'open' "
                       "WHERE id = $1", b["id"])
    await assert_totals_agree(client, conn)
    # a row with nothing hanging on it, written and removed directly
    bare = await conn.fetchval(
        "INSERT INTO tenders (code, title, region, procedure, owner_org_id, status, "
        "published_at, documents_from, documents_until, bid_deadline) "
        "SELECT 'T-CNT-9', '直接写入', '四川省雅安市', 'invited', owner_org_id, 'published', "
        "now(), now(), now() + interval '6 days', now() + interval '21 days' "
        "FROM tenders WHERE id = $1 RETURNING id", a["id"])
    await assert_totals_agree(client, conn)
    await conn.execute("DELETE FROM tenders WHERE id = $1", bare)
    await assert_totals_agree(client, conn)
    # a keyword still counts the matching rows themselves
    r = await client.get("/api/tenders/", params={"q": "T-CNT"})
    assert r.json()["total"] == await conn.fetchval(
        f"SELECT count(*) FROM tenders WHERE {PUBLIC} AND code LIKE 'T-CNT%'") == 3


async def test_a_count_cannot_go_negative(conn: asyncpg.Connection) -> None:
    """The counts are the database's own: a bad decrement fails the transaction."""
    await conn.execute("INSERT INTO public_tender_counts VALUES ('published', 'x', 'open', 0)")
    try:
        async with conn.transaction():
            await conn.execute("UPDATE public_tender_counts SET n = n - 1 WHERE region = 'x'")
    except asyncpg.CheckViolationError as e:
        assert e.constraint_name == "public_tender_counts_not_negative"
    else:
        raise AssertionError("a negative count was stored")


async def test_every_combination_of_filters_has_a_statement_that_agrees_with_counting(
        conn: asyncpg.Connection, tenderer: Tenderer) -> None:
    """Each combination gets a statement of its own: all 64 run, and their totals are the
    rows the same conditions count."""
    await tenderer.published("T-CMB-1", region="四川省雅安市")
    since = await conn.fetchval("SELECT now() - interval '1 day'")
    until = await conn.fetchval("SELECT now() + interval '1 day'")
    values = {"keyword": "T-CMB", "region": "四川省雅安市", "status": "published",
              "procedure": "open", "since": since, "until": until}
    conditions = {"keyword": "(title ILIKE '%' || $1 || '%' OR code ILIKE '%' || $1 || '%')",
                  "region": "region = $1", "status": "status = $1", "procedure": "procedure = $1",
                  "since": "published_at >= $1", "until": "published_at < $1"}
    for mask in range(2 ** len(queries.PUBLIC_FILTERS)):
        filters = {name: values[name] for bit, name in enumerate(queries.PUBLIC_FILTERS)
                   if mask >> bit & 1}
        statement, args = queries.list_public(filters, limit=5, offset=0)
        rows = await conn.fetch(statement, *args)
        where = "".join(" AND " + conditions[name].replace("$1", f"${n}")
                        for n, name in enumerate(filters, start=1))
        expected = await conn.fetchval(f"SELECT count(*) FROM tenders WHERE {PUBLIC}{where}",
                                       *filters.values())
        assert expected >= 1 and rows[0]["total"] == expected, filters
        assert len(rows) == min(5, expected), filters
