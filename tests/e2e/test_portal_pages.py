"""The public portal in a browser, at desk and phone width, with the demo's catalogue in it:
sections by notice type, a tender page that reads as a notice, verification folded away."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core import audit
from core.settings import Settings
from demo import portal
from signing.ca import DevCA
from tests.conftest import committed
from tests.e2e.conftest import SHOTS

WIDTHS = {"desk": 1280, "phone": 390}


@pytest.fixture(scope="module")
async def catalogue(settings: Settings, tmp_path_factory: pytest.TempPathFactory,
                    ) -> AsyncIterator[dict[str, str]]:
    """The demo's forty tenders, committed so the server process sees them."""
    ca = DevCA(tmp_path_factory.mktemp("portal") / "ca-a")
    ca.init("测试CA甲", crl_url="http://127.0.0.1:9/ca-a/crl.der")
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            await portal.seed_portal(conn, audit.Actor(None, "system", None, "e2e"), ca)
        clarified = next(p for p in portal.PLAN if p["clarify"] and p["phase"] == "published")
        opened = next(p for p in portal.PLAN if p["phase"] == "opened")
        yield {"clarified": clarified["code"], "opened": opened["code"]}
    finally:
        await conn.close()


def _page(browser: Browser, base_url: str, width: int) -> Page:
    context = browser.new_context(base_url=base_url, locale="zh-CN",
                                  viewport={"width": width, "height": 900})
    return context.new_page()


def _no_page_overflow(page: Page, width: int) -> None:
    """Wide tables scroll inside their own box; the page itself never scrolls sideways."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("size", ["desk", "phone"])
def test_home_in_sections_at_desk_and_phone_width(
        size: str, catalogue: dict[str, str], browser: Browser, live_server: str) -> None:
    width = WIDTHS[size]
    page = _page(browser, live_server, width)
    page.goto("/")
    for section in ("tenders", "changes", "openings", "results"):
        expect(page.get_by_test_id(f"section-{section}")).to_be_visible()
    expect(page.get_by_test_id("tender-list").locator("tbody tr")).to_have_count(20)
    expect(page.get_by_test_id("opening-list")).to_contain_text("流标")
    expect(page.get_by_test_id("opening-list")).to_contain_text("已唱标")
    expect(page.get_by_test_id("change-list")).to_contain_text("澄清公告")
    _no_page_overflow(page, width)
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
    page.screenshot(path=str(SHOTS / f"portal-home-{width}.png"), full_page=True)
    page.screenshot(path=str(SHOTS / f"portal-home-{width}-top.png"))
    page.locator("#openings").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"portal-home-{width}-openings.png"))
    # the tender list pages on its own; the other sections stay where they were
    page.get_by_test_id("next-page").click()
    page.wait_for_load_state()
    assert "page=2" in page.url
    expect(page.get_by_test_id("tender-list").locator("tbody tr").first).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("size", ["desk", "phone"])
def test_tender_page_reads_as_a_notice(size: str, catalogue: dict[str, str], browser: Browser,
                                       live_server: str) -> None:
    width = WIDTHS[size]
    page = _page(browser, live_server, width)
    page.goto(f"/?q={catalogue['clarified']}")
    page.get_by_test_id("tender-list").locator("tbody tr a").first.click()
    page.wait_for_load_state()
    notice = page.get_by_test_id("announcement")
    expect(notice).to_contain_text("现发布招标公告如下")
    expect(notice).to_contain_text("统一社会信用代码")
    expect(page.get_by_test_id("ceiling")).to_contain_text("各标段合计")
    expect(page.get_by_test_id("notice-1")).to_contain_text("澄清公告")
    # the signer as people read them; raw names and commands folded into Verify
    expect(page.get_by_test_id("notice-0").get_by_test_id("signer")).to_contain_text("（")
    verify = page.get_by_test_id("how-to-verify")
    expect(verify.locator("pre")).to_be_hidden()
    expect(page.get_by_test_id("raw-subject").first).to_be_hidden()
    _no_page_overflow(page, width)
    page.screenshot(path=str(SHOTS / f"portal-tender-{width}.png"), full_page=True)
    page.screenshot(path=str(SHOTS / f"portal-tender-{width}-top.png"))
    verify.locator("summary").click()
    expect(verify.locator("pre")).to_be_visible()
    expect(verify).to_contain_text("openssl cms -verify")
    expect(page.get_by_test_id("raw-subject").first).to_contain_text("CN=")
    expect(verify).to_contain_text("record.json")
    _no_page_overflow(page, width)
    page.screenshot(path=str(SHOTS / f"portal-tender-verify-{width}.png"), full_page=True)
    # each lot's hall is one click away
    page.get_by_test_id("hall-link").first.click()
    page.wait_for_url("**/hall/**")
    page.context.close()


def test_favicon_is_served(live_server: str) -> None:
    r = httpx.get(f"{live_server}/static/favicon.svg")
    assert r.status_code == 200 and r.content.startswith(b"<svg")
