"""The opening hall in a real browser: three bidders and the host, each in a browser context of
its own, watch the same hall update live as the host signs in and speaks, and as each bidder
decrypts its bid from its own office and the prices are read out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from redis.asyncio import Redis

from core import db
from core.identity import service as identity
from core.settings import Settings
from core.storage import open_store
from tests.conftest import PASSWORD, committed
from tests.e2e import bid_world
from tests.e2e.conftest import SHOTS
from tests.e2e.test_bid_pages import _bidder, _bids, _signed_in
from tests.trading.bidding import Bidder, bid_zip, seal, submit
from tests.trading.test_opening_decrypt import own_key
from trading.opening import record

pytestmark = pytest.mark.browser
TOTALS = ["9850000.00", "9790000.00", "9920000.00"]


@dataclass
class Hall:
    settings: Settings
    supervisor: str
    world: bid_world.BidWorld
    lot_id: str
    bidders: list[Bidder]
    sealed: list[bytes]
    bids: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def hall(settings: Settings, live_server: str,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hall]:
    """(Async, so requested before the browser.) Three bids in, then the deadline passes."""
    world = await bid_world.build(settings, live_server, tmp_path_factory.mktemp("hall"),
                                  bidders=0)
    conn = await committed(settings.database.url)
    try:
        bidders, sealed, bids = [], [], []
        for i, total in enumerate(TOTALS):
            bidder = await _bidder(conn, world, f"开标大厅测试单位{i + 1}-{secrets.token_hex(2)}")
            await _bids(live_server, world, bidder, [])  # obtains the documents
            p7m = seal(bid_zip(world.tender, bidder, total=total), bidder,
                       [bidder.enc.cert, world.opening])
            async with httpx.AsyncClient(base_url=live_server, timeout=60) as http:
                r = await http.post("/api/auth/login",
                                    json={"login": bidder.login, "password": PASSWORD})
                r.raise_for_status()
                r = await submit(http, world.tender, bidder, p7m)
                assert r.status_code == 201, r.text
                bids.append(r.json())
            bidders.append(bidder)
            sealed.append(p7m)
        supervisor = f"hall-sup-{secrets.token_hex(3)}"  # made inactive at the end
        async with conn.transaction():
            await identity.create_user(conn, bid_world.SYSTEM, login=supervisor, name="赵监督",
                                       roles=["supervisor"], password=PASSWORD)
        now = await bid_world.db_now(settings)
        await bid_world.set_deadline(settings, world.tender["id"], now - timedelta(seconds=5))
        yield Hall(settings, supervisor, world, world.tender["lots"][0]["id"], bidders, sealed, bids)
    finally:
        # committed: other tests notify every active supervisor, and must not find this one
        await conn.execute("UPDATE users SET is_active = false WHERE login LIKE 'hall-sup-%'")
        await conn.close()
        await bid_world.retire(settings, world)


def _open(url: str, bidder: Bidder, p7m: bytes, bid: dict[str, Any]) -> dict[str, Any]:
    """What ``tenderhall bid open`` does from the bidder's office."""
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post("/api/auth/login",
                  json={"login": bidder.login, "password": PASSWORD}).raise_for_status()
        r = http.post(f"/api/bids/{bid['id']}/open", json={"content_key": own_key(p7m, bidder)})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


async def _issue_record(settings: Settings, lot_id: str) -> None:
    """What the worker does after the commit: issue the record (and tell the hall)."""

    conn = await committed(settings.database.url)
    store = open_store(settings.storage)
    redis = Redis.from_url(settings.redis.url)
    try:
        async with db.transaction(conn, {"redis": redis}):
            await record.issue(conn, store, settings, UUID(lot_id))
    finally:
        await redis.aclose()
        await store.aclose()
        await conn.close()


def _row(page: Page, bid: dict[str, Any]) -> Any:
    return page.locator(f"[data-testid=readings] tr[data-bid='{bid['id']}']")


