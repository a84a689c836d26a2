"""The home page in sections by notice type: tender notices, amendments and clarifications,
opening records; each paginated, each with the list's filters."""

from __future__ import annotations

import re
from uuid import uuid4

import asyncpg

from tests.conftest import Client
from tests.trading.conftest import Tenderer
from trading.tenders import portal


def _section(html: str, name: str) -> str:
    found = re.search(rf'data-testid="section-{name}">(.*?)</section>', html, re.S)
    assert found is not None, name
    return found.group(1)


async def test_sections_show_notices_by_type_with_filters_and_pages(
        client: Client, tenderer: Tenderer, conn: asyncpg.Connection) -> None:
    tag = uuid4().hex[:6].upper()
    a = await tenderer.published(f"PRT-{tag}-A", title=f"门户测试甲{tag}", region="四川省雅安市")
    b = await tenderer.published(f"PRT-{tag}-B", title=f"门户测试乙{tag}", region="四川省成都市")
    await tenderer.clarify(a["id"], title=f"关于甲的澄清{tag}")
    # lot openings as the opening writes them: one read, one failed with too few bids
    for tender, status in ((a, "read"), (b, "failed")):
        await conn.execute(
            "INSERT INTO lot_openings (lot_id, tender_id, status, bids_at_deadline, required_bids,"
            " decrypt_failure, window_closes_at, read_at, confirm_until, failed_reason) "
            "VALUES ($1, $2, $3, $4, 3, 'withdrawn', now(), $5, $5, $6)",
            tender["lots"][0]["id"], tender["id"], status, 5 if status == "read" else 1,
            None if status == "failed" else await conn.fetchval("SELECT now()"),
            "too_few_bids" if status == "failed" else None)

    r = await client.get("/", params={"q": tag})
    assert r.status_code == 200, r.text
    tenders, changes = _section(r.text, "tenders"), _section(r.text, "changes")
    openings = _section(r.text, "openings")
    assert f"门户测试甲{tag}" in tenders and f"门户测试乙{tag}" in tenders
    assert f"关于甲的澄清{tag}" in changes and f"门户测试乙{tag}" not in changes
    assert f'href="/hall/{a["lots"][0]["id"]}"' in openings
    assert "流标" in openings and "已唱标" in openings
    assert "中标候选人公示" in _section(r.text, "results")
    # a filter applies to every section: the region leaves one tender and its rows
    r = await client.get("/", params={"q": tag, "region": "四川省成都市"})
    assert f"门户测试甲{tag}" not in _section(r.text, "tenders")
    assert f"关于甲的澄清{tag}" not in _section(r.text, "changes")
    assert f"门户测试乙{tag}" in _section(r.text, "openings")
    assert f"门户测试甲{tag}" not in _section(r.text, "openings")

    # each section pages on its own, the filters and the other sections' pages kept
    rows, total = await portal.list_section(
        conn, "openings", keyword=tag, region=None, procedure=None, published_from=None,
        published_to=None, page=2, page_size=1)
    assert total == 2 and len(rows) == 1 and str(rows[0]["tender_id"]) == a["id"]
    r = await client.get("/", params={"q": tag, "openings_page": 2, "page": 1})
    assert r.status_code == 200
    assert "2 / 1" not in r.text  # ten to a page: one page
    # empty filters from the form mean no filter
    r = await client.get("/", params={"q": tag, "published_from": "", "region": ""})
    assert f"关于甲的澄清{tag}" in _section(r.text, "changes")


async def test_pager_links_keep_the_filters_and_other_pages(
        client: Client, tenderer: Tenderer, conn: asyncpg.Connection) -> None:
    tag = uuid4().hex[:6].upper()
    tender = await tenderer.published(f"PRP-{tag}", title=f"分页测试{tag}")
    for i in range(11):  # eleven clarifications: two pages of ten
        await tenderer.clarify(tender["id"], title=f"澄清{tag}第{i}号")
    r = await client.get("/", params={"q": tag, "openings_page": 3})
    changes = _section(r.text, "changes")
    assert changes.count("<tr>") == 11  # the head and ten rows
    nxt = re.search(r'href="([^"]+)"[^>]*data-testid="changes-pager-next"', changes)
    assert nxt is not None
    link = nxt.group(1).replace("&amp;", "&")
    assert f"q={tag}" in link and "changes_page=2" in link and "openings_page=3" in link
    assert link.endswith("#changes")
    r = await client.get(link.split("#")[0])
    assert _section(r.text, "changes").count("<tr>") == 2
