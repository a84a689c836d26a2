"""Signing in the page on the agency's and the bidder's pages, RSA and P-256, each person in a
context of their own: the agency uploads a document signed in the page, publishes the tender by
signing its announcement, and publishes a clarification the same way; a bidder withdraws its bid
with a statement signed in the page. The server checks each signature as it checks the tool's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography import x509
from playwright.sync_api import Browser, Page, expect

from core.settings import Settings
from signing.ca import KeyType
from tests.conftest import committed
from tests.e2e import websign_world
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import password_login, pick_p12, run
from tests.e2e.websign_world import P12_PASSWORD, Person, SignWorld

pytestmark = pytest.mark.browser
KEYS: tuple[KeyType, ...] = ("rsa2048", "p256")


@dataclass
class Agency:
    staff: Person
    officers: list[Person]
    draft: dict[str, str]
    bidder: Person


@dataclass
class Cast:
    settings: Settings
    world: SignWorld  # its CA, for the bidders' certificates
    agencies: dict[str, Agency]


@pytest.fixture(scope="module")
async def cast(settings: Settings, live_server: str,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cast]:
    """(Async, so requested before the browser.) Per key type: an agency with a draft tender
    and a bidder, all of whose certificates have that key type."""
    ca, ca_ids = await websign_world.trusted_ca(settings, tmp_path_factory.mktemp("websign-m"))
    world = SignWorld(ca, ca_ids, {}, None, None, [])  # type: ignore[arg-type]
    agencies = {}
    conn = await committed(settings.database.url)
    try:
        for kt in KEYS:
            staff, officers = await websign_world.agency(settings, ca, staff_key=kt)
            async with httpx.AsyncClient(base_url=live_server, timeout=60) as http:
                draft = await websign_world.draft(http, staff, officers)
            bidder = await websign_world.bidder(conn, world, kt)
            agencies[kt] = Agency(staff, officers, draft, bidder)
        yield Cast(settings, world, agencies)
    finally:
        await conn.close()
        await websign_world.retire(settings, ca_ids)


def _reloads(page: Page, scope: str, p12: bytes) -> None:
    with page.expect_navigation():
        pick_p12(page, scope, p12, P12_PASSWORD)


@pytest.mark.parametrize("kind", KEYS)
def test_the_agency_signs_and_publishes_in_the_page(cast: Cast, browser: Browser,
                                                    live_server: str, kind: str) -> None:
    agency = cast.agencies[kind]
    tender_id = agency.draft["id"]
    page = browser.new_context(base_url=live_server, locale="zh-CN").new_page()
    try:
        password_login(page, agency.staff.login, f"/workspace/tenders/{tender_id}")
        signing = agency.staff.p12("signing")
        # a document, signed here on upload
        document = "第一章 招标公告\n第二章 投标人须知\n".encode() * 300
        page.get_by_test_id("upload-file").set_input_files(
            {"name": "招标文件.pdf", "mimeType": "application/pdf", "buffer": document})
        page.get_by_test_id("upload-sign").click()
        _reloads(page, "[data-testid=upload]", signing)
        expect(page.get_by_test_id("documents")).to_contain_text("招标文件.pdf")
        # the announcement, signed here: published
        page.get_by_test_id("publish-sign").click()
        _reloads(page, "[data-sign-publish]", signing)
        expect(page.get_by_test_id("tender-status")).to_have_text("招标中")
        # a clarification: drafted in the form, signed and published here
        title = f"关于工期的澄清{secrets.token_hex(2)}"
        page.get_by_test_id("c-title").fill(title)
        page.get_by_test_id("c-body").fill("工期调整为 300 日历天。")
        with page.expect_navigation():
            page.get_by_test_id("c-submit").click()
        page.get_by_test_id("clarify-sign").click()
        _reloads(page, "[data-sign-publish]", signing)
        expect(page.get_by_test_id("notices")).to_contain_text(title)
        expect(page.get_by_test_id("clarification-draft")).to_have_count(0)
        page.screenshot(path=str(SHOTS / f"websign-publish-{kind}.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.parametrize("kind", KEYS)
def test_a_bidder_withdraws_with_a_statement_signed_in_the_page(
        cast: Cast, browser: Browser, live_server: str, kind: str) -> None:
    """After the test above published the tender."""
    agency = cast.agencies[kind]

    async def tender() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=live_server, timeout=60) as http:
            out: dict[str, str] = (await http.get(f"/api/tenders/{agency.draft['id']}")).json()
            return out
    published = run(tender())
    lot = published["lots"][0]["id"]  # type: ignore[index]
    opening = run(_opening(live_server, published["id"], lot))
    world = SignWorld(cast.world.ca, [], published, opening, agency.staff, [])
    bid = run(websign_world.bid(live_server, world, agency.bidder, "7650000.00"))
    page = browser.new_context(base_url=live_server, locale="zh-CN").new_page()
    try:
        password_login(page, agency.bidder.login, f"/bids/{bid['id']}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("withdraw-sign").click()
        _reloads(page, "[data-sign-withdraw]", agency.bidder.p12("signing"))
        expect(page.get_by_test_id("bid-status")).to_have_text("已撤回")
        expect(page.get_by_test_id("withdrawn-note")).to_be_visible()
        receipt = page.request.get(f"/api/bids/{bid['id']}/withdrawal-receipt.p7s")
        assert receipt.ok and receipt.body()[:1] == b"\x30"
    finally:
        page.context.close()


async def _opening(url: str, tender_id: str, lot_id: str) -> x509.Certificate:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        r = await http.get(f"/api/tenders/{tender_id}/lots/{lot_id}/opening-certificate")
        r.raise_for_status()
        return x509.load_pem_x509_certificate(r.content)