def test_four_people_watch_the_opening_live(hall: Hall, browser: Browser,
                                            live_server: str) -> None:
    host = _signed_in(browser, live_server, hall.world.staff)
    bidders = [_signed_in(browser, live_server, b.login) for b in hall.bidders]
    supervisor = _signed_in(browser, live_server, hall.supervisor)
    pages = [host, *bidders, supervisor]
    try:
        for page in pages:
            page.goto(f"/hall/{hall.lot_id}")
            expect(page.get_by_test_id("live")).to_have_text("实时连接")
            expect(page.get_by_test_id("phase")).to_have_text("开标中")  # past the deadline
        # the host signs in and speaks: everyone sees it without reloading
        host.get_by_test_id("signin").click()
        expect(host.get_by_test_id("signin")).to_have_text("已签到")
        host.get_by_test_id("message-text").fill("各位投标人请在30分钟内完成解密。")
        host.get_by_test_id("message-send").click()
        for page in pages:
            expect(page.get_by_test_id("signin-count")).to_have_text("1")
            expect(page.get_by_test_id("messages")).to_contain_text("请在30分钟内完成解密")
        # the bidders' pages offer their own commands, not the host's controls
        expect(bidders[0].get_by_test_id("signin")).to_have_count(0)
        expect(bidders[0].get_by_test_id("message-form")).to_have_count(0)
        expect(bidders[0].get_by_test_id("open-command")).to_contain_text(
            f"tenderhall bid open {hall.bids[0]['id']}")

        # the first bidder decrypts: the opening starts, its price is read out everywhere
        _open(live_server, hall.bidders[0], hall.sealed[0], hall.bids[0])
        for page in pages:
            expect(page.get_by_test_id("phase")).to_have_text("解密中")
            expect(_row(page, hall.bids[0]).get_by_test_id("price")).to_have_text("9,850,000.00")
            expect(_row(page, hall.bids[1])).to_have_attribute("data-status", "waiting")
            expect(page.get_by_test_id("progress")).to_have_text("已解密 1 / 3")
            expect(page.get_by_test_id("countdown")).to_contain_text("解密剩余")
        host.screenshot(path=str(SHOTS / "hall-host-decrypting.png"), full_page=True)
        # the supervisor alone sees addresses and devices: every bid came from one address (C1)
        flags = supervisor.get_by_test_id("flags")
        expect(flags.get_by_test_id("flag").first).to_contain_text("C1")
        for name in (b.name for b in hall.bidders):
            expect(flags).to_contain_text(name)
        expect(host.get_by_test_id("supervision")).to_have_count(0)
        supervisor.screenshot(path=str(SHOTS / "hall-supervisor.png"), full_page=True)

        for i in (1, 2):
            _open(live_server, hall.bidders[i], hall.sealed[i], hall.bids[i])
        for page in pages:
            expect(page.get_by_test_id("phase")).to_have_text("唱标完成")
            expect(page.get_by_test_id("progress")).to_have_text("已解密 3 / 3")
            for bid, total in zip(hall.bids, ["9,850,000.00", "9,790,000.00", "9,920,000.00"],
                                  strict=True):
                expect(_row(page, bid).get_by_test_id("price")).to_have_text(total)
        for name, page in zip(("host", "bidder1", "bidder2", "bidder3"), pages[:4], strict=True):
            page.screenshot(path=str(SHOTS / f"hall-{name}-read.png"), full_page=True)

        # S7 on the spot: one bidder confirms, another objects, the host answers
        bidders[0].get_by_test_id("confirm").click()
        bidders[1].get_by_test_id("objection-text").fill("请核实第三名的工期。")
        bidders[1].get_by_test_id("objection-send").click()
        host.get_by_test_id("answer-text").fill("已核实，以开标一览表为准。")
        host.get_by_test_id("answer-send").click()
        for page in pages:
            box = page.get_by_test_id("objections")
            expect(box).to_contain_text("确认")
            expect(box).to_contain_text("请核实第三名的工期。")
            expect(box).to_contain_text("已核实，以开标一览表为准。")
        # the worker's job issues the signed record; every page links it at once
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _issue_record(hall.settings, hall.lot_id)).result()
        for page in pages:
            expect(page.get_by_test_id("record-link")).to_have_count(1)
        link = host.get_by_test_id("record-link").get_attribute("href") or ""
        assert host.request.get(link).body().startswith(b"%PDF")
        host.screenshot(path=str(SHOTS / "hall-host-objection.png"), full_page=True)
    finally:
        for page in pages:
            page.context.close()
