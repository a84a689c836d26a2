"""Pages in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Browser, Page

from core import audit
from core.identity import service as identity
from core.settings import Settings
from tests.conftest import PASSWORD, committed, credit_code
from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def published(settings: Settings) -> AsyncIterator[dict[str, str]]:
    """A published tender and a bidder, committed so the server process sees them."""
    suffix = secrets.token_hex(3)
    conn = await committed(settings.database.url)
    actor = audit.Actor(None, "system", None, "e2e")
    try:
        async with conn.transaction():
            org = await identity.create_organization(
                conn, actor, credit_code=credit_code("tenderer"), name="雅安市浏览器测试招标人",
                kind="tenderer", region="四川省雅安市")
            bidder_org = await identity.create_organization(
                conn, actor, credit_code=credit_code(), name="浏览器测试投标人", kind="bidder")
            login = f"e2e-bidder-{suffix}"
            await identity.create_user(conn, actor, login=login, name="浏览器投标人",
                                       roles=["bidder"], password=PASSWORD,
                                       organization_id=bidder_org["id"])
            code = f"E2E-{suffix}".upper()
            await conn.execute(
                """INSERT INTO tenders (code, title, region, owner_org_id, budget, status,
                                        published_at, documents_from, documents_until,
                                        bid_deadline)
                   VALUES ($1, '国道 318 线雅安段养护工程', '四川省雅安市', $2, $3, 'published',
                           now(), now(), now() + interval '6 days', now() + interval '21 days')""",
                code, org["id"], Decimal("12345678.90"))
        yield {"code": code, "login": login}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def browser_page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    yield page
    page.close()


def test_home_lists_published_tenders_in_chinese_and_english(
        live_server: str, published: dict[str, str], browser_page: Page) -> None:
    page = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server}/?q={published['code']}")
    table = page.get_by_test_id("tender-list")
    assert table.is_visible()
    row = table.locator("tbody tr").first
    assert published["code"] in row.inner_text()
    assert "国道 318 线雅安段养护工程" in row.inner_text()
    assert "12,345,678.90" in row.inner_text()
    assert "招标中" in row.inner_text()
    assert page.title() == "天衡公共资源电子交易平台"
    page.screenshot(path=str(SHOTS / "home-zh.png"), full_page=True)

    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert "Amendments and clarifications" in page.content()
    assert "Open for bids" in page.get_by_test_id("tender-list").inner_text()
    page.screenshot(path=str(SHOTS / "home-en.png"), full_page=True)
    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert "变更/澄清公告" in page.content()


def test_login_page_refuses_then_accepts(live_server: str, published: dict[str, str],
                                         browser_page: Page) -> None:
    page = browser_page
    page.goto(f"{live_server}/login")
    page.fill("input[name=login]", published["login"])
    page.fill("input[name=password]", "wrong password")
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("login-error").is_visible()
    assert "用户名或密码错误" in page.get_by_test_id("login-error").inner_text()
    page.screenshot(path=str(SHOTS / "login-error.png"))

    page.fill("input[name=login]", published["login"])
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    assert page.url.rstrip("/") == live_server
    assert "浏览器投标人" in page.get_by_test_id("who").inner_text()
    page.screenshot(path=str(SHOTS / "signed-in.png"))

    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("login-link").is_visible()


def test_static_assets_are_served(live_server: str) -> None:
    r = httpx.get(f"{live_server}/static/site.css")
    assert r.status_code == 200 and "--brand" in r.text
    assert httpx.get(f"{live_server}/static/nope.css").status_code == 404
