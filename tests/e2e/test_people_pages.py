"""The main pages of each role, as people use them: at 1280 px and at 390 px (a phone) no page
scrolls sideways, the navigation folds behind a menu button that works by keyboard, and
axe-core finds nothing serious or critical. Screenshots of each go to var/screenshots/.

A committed tender with one bid from a bidder who signs in with a password; the tenderer's
staff see their workspace and the tender they manage; a visitor sees the public pages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.settings import Settings
from tests.conftest import committed
from tests.e2e import bid_world
from tests.e2e.conftest import SHOTS
from tests.e2e.people import check_page
from tests.e2e.test_bid_pages import _bidder, _bids, _signed_in
from tests.trading.bidding import Bidder

pytestmark = pytest.mark.browser


@dataclass
class Scene:
    world: bid_world.BidWorld
    bidder: Bidder
    bid: dict[str, Any]


@pytest.fixture(scope="module")
async def scene(settings: Settings, live_server: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    """(Async, so requested before the browser.) A published tender and one bid in it."""
    world = await bid_world.build(settings, live_server, tmp_path_factory.mktemp("people"),
                                  bidders=0)
    conn = await committed(settings.database.url)
    try:
        bidder = await _bidder(conn, world, f"川西路桥建设有限公司{secrets.token_hex(2)}")
        (bid,) = await _bids(live_server, world, bidder, ["9850000.00"])
        yield Scene(world, bidder, bid)
    finally:
        await conn.close()
        await bid_world.retire(settings, world)


def _context(browser: Browser, live_server: str) -> BrowserContext:
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                               base_url=live_server)


@pytest.fixture(scope="module")
def visitor(scene: Scene, browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = _context(browser, live_server)
    yield context
    context.close()


@pytest.fixture(scope="module")
def bidder(scene: Scene, browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    page = _signed_in(browser, live_server, scene.bidder.login)
    page.close()
    yield page.context
    page.context.close()


@pytest.fixture(scope="module")
def staff(scene: Scene, browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    page = _signed_in(browser, live_server, scene.world.staff)
    page.close()
    yield page.context
    page.context.close()


def test_public_pages(scene: Scene, visitor: BrowserContext) -> None:
    tender = scene.world.tender
    check_page(visitor, "/", "home")
    check_page(visitor, f"/tenders/{tender['id']}", "tender")
    check_page(visitor, "/login", "login")
    check_page(visitor, f"/hall/{tender['lots'][0]['id']}", "hall", wait_for="[data-testid=phase]")


def test_bidder_pages(scene: Scene, bidder: BrowserContext) -> None:
    tender = scene.world.tender
    check_page(bidder, "/bids", "bids-mine")
    check_page(bidder, f"/bids/{scene.bid['id']}", "bid")
    check_page(bidder, f"/tenders/{tender['id']}", "tender-bidder")
    check_page(bidder, f"/hall/{tender['lots'][0]['id']}", "hall-bidder",
               wait_for="[data-testid=phase]")


def test_staff_pages(scene: Scene, staff: BrowserContext) -> None:
    check_page(staff, "/workspace", "workspace")
    check_page(staff, f"/workspace/tenders/{scene.world.tender['id']}", "workspace-tender")
    check_page(staff, "/workspace/new", "workspace-new")


def test_english_pages(scene: Scene, bidder: BrowserContext, live_server: str) -> None:
    bidder.add_cookies([{"name": "th_lang", "value": "en", "url": live_server}])
    try:
        check_page(bidder, "/bids", "bids-mine-en")
        page = bidder.new_page()
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_test_id("skip-link")).to_have_text("Skip to the content")
        page.close()
    finally:
        bidder.add_cookies([{"name": "th_lang", "value": "zh", "url": live_server}])


def test_the_skip_link_is_the_first_stop(scene: Scene, visitor: BrowserContext) -> None:
    page = visitor.new_page()
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_test_id("skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.close()


def _no_library_words(page: Page) -> None:
    for note in page.get_by_test_id("field-error").all_inner_texts() + \
            page.get_by_test_id("form-error").all_inner_texts():
        for raw in ("Expected", "`", "{", "msgspec", "message_en"):
            assert raw not in note, note


def test_a_form_says_what_is_wrong_next_to_the_field(scene: Scene, staff: BrowserContext) -> None:
    """The API's refusals (the validation library's and the rules') become plain messages next
    to the fields they name; what was typed stays; a save is confirmed on the next page."""
    suffix = scene.world.staff.removeprefix("bidstaff-")
    page = staff.new_page()
    page.goto("/workspace/new")
    # the browser's own checks are bypassed, to see what the API says
    page.evaluate("() => { document.querySelector('[data-testid=tender-form]').noValidate = true; }")
    page.get_by_test_id("f-title").fill("人民路综合管廊工程")
    page.get_by_test_id("lot-title").fill("第一标段")
    page.get_by_test_id("lot-budget").fill("5000000.00")
    page.get_by_test_id("save").click()
    code = page.get_by_test_id("f-code")
    expect(code).to_have_attribute("aria-invalid", "true")
    note = page.locator("label", has=code).get_by_test_id("field-error")
    expect(note).to_have_text("此项为必填项")
    expect(code).to_be_focused()
    expect(page.get_by_test_id("form-error")).to_contain_text("请按提示修改标出的项目")
    assert page.get_by_test_id("f-title").input_value() == "人民路综合管廊工程"
    _no_library_words(page)
    page.screenshot(path=str(SHOTS / "form-field-error.png"), full_page=False)

    # a rule's refusal names its field too: k shares of n cannot exceed n
    code.fill(f"GL-{secrets.token_hex(3)}")
    expect(code).not_to_have_attribute("aria-invalid", "true")
    page.fill("input[name=officers_k]", "9")
    page.get_by_test_id("save").click()
    k = page.locator("input[name=officers_k]")
    expect(k).to_have_attribute("aria-invalid", "true")
    expect(page.locator("label", has=k).get_by_test_id("field-error")).to_have_text(
        "开标密钥门限 k 不能大于 n")
    _no_library_words(page)

    # a lot's amount the validation library refuses: marked in its own row
    page.fill("input[name=officers_k]", "2")
    page.get_by_test_id("lot-budget").fill("五百万")
    page.get_by_test_id("save").click()
    budget = page.get_by_test_id("lot-budget")
    expect(budget).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("field-error")).to_have_count(1)
    _no_library_words(page)

    page.get_by_test_id("lot-budget").fill("5000000.00")
    officers = page.get_by_test_id("officers")
    for i in range(3):
        officers.locator("label", has_text=f"bidofficer{i}-{suffix}").locator("input").check()
    with page.expect_navigation(url="**/workspace/tenders/*"):
        page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved")).to_have_text("已完成：保存草稿")
    page.close()


def test_a_form_sent_after_the_session_ended_keeps_what_was_typed(
        scene: Scene, browser: Browser, live_server: str) -> None:
    page = _signed_in(browser, live_server, scene.bidder.login)
    try:
        page.goto(f"/tenders/{scene.world.tender['id']}")
        page.get_by_test_id("objection-body").fill("第三章评分标准中的业绩要求排斥潜在投标人。")
        page.context.clear_cookies()
        page.get_by_test_id("objection-submit").click()
        error = page.get_by_test_id("objection-error")
        expect(error).to_contain_text("登录已过期或尚未登录")
        expect(error.locator("a")).to_have_attribute("href", re.compile(r"^/login\?next=.*reason=expired"))
        assert page.get_by_test_id("objection-body").input_value().startswith("第三章")
    finally:
        page.context.close()
