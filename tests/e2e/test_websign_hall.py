"""Certificate work at the opening, in the browser, each person in a context of their own.

Two bidders (one RSA, one P-256) sign in to the site and to the hall with their login
certificate and decrypt their bids from the hall page: the content key is unwrapped in the page
from the envelope's head and the price appears live. Before the deadline the page cannot even
fetch the head. After the window closes on the third bid, two officers (RSA and P-256) unseal
their shares in the page and hand them over. Every request body of the session is kept and
searched: no private key, no PKCS#12 file, no PEM, no password leaves a page, and a content key
goes out only in POST /api/bids/{id}/open, after the deadline.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from core import db
from core.settings import Settings
from tests.conftest import PASSWORD, committed
from tests.e2e import bid_world, websign_world
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import body_forms, key_forms, password_login, pick_p12, run
from tests.e2e.websign_world import P12_PASSWORD, Person, SignWorld
from tests.trading.test_opening_decrypt import own_key
from trading import chronograph

pytestmark = pytest.mark.browser
TOTALS = ["8650000.00", "8710000.00", "8990000.00"]


@dataclass
class Sent:
    """Every request with a body that left any page of the session, and when."""

    requests: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    after_deadline: bool = False

    def watch(self, context: BrowserContext) -> None:
        def keep(request: Request) -> None:
            body = request.post_data_buffer
            if body:
                self.requests.append((request.method, request.url, body, self.after_deadline))
        context.on("request", keep)


@dataclass
class Scene:
    settings: Settings
    world: SignWorld
    sent: Sent


@pytest.fixture(scope="module")
async def scene(settings: Settings, live_server: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    """(Async, so requested before the browser.) Three bids in; the deadline still ahead."""
    world = await websign_world.build(settings, live_server, tmp_path_factory.mktemp("websign"))
    conn = await committed(settings.database.url)
    try:
        for key_type, total in zip(("rsa2048", "p256", "p256"), TOTALS, strict=True):
            p = await websign_world.bidder(conn, world, key_type)
            await websign_world.bid(live_server, world, p, total)
        yield Scene(settings, world, Sent())
    finally:
        await conn.close()
        await websign_world.retire(settings, world.ca_ids)


def _context(browser: Browser, url: str, sent: Sent) -> BrowserContext:
    context = browser.new_context(base_url=url, locale="zh-CN")
    sent.watch(context)
    return context


def _pick(page: Page, scope: str, p12: bytes, password: str = P12_PASSWORD) -> None:
    pick_p12(page, scope, p12, password)


def _password_login(page: Page, login: str) -> None:
    password_login(page, login)


def _cert_login(page: Page, p: Person, lot_id: str) -> None:
    """Sign in to the site with the login certificate, landing on the hall."""
    page.goto(f"/login?next={quote(f'/hall/{lot_id}', safe='')}")
    page.get_by_test_id("cert-login-start").click()
    # a wrong password first: the picker says so and stays open
    _pick(page, "[data-cert-login]", p.p12("login"), password="not-the-password")
    expect(page.get_by_test_id("picker-error")).to_have_text("证书文件密码错误")
    _pick(page, "[data-cert-login]", p.p12("login"))
    page.wait_for_url(f"**/hall/{lot_id}")
    expect(page.get_by_test_id("who")).to_contain_text(p.name)


async def _window_closes(settings: Settings, tender_id: str) -> None:
    conn = await committed(settings.database.url)
    try:
        await conn.execute("UPDATE lot_openings SET window_closes_at = clock_timestamp() "
                           "WHERE tender_id = $1", tender_id)
        await conn.execute("UPDATE tenders SET next_due_at = now() - interval '1 second', "
                           "next_due_kind = 'decryption_closed' WHERE id = $1", tender_id)
        async with db.transaction(conn, {}):
            assert await chronograph.fire(conn, tender_id) == "decryption_closed"
    finally:
        await conn.close()


def test_bidders_sign_in_and_decrypt_in_the_hall(scene: Scene, browser: Browser,
                                                 live_server: str) -> None:
    world = scene.world
    lot = world.lot_id
    pages = []
    try:
        for p in world.bidders[:2]:
            page = _context(browser, live_server, scene.sent).new_page()
            pages.append(page)
            _cert_login(page, p, lot)
        # before the deadline the page cannot fetch the envelope's head: nothing to unwrap
        first = pages[0]
        first.get_by_test_id("decrypt").click()
        _pick(first, "[data-decrypt]", world.bidders[0].p12("encryption"))
        expect(first.get_by_test_id("decrypt-status")).to_contain_text("开标")
        expect(first.get_by_test_id("decrypt")).to_be_enabled()

        now = run(bid_world.db_now(scene.settings))
        run(bid_world.set_deadline(scene.settings, world.tender["id"], now - timedelta(seconds=5)))
        scene.sent.after_deadline = True
        for p, page, bid, total in zip(world.bidders, pages, world.bids, TOTALS, strict=False):
            page.reload()
            expect(page.get_by_test_id("live")).to_have_text("实时连接")
            page.get_by_test_id("cert-signin").click()
            _pick(page, "[data-cert-signin]", p.p12("login"))
            expect(page.get_by_test_id("cert-signin-status")).to_contain_text("签到成功")
            page.get_by_test_id("decrypt").click()
            _pick(page, "[data-decrypt]", p.p12("encryption"))
            expect(page.get_by_test_id("decrypt-status")).to_contain_text(
                f"{float(total):,.2f}", timeout=30000)
            row = page.locator(f"[data-testid=readings] tr[data-bid='{bid['id']}']")
            expect(row).to_contain_text(f"{float(total):,.2f}")
        # the head is its owner's alone: another bidder's is not there for it
        own = pages[0].request.get(f"/api/bids/{world.bids[0]['id']}/envelope-head")
        assert own.ok and own.body() == world.sealed[0][:65536]
        other = pages[1].request.get(f"/api/bids/{world.bids[0]['id']}/envelope-head")
        assert other.status == 404, other.text()
        # the other bidder sees the first one's price appear without reloading
        expect(pages[1].locator(f"[data-testid=readings] tr[data-bid='{world.bids[0]['id']}']")
               ).to_contain_text(f"{float(TOTALS[0]):,.2f}")
        expect(pages[1].get_by_test_id("signin-count")).to_have_text("2")
        pages[0].screenshot(path=str(SHOTS / "websign-hall-bidder.png"), full_page=True)
    finally:
        for page in pages:
            page.context.close()


def test_officers_unseal_and_hand_over_their_shares(scene: Scene, browser: Browser,
                                                    live_server: str) -> None:
    world = scene.world
    run(_window_closes(scene.settings, world.tender["id"]))
    pages = []
    try:
        for i, officer in enumerate(world.officers[:2]):
            page = _context(browser, live_server, scene.sent).new_page()
            pages.append(page)
            _password_login(page, officer.login)
            page.goto(f"/hall/{world.lot_id}")
            page.get_by_test_id("share-hand-over").click()
            _pick(page, "[data-share]", officer.p12("encryption"))
            expect(page.get_by_test_id("share-status")).to_contain_text(
                f"已有 {i + 1}/", timeout=30000)
        pages[-1].screenshot(path=str(SHOTS / "websign-hall-officer.png"), full_page=True)
    finally:
        for page in pages:
            page.context.close()
    run(_shares_held(scene.settings, world.lot_id, 2))


async def _shares_held(settings: Settings, lot_id: str, count: int) -> None:
    conn = await committed(settings.database.url)
    try:
        held = await conn.fetchval(
            "SELECT count(*) FROM lot_opening_shares WHERE lot_id = $1 AND submitted_at IS NOT NULL",
            lot_id)
        assert held == count
    finally:
        await conn.close()


def _secrets(world: SignWorld) -> dict[str, list[bytes]]:
    """What must never leave a page, by name, in the forms it could take."""
    found: dict[str, list[bytes]] = {"password": [P12_PASSWORD.encode(), PASSWORD.encode()],
                                     "pem": [b"-----BEGIN", b"PRIVATE KEY"]}
    for p in [*world.bidders, *world.officers]:
        for purpose, issued in p.certs.items():
            found[f"{p.login} {purpose} key"] = key_forms(issued.key)
            found[f"{p.login} {purpose} p12"] = [p.p12(purpose)[:64]]
    return found


def test_no_key_leaves_a_page_and_content_keys_only_at_the_opening(scene: Scene) -> None:
    """Runs last in the module: it reads what the tests above sent."""
    world = scene.world
    assert len(scene.sent.requests) > 10, "the session sent its requests"
    secrets = _secrets(world)
    content_keys = {base64.b64decode(own_key(p7m, b.bidder())): bid["id"]
                    for p7m, b, bid in zip(world.sealed, world.bidders, world.bids, strict=True)}
    key_posts = []
    for method, url, body, after in scene.sent.requests:
        for form in body_forms(body):
            for name, values in secrets.items():
                for value in values:
                    assert value not in form, f"{name} in {method} {url}"
            for cek, bid_id in content_keys.items():
                if cek in form or cek.hex().encode() in form:
                    assert method == "POST" and url.endswith(f"/api/bids/{bid_id}/open"), url
                    assert after, f"a content key left before the deadline: {url}"
                    assert json.loads(body) == {"content_key": base64.b64encode(cek).decode()}
                    key_posts.append(bid_id)
    # the two bidders who decrypted sent their own keys; the third's never left anywhere
    assert sorted(set(key_posts)) == sorted(b["id"] for b in world.bids[:2])


def test_the_page_shows_the_commands_folded(scene: Scene, browser: Browser,
                                            live_server: str) -> None:
    page = _context(browser, live_server, Sent()).new_page()
    try:
        _password_login(page, scene.world.bidders[2].login)
        page.goto(f"/hall/{scene.world.lot_id}")
        command = page.get_by_test_id("open-command")
        expect(command).to_be_hidden()
        expect(command).to_contain_text("tenderhall bid open")
        page.get_by_test_id("decrypt-box").locator("summary").click()
        expect(command).to_be_visible()
    finally:
        page.context.close()
