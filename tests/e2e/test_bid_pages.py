"""The bidder's bid pages in a real browser, against a real server process.

Two bidders of a committed tender sign in through the login form, each in a
browser context of its own; their bids were sent through the API as the
bidder tool sends them. What one bidder sees of its bids, the other must not
see at all, and the staff see nothing before the deadline and a count after.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from asn1crypto import cms as asn1_cms
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.clock import SHANGHAI
from core.identity import service as identity
from core.settings import Settings
from core.storage import open_store
from tests.conftest import PASSWORD, committed, credit_code
from tests.e2e import bid_world
from tests.e2e.conftest import SHOTS
from tests.trading.bidding import Bidder, bid_zip, seal, submit
from trading.bids.jobs import make_receipt_pdf

pytestmark = pytest.mark.browser


@dataclass
class Scene:
    world: bid_world.BidWorld
    a: Bidder
    b: Bidder
    a1: dict[str, Any]  # replaced by a2
    a2: dict[str, Any]
    b1: dict[str, Any]
    c: Bidder  # holds the documents, has not bid


async def _bidder(conn: asyncpg.Connection, world: bid_world.BidWorld, name: str) -> Bidder:
    """A bidder who signs in with a password, as a person at the browser does."""
    code = credit_code()
    async with conn.transaction():
        org = await identity.create_organization(conn, bid_world.SYSTEM, credit_code=code,
                                                 name=name, kind="bidder")
        login = f"pages-{secrets.token_hex(4)}"
        await identity.create_user(conn, bid_world.SYSTEM, login=login, name=f"{name[:4]}经办",
                                   roles=["bidder"], password=PASSWORD, organization_id=org["id"])
    signer = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="signing")
    enc = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="encryption")
    return Bidder(login, org["id"], name, code, signer, enc)


async def _bids(url: str, world: bid_world.BidWorld, bidder: Bidder,
                totals: list[str]) -> list[dict[str, Any]]:
    """Sign in, obtain the documents, send one small bid per total (each replacing the last)."""
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        r = await http.post("/api/auth/login", json={"login": bidder.login, "password": PASSWORD})
        r.raise_for_status()
        tender_id = world.tender["id"]
        doc = (await http.get(f"/api/tenders/{tender_id}/documents")).json()[0]
        (await http.post(f"/api/tenders/{tender_id}/documents/obtain")).raise_for_status()
        (await http.get(f"/api/tenders/{tender_id}/documents/{doc['id']}")).raise_for_status()
        for total in totals:
            p7m = seal(bid_zip(world.tender, bidder, total=total), bidder,
                       [bidder.enc.cert, world.opening])
            r = await submit(http, world.tender, bidder, p7m)
            assert r.status_code == 201, r.text
            out.append(r.json())
    return out


@pytest.fixture(scope="module")
async def scene(settings: Settings, live_server: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    """(Requested before the browser: async fixtures cannot start once Playwright's loop runs.)
    A committed tender; bidder A sent two bids (the first replaced), bidder B one."""
    world = await bid_world.build(settings, live_server, tmp_path_factory.mktemp("bid-pages"),
                                  bidders=0)
    conn = await committed(settings.database.url)
    try:
        a = await _bidder(conn, world, f"川西路桥建设有限公司{secrets.token_hex(2)}")
        b = await _bidder(conn, world, f"蓉城交通工程有限公司{secrets.token_hex(2)}")
        a1, a2 = await _bids(live_server, world, a, ["9850000.00", "9790000.00"])
        (b1,) = await _bids(live_server, world, b, ["9900000.00"])
        c = await _bidder(conn, world, f"锦江市政工程有限公司{secrets.token_hex(2)}")
        await _bids(live_server, world, c, [])
        # the sealed PDF of A's first receipt, as the worker makes it after the commit
        store = open_store(settings.storage)
        try:
            async with conn.transaction():
                await make_receipt_pdf(conn, store, settings, a1["id"])
        finally:
            await store.aclose()
        yield Scene(world, a, b, a1, a2, b1, c)
    finally:
        await conn.close()
        await bid_world.retire(settings, world)


def _context(browser: Browser, live_server: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  base_url=live_server, accept_downloads=True)
    context.on("page", lambda p: p.on("dialog", lambda d: d.accept()))
    return context


def _signed_in(browser: Browser, live_server: str, login: str) -> Page:
    """A page of a new context, signed in through the login form (close its context after)."""
    page = _context(browser, live_server).new_page()
    page.goto(f"/login?next={quote('/', safe='')}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    return page


@pytest.fixture(scope="module")
def page_a(scene: Scene, browser: Browser, live_server: str) -> Iterator[Page]:
    page = _signed_in(browser, live_server, scene.a.login)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def page_b(scene: Scene, browser: Browser, live_server: str) -> Iterator[Page]:
    page = _signed_in(browser, live_server, scene.b.login)
    yield page
    page.context.close()


def _beijing(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _row(page: Page, bid: dict[str, Any]) -> Any:
    return page.locator(f"[data-testid=bid-row][data-bid='{bid['id']}']")


def test_a_bidder_sees_its_bids_and_downloads_the_receipt(scene: Scene, page_a: Page) -> None:
    page = page_a
    with page.expect_navigation(url="**/bids"):
        page.get_by_test_id("bids-link").click()
    expect(page.get_by_test_id("bid-row")).to_have_count(2)
    current, replaced = _row(page, scene.a2), _row(page, scene.a1)
    expect(current.get_by_test_id("bid-status")).to_have_text("有效（已递交）")
    expect(replaced.get_by_test_id("bid-status")).to_have_text("已被替换")
    expect(current.get_by_test_id("received-at")).to_have_text(_beijing(scene.a2["received_at"]))
    sha = current.get_by_test_id("bid-sha256")
    expect(sha).to_have_attribute("title", scene.a2["p7m_sha256"])
    expect(sha).to_have_text(scene.a2["p7m_sha256"][:16] + "…")
    expect(replaced.get_by_test_id("receipt-pdf")).to_be_visible()
    expect(page.get_by_test_id("bid-group")).to_contain_text(scene.world.tender["code"])
    expect(page.get_by_test_id("countdown").first).to_contain_text("剩余")

    # receipt.p7s from the page is the API's, byte for byte, and names this bid
    with page.expect_download() as download:
        current.get_by_test_id("receipt-p7s").click()
    saved = Path(download.value.path()).read_bytes()
    assert saved == page.request.get(f"/api/bids/{scene.a2['id']}/receipt.p7s").body()
    content = asn1_cms.ContentInfo.load(saved)["content"]["encap_content_info"]["content"].native
    receipt = json.loads(content)
    assert receipt["bid"] == scene.a2["id"] and receipt["replaces"] == scene.a1["id"]
    pdf = page.request.get(replaced.get_by_test_id("receipt-pdf").get_attribute("href") or "")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    page.screenshot(path=str(SHOTS / "bids-mine.png"), full_page=True)

    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    expect(replaced.get_by_test_id("bid-status")).to_have_text("Superseded")
    expect(current.get_by_test_id("bid-status")).to_have_text("Submitted (current)")
    expect(page.get_by_test_id("countdown").first).to_contain_text("left")
    page.screenshot(path=str(SHOTS / "bids-mine-en.png"), full_page=True)
    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()

    # the announcement: the current bid in its lot, the time left, the commands for that lot
    page.get_by_role("link", name=scene.world.tender["title"]).click()
    page.wait_for_load_state()
    lot = page.get_by_test_id("my-bid-1")
    expect(lot.get_by_test_id("current-bid")).to_have_attribute("data-bid", scene.a2["id"])
    expect(lot.get_by_test_id("receipt-tst")).to_be_visible()
    lot.locator("summary").click()
    expect(lot.get_by_test_id("commands-1")).to_contain_text(
        f"tenderhall bid submit ./out --tender {scene.world.tender['id']} --lot 1")
    expect(page.get_by_test_id("my-bids").get_by_test_id("countdown")).to_contain_text("剩余")
    page.get_by_test_id("my-bids").screenshot(path=str(SHOTS / "bids-announcement.png"))


def test_another_bidder_sees_none_of_it(scene: Scene, page_b: Page, browser: Browser,
                                        live_server: str) -> None:
    page = page_b
    page.goto("/bids")
    expect(page.get_by_test_id("bid-row")).to_have_count(1)
    expect(_row(page, scene.b1).get_by_test_id("bid-status")).to_have_text("有效（已递交）")
    html = page.content()
    for bid in (scene.a1, scene.a2):
        assert bid["id"] not in html and bid["p7m_sha256"][:16] not in html
    assert page.request.get(f"/bids/{scene.a2['id']}").status == 404
    assert page.request.get(f"/api/bids/{scene.a2['id']}/receipt.p7s").status == 404
    page.screenshot(path=str(SHOTS / "bids-other-bidder.png"), full_page=True)

    page.goto(f"/tenders/{scene.world.tender['id']}")
    expect(page.get_by_test_id("current-bid")).to_have_attribute("data-bid", scene.b1["id"])
    assert scene.a2["id"] not in page.content()

    # a bidder with the documents and no bid: where to start, for this very lot
    empty = _signed_in(browser, live_server, scene.c.login)
    empty.goto("/bids")
    expect(empty.get_by_test_id("bid-row")).to_have_count(0)
    expect(empty.get_by_test_id("no-bids")).to_contain_text(
        f"tenderhall bid seal ./bid --tender {scene.world.tender['id']} --lot 1")
    for bid in (scene.a1, scene.a2, scene.b1):
        assert bid["id"] not in empty.content()
    empty.screenshot(path=str(SHOTS / "bids-empty.png"), full_page=True)
    empty.context.close()

    context = _context(browser, live_server)  # nobody signed in: to the sign-in page
    anonymous = context.new_page()
    anonymous.goto("/bids")
    assert anonymous.url.endswith("/login?next=%2Fbids")
    context.close()


def test_withdraw_through_the_page(scene: Scene, page_a: Page) -> None:
    page = page_a
    page.goto("/bids")
    _row(page, scene.a2).get_by_test_id("bid-detail").click()
    page.wait_for_load_state()
    expect(page.get_by_test_id("p7m-sha256")).to_have_text(scene.a2["p7m_sha256"])
    href = page.get_by_test_id("withdraw-content").get_attribute("href")
    statement = page.request.get(href or "").body()
    assert json.loads(statement)["bid"] == scene.a2["id"]
    # a signature over other bytes is refused with the API's own code
    page.get_by_test_id("withdraw-signature").set_input_files(
        {"name": "withdrawal.json.p7s", "mimeType": "application/pkcs7-signature",
         "buffer": scene.a.sign(statement + b" ")})
    page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("withdraw-error")).to_contain_text("[signature_content_mismatch]")
    page.screenshot(path=str(SHOTS / "bid-withdraw.png"), full_page=True)
    page.get_by_test_id("withdraw-signature").set_input_files(
        {"name": "withdrawal.json.p7s", "mimeType": "application/pkcs7-signature",
         "buffer": scene.a.sign(statement)})
    with page.expect_navigation():
        page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("bid-status")).to_have_text("已撤回")
    expect(page.get_by_test_id("withdrawn-note")).to_be_visible()
    expect(page.get_by_test_id("withdraw")).to_have_count(0)
    withdrawal = page.request.get(
        page.get_by_test_id("withdrawal-p7s").get_attribute("href") or "")
    assert withdrawal.ok and withdrawal.body()[:1] == b"\x30"  # DER SignedData
    page.screenshot(path=str(SHOTS / "bid-withdrawn.png"), full_page=True)
    page.goto("/bids")
    expect(_row(page, scene.a2).get_by_test_id("bid-status")).to_have_text("已撤回")
    expect(_row(page, scene.a1).get_by_test_id("bid-status")).to_have_text("已被替换")


def _in_thread(work: Any) -> Any:
    """Run a coroutine on a loop of its own (Playwright's loop holds this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def test_staff_see_a_count_only_after_the_deadline(scene: Scene, browser: Browser,
                                                   live_server: str, settings: Settings) -> None:
    page = _signed_in(browser, live_server, scene.world.staff)
    page.goto(f"/workspace/tenders/{scene.world.tender['id']}")
    expect(page.get_by_test_id("bids-sealed")).to_be_visible()
    page.get_by_test_id("bid-counts").screenshot(path=str(SHOTS / "bids-staff-sealed.png"))
    for bid in (scene.a1, scene.a2, scene.b1):
        assert bid["id"] not in page.content()
    now = _in_thread(bid_world.db_now(settings))
    _in_thread(bid_world.set_deadline(settings, scene.world.tender["id"],
                                      now - timedelta(seconds=1)))
    page.reload()
    # A withdrew, B's bid stands: one valid bid, and still no name of who
    expect(page.get_by_test_id("bid-count-1")).to_have_attribute("data-count", "1")
    assert scene.b.name not in page.get_by_test_id("bid-counts").inner_text()
    page.get_by_test_id("bid-counts").screenshot(path=str(SHOTS / "bids-staff-count.png"))
    page.context.close()
