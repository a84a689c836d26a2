"""The bidder's pages for sealed bids, read as HTML: own bids only, the right states, the receipts.

The pages are served by the app under test on the test's transaction; the bids
are submitted through the API exactly as the bidder tool does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import asyncpg
from litestar import Litestar

from core.clock import SHANGHAI
from tests.conftest import PKI, Client, World, login
from tests.trading.bidding import b64, bid_zip, make_bidder, obtain, opening_cert, seal, submit
from tests.trading.conftest import Lot, Tenderer
from tests.trading.test_bids import move_deadline
from trading.bids.jobs import make_receipt_pdf

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Element:
    attrs: dict[str, str]
    text: str = ""
    hrefs: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    testids: list[str] = field(default_factory=list)


class _Finder(HTMLParser):
    """Elements carrying a data-testid, with their text, links, titles and inner test ids."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid = testid
        self.found: list[Element] = []
        self.open: list[tuple[Element, int]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for element, _ in self.open:
            if "href" in a:
                element.hrefs.append(a["href"])
            if "title" in a:
                element.titles.append(a["title"])
            if "data-testid" in a:
                element.testids.append(a["data-testid"])
        if tag in VOID:
            return
        self.depth += 1
        if a.get("data-testid") == self.testid:
            element = Element(a)
            self.found.append(element)
            self.open.append((element, self.depth))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.open and self.open[-1][1] == self.depth:
            self.open.pop()
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        for element, _ in self.open:
            element.text += data


def find(html: str, testid: str) -> list[Element]:
    parser = _Finder(testid)
    parser.feed(html)
    for element in parser.found:
        element.text = " ".join(element.text.split())
    return parser.found


def beijing(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


async def page(client: Client, path: str, lang: str = "zh") -> str:
    client.cookies.set("th_lang", lang)
    r = await client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


async def three_states(lot: Lot, client: Client) -> dict[str, dict[str, Any]]:
    """A bid replaced, its replacement withdrawn, then a new current bid: one in each state."""
    first = (await submit(client, lot.tender, lot.bidder, lot.sealed(total="990000.00"))).json()
    second = (await submit(client, lot.tender, lot.bidder, lot.sealed(total="970000.00"))).json()
    statement = (await client.get(f"/api/bids/{second['id']}/withdrawal")).content
    r = await client.post(f"/api/bids/{second['id']}/withdraw",
                          json={"signature": b64(lot.bidder.sign(statement))})
    assert r.status_code == 200, r.text
    r = await submit(client, lot.tender, lot.bidder, lot.sealed(total="960000.00"))
    assert r.status_code == 201, r.text
    bids = {b["id"]: b for b in (await client.get("/api/bids/mine")).json()}
    return {"superseded": bids[first["id"]], "withdrawn": bids[second["id"]],
            "submitted": bids[r.json()["id"]]}


async def test_my_bids_lists_every_state_with_its_receipts(
        lot: Lot, client: Client, conn: asyncpg.Connection, app: Litestar) -> None:

    bids = await three_states(lot, client)
    await make_receipt_pdf(conn, app.state.store, app.state.settings, bids["superseded"]["id"])
    html = await page(client, "/bids")
    rows = {r.attrs["data-bid"]: r for r in find(html, "bid-row")}
    assert set(rows) == {b["id"] for b in bids.values()}
    names = {"submitted": "有效（已递交）", "superseded": "已被替换", "withdrawn": "已撤回"}
    for state, bid in bids.items():
        row = rows[bid["id"]]
        assert row.attrs["data-status"] == state
        assert names[state] in row.text
        assert f"{lot.tender['lots'][0]['number']}. {lot.tender['lots'][0]['title']}" in row.text
        assert beijing(bid["received_at"]) in row.text  # Beijing time, to the second
        assert bid["p7m_sha256"] in row.titles and bid["p7m_sha256"][:16] + "…" in row.text
        assert bid["p7m_sha256"] not in row.text  # shortened on the page, whole in the title
        for name in ("receipt.p7s", "receipt.tst", "receipt.json"):
            assert f"/api/bids/{bid['id']}/{name}" in row.hrefs
        withdrawal = f"/api/bids/{bid['id']}/withdrawal-receipt.p7s"
        assert (withdrawal in row.hrefs) == (state == "withdrawn")
    assert f"/api/bids/{bids['superseded']['id']}/receipt.pdf" in rows[
        bids["superseded"]["id"]].hrefs
    assert "receipt-pdf-pending" in rows[bids["submitted"]["id"]].testids
    assert f"/bids/{bids['withdrawn']['id']}" in rows[bids["superseded"]["id"]].hrefs  # replaced by

    # the tender heads its group, and every link on the page works for the bidder
    group = find(html, "bid-group")
    assert len(group) == 1 and lot.tender["code"] in group[0].text
    assert lot.tender["title"] in group[0].text
    for href in rows[bids["withdrawn"]["id"]].hrefs:
        if href.startswith("/api/"):
            assert (await client.get(href)).status_code == 200, href
    r = await client.get(f"/api/bids/{bids['submitted']['id']}/receipt.json")
    assert json.loads(r.content)["bid_p7m"]["sha256"] == bids["submitted"]["p7m_sha256"]

    english = await page(client, "/bids", "en")
    rows_en = {r.attrs["data-bid"]: r.text for r in find(english, "bid-row")}
    assert "Submitted (current)" in rows_en[bids["submitted"]["id"]]
    assert "Superseded" in rows_en[bids["superseded"]["id"]]
    assert "Withdrawn" in rows_en[bids["withdrawn"]["id"]]
    assert "已撤回" not in english and "bid.withdrawn" not in english


async def test_another_bidder_sees_none_of_them(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        tenderer: Tenderer) -> None:
    bids = await three_states(lot, client)
    rival = await make_bidder(conn, world, pki.ca1)
    await obtain(client, rival, lot.tender)
    html = await page(client, "/bids")
    assert find(html, "bid-row") == []
    for bid in bids.values():
        assert bid["id"] not in html and bid["p7m_sha256"][:16] not in html
    # where to start instead: the tool commands for this tender's lot, filled in
    empty = find(html, "no-bids")[0]
    assert f"--tender {lot.tender['id']} --lot 1" in empty.text
    assert "tenderhall bid seal ./bid" in empty.text and "tenderhall bid submit ./out" in empty.text
    assert lot.tender["code"] in find(html, "biddable")[0].text
    r = await client.get(f"/bids/{bids['submitted']['id']}")
    assert r.status_code == 404 and 'data-code="not_found"' in r.text  # a page, for people

    # the announcement shows the rival its own (empty) lot, nothing of the other bidder's
    announcement = await page(client, f"/tenders/{lot.tender['id']}")
    mine = find(announcement, "my-bid-1")[0]
    assert "尚未向本标段递交" in mine.text and "no-bid" in mine.testids
    assert find(announcement, "current-bid") == []
    for bid in bids.values():
        assert bid["id"] not in announcement

    # staff and anyone else: no bid section; before the deadline not even a count
    await tenderer.act()
    for path in (f"/tenders/{lot.tender['id']}", f"/workspace/tenders/{lot.tender['id']}"):
        other = await page(client, path)
        assert find(other, "my-bids") == [] and find(other, "bid-count-1") == []
        for bid in bids.values():
            assert bid["id"] not in other
    sealed = find(await page(client, f"/workspace/tenders/{lot.tender['id']}"), "bids-sealed")
    assert "投标截止前不公开任何投标情况" in sealed[0].text
    r = await client.get("/bids")
    assert r.status_code == 200 and find(r.text, "not-a-bidder") and find(r.text, "bid-row") == []
    client.cookies.clear()
    anonymous = await page(client, f"/tenders/{lot.tender['id']}")
    assert find(anonymous, "my-bids") == [] and find(anonymous, "bid-counts") == []

    # after the deadline the staff in charge and supervisors see the count, still not who
    await move_deadline(conn, lot.tender["id"], -1)
    for who, path in ((tenderer.login, f"/workspace/tenders/{lot.tender['id']}"),
                      (await world.user("supervisor"), f"/tenders/{lot.tender['id']}")):
        await login(client, who)
        html = await page(client, path)
        assert find(html, "bid-count-1")[0].attrs["data-count"] == "1", who
        for bid in bids.values():
            assert bid["id"] not in html
    await login(client, rival.login)
    assert find(await page(client, f"/tenders/{lot.tender['id']}"), "bid-counts") == []


async def test_anonymous_visitors_are_sent_to_sign_in(lot: Lot, client: Client) -> None:
    bid = (await submit(client, lot.tender, lot.bidder, lot.sealed())).json()
    client.cookies.clear()
    for path, target in (("/bids", "/login?next=%2Fbids"),
                         (f"/bids/{bid['id']}", f"/login?next=%2Fbids%2F{bid['id']}")):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"] == target, r.text
        assert bid["id"] not in r.text


async def test_the_announcement_shows_the_holder_its_bid_per_lot(
        tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
        pki: PKI) -> None:
    tender = await tenderer.published("BID-P-0002", documents_from=(
        await conn.fetchval("SELECT now() - interval '1 hour'")).isoformat(), lots=[
        {"number": 1, "title": "第一标段：路基", "budget": "600000.00",
         "security_amount": "12000.00"},
        {"number": 2, "title": "第二标段：交安", "budget": "400000.00",
         "security_amount": "8000.00"}])
    bidder = await make_bidder(conn, world, pki.ca1)
    await login(client, bidder.login)
    before = await page(client, f"/tenders/{tender['id']}")
    assert find(before, "my-bids") == []  # no documents obtained yet: nothing to show
    await obtain(client, bidder, tender)
    second = await opening_cert(client, tender, lot=2)
    p7m = seal(bid_zip(tender, bidder, lot=2), bidder, [bidder.enc.cert, second])
    r = await submit(client, tender, bidder, p7m, lot=2)
    assert r.status_code == 201, r.text
    bid = r.json()

    html = await page(client, f"/tenders/{tender['id']}")
    section = find(html, "my-bids")[0]
    assert "投标截止暨开标时间" in section.text and "剩余" in find(html, "countdown")[0].text
    deadline = datetime.fromisoformat(tender["bid_deadline"]).astimezone(SHANGHAI)
    assert deadline.strftime("%Y-%m-%d %H:%M") in section.text
    one, two = find(html, "my-bid-1")[0], find(html, "my-bid-2")[0]
    assert "尚未向本标段递交" in one.text and f"--tender {tender['id']} --lot 1" in one.text
    assert "--lot 2" not in one.text
    current = find(html, "current-bid")
    assert [c.attrs["data-bid"] for c in current] == [bid["id"]]
    assert "有效（已递交）" in two.text and beijing(bid["received_at"]) in two.text
    assert f"/api/bids/{bid['id']}/receipt.p7s" in two.hrefs
    assert f"--tender {tender['id']} --lot 2" in two.text  # to replace it

    # the bid's own page: the facts, the receipts, and withdrawal while bidding is open
    detail = await page(client, f"/bids/{bid['id']}")
    facts = find(detail, "bid-facts")[0].text
    assert bid["p7m_sha256"] in facts and f"{bid['size']:,}" in facts
    assert bidder.credit_code in facts and beijing(bid["received_at"]) in facts
    assert find(detail, "withdraw-form")[0].attrs["data-api"] == f"/api/bids/{bid['id']}/withdraw"

    # after the deadline: the bid and its receipts stay, the commands and withdrawal go
    await move_deadline(conn, tender["id"], -1)
    html = await page(client, f"/tenders/{tender['id']}")
    assert "tenderhall bid seal" not in html
    assert f"/api/bids/{bid['id']}/receipt.p7s" in find(html, "my-bid-2")[0].hrefs
    assert "已截止" in find(html, "countdown")[0].text
    assert find(await page(client, f"/bids/{bid['id']}"), "withdraw-form") == []
