"""Errors for people: a page route answers an HTML page (or, for 401, the sign-in page saying
why); a machine route keeps the JSON error body. Told apart by the route, nothing else.

In-process against the app (the request's transaction rolled back after each test), plus a
real server in a real browser for how the pages look and work at phone width.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar, get
from litestar.response import Template
from litestar.routes import HTTPRoute
from playwright.sync_api import Browser, BrowserContext, expect

from app import close_resources, create_app, open_resources
from core.error_pages import MACHINE_PREFIXES, is_page
from core.i18n import LANG_COOKIE
from core.identity import service as identity
from core.settings import Settings
from tests.conftest import PASSWORD, ROOT, Client, World, committed, credit_code, login
from tests.e2e.bid_world import SYSTEM
from tests.e2e.conftest import SHOTS
from tests.e2e.people import check_page

SHAPE = {"code", "message", "message_en", "detail"}


def _html(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert "data-testid=\"error-page\"" in r.text and f'data-status="{status}"' in r.text
    assert '<a href="/" data-testid="home-link">' in r.text
    # a person never sees the JSON body, nor a validation library's or Python's words
    for raw in ('"message_en"', "Traceback", "msgspec", "Expected `"):
        assert raw not in r.text
    return r.text


def _returns_template(handler: Any) -> bool:
    ret = getattr(handler.fn, "__annotations__", {}).get("return")
    return ret is Template or "Template" in str(ret)


def test_every_route_is_a_page_or_a_machine_route_by_its_path(settings: Settings) -> None:
    """A handler that renders a template is a page; one in the API's schema is a machine
    route. A route added later in the wrong place fails here, not in front of a person."""
    app = create_app(settings)
    pages, machines = set(), set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if _returns_template(handler):
                pages.add(route.path)
            elif handler.include_in_schema:
                machines.add(route.path)
    assert {"/", "/login", "/bids", "/workspace", "/hall/{lot_id:uuid}"} <= pages
    assert [p for p in pages if not is_page(p)] == []
    assert [p for p in machines if is_page(p)] == []
    assert not is_page("/api") and not is_page("/api/tenders/") and is_page("/apiary")
    assert all(not is_page(p + "/x") for p in MACHINE_PREFIXES)


async def test_401_on_a_page_is_the_sign_in_page_saying_why(client: Client, world: World) -> None:
    r = await client.get("/bids?tab=all")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fbids%3Ftab%3Dall"
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and 'data-reason="required"' in page.text
    assert "请先登录" in page.text and 'name="next" value="/bids?tab=all"' in page.text

    # a session that ended: the page says so, and the dead cookie is dropped
    client.cookies.set("th_session", "ended-" + uuid4().hex)
    r = await client.get("/workspace")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fworkspace&reason=expired"
    assert re.search(r'th_session="?"?;.*Max-Age=0', r.headers["set-cookie"], re.I)
    client.cookies.clear()
    client.cookies.set(LANG_COOKIE, "en")
    page = await client.get("/login?next=%2Fworkspace&reason=expired")
    assert 'data-reason="expired"' in page.text and "Your session has ended" in page.text
    assert '<html lang="en">' in page.text

    # the JSON API answers as it always did
    api = await client.get("/api/auth/me")
    assert api.status_code == 401 and set(api.json()) == SHAPE
    assert api.json()["code"] == "not_authenticated"


async def test_403_is_a_page_with_a_way_to_sign_in_as_someone_else(
        client: Client, world: World) -> None:
    await login(client, await world.user("bidder", await world.org("bidder")))
    r = await client.get("/workspace/new", headers={"referer": "http://testserver/bids"})
    text = _html(r, 403)
    assert 'data-code="forbidden"' in text and "无权访问" in text
    assert 'href="/login?next=%2Fworkspace%2Fnew&amp;reason=switch"' in text
    assert 'href="/bids" data-testid="back-link"' in text
    # a way back too long for the sign-in page's next goes home instead of failing there
    text = _html(await client.get("/workspace/new?" + "filter=1&" * 40), 403)
    assert 'href="/login?next=%2F&amp;reason=switch"' in text
    login_page = await client.get("/login?next=%2Fworkspace%2Fnew&reason=switch")
    assert 'data-reason="switch"' in login_page.text
    # in English when the person chose English
    client.cookies.set(LANG_COOKIE, "en")
    text = _html(await client.get("/workspace/new"), 403)
    assert "You cannot open this page" in text and "Sign in as another user" in text


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("get", "/no-such-page", 404, "not_found"),
    ("get", "/tenders/00000000-0000-4000-8000-000000000000", 404, "not_found"),
    ("get", "/tenders/not-a-uuid", 404, "not_found"),
    ("post", "/bids", 405, "method_not_allowed"),
    ("delete", "/", 405, "method_not_allowed"),
    ("get", "/?q=%00", 400, "invalid_input"),
    ("get", "/?published_from=2026-02-30", 400, "invalid_input"),
])
async def test_page_errors_are_pages(client: Client, method: str, path: str, status: int,
                                     code: str) -> None:
    r = await getattr(client, method)(path)
    text = _html(r, status)
    assert f'data-code="{code}"' in text
    assert '<html lang="zh-CN">' in text
    api = await getattr(client, method)("/api/nowhere" if status == 404 else "/api/tenders/")
    if status != 400:
        assert api.headers["content-type"].startswith("application/json")


async def test_a_refused_filter_says_what_was_wrong(client: Client) -> None:
    text = _html(await client.get("/?published_from=2026-02-30"), 400)
    assert "日期格式应为 YYYY-MM-DD" in text


@get("/people-test/boom", include_in_schema=False, sync_to_thread=False)
def boom_page() -> Template:
    raise RuntimeError("secret internals: SELECT * FROM users")


@get("/api/people-test/boom", sync_to_thread=False)
def boom_api() -> dict[str, str]:
    raise RuntimeError("secret internals")


@pytest.fixture(scope="module")
async def boom_app(settings: Settings) -> AsyncIterator[Litestar]:
    """The real app with two routes that fail as a bug would: a page and an API route."""
    application = create_app(settings)
    application.register(boom_page)
    application.register(boom_api)
    await open_resources(application.state, settings)
    yield application
    await close_resources(application.state)


@pytest.fixture(scope="module")
async def boom_html(boom_app: Litestar) -> str:
    """The 500 page as the app renders it, for the browser to show."""
    transport = httpx.ASGITransport(app=boom_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return (await http.get("/people-test/boom")).text


async def test_500_shows_the_request_id_never_a_traceback(boom_app: Litestar) -> None:
    transport = httpx.ASGITransport(app=boom_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/people-test/boom", headers={"X-Request-ID": "req-people-500"})
        text = _html(r, 500)
        assert "secret internals" not in text and "RuntimeError" not in text
        assert 'data-testid="request-id"' in text and "req-people-500" in text
        assert "服务器出错了" in text and 'data-testid="retry-link"' in text
        api = await http.get("/api/people-test/boom", headers={"X-Request-ID": "req-api-500"})
        assert api.status_code == 500 and api.json() == {
            "code": "internal_error", "message": "服务器内部错误",
            "message_en": "Internal server error", "detail": {"request_id": "req-api-500"}}
        http.cookies.set(LANG_COOKIE, "en")
        text = _html(await http.get("/people-test/boom"), 500)
        assert "Something went wrong on our side" in text and "Request id" in text


async def test_a_failed_sign_in_still_goes_where_the_person_was_going(
        client: Client, world: World) -> None:
    name = await world.user("bidder", await world.org("bidder"))
    r = await client.post("/login", data={"login": name, "password": "wrong", "next": "/bids"})
    assert r.status_code == 303 and r.headers["location"] == "/login?error=1&next=%2Fbids"
    page = await client.get(r.headers["location"])
    assert 'data-testid="login-error"' in page.text and 'name="next" value="/bids"' in page.text
    r = await client.post("/login", data={"login": name, "password": PASSWORD, "next": "/bids"})
    assert r.status_code == 303 and r.headers["location"] == "/bids"


# --- in a real browser (after every async test: the browser's loop runs from here on) -----


@pytest.fixture(scope="module")
async def bidder_login(settings: Settings, live_server: str) -> AsyncIterator[str]:
    """(Async, so requested before the browser.) A bidder with a password, committed."""
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            org = await identity.create_organization(
                conn, SYSTEM, credit_code=credit_code(), name=f"错误页测试单位{uuid4().hex[:4]}",
                kind="bidder")
            name = f"people-err-{uuid4().hex[:6]}"
            await identity.create_user(conn, SYSTEM, login=name, name="错误页经办",
                                       roles=["bidder"], password=PASSWORD,
                                       organization_id=org["id"])
        yield name
    finally:
        await conn.close()


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                              base_url=live_server)
    yield ctx
    ctx.close()


def test_error_pages_in_the_browser(bidder_login: str, boom_html: str, context: BrowserContext,
                                    live_server: str) -> None:
    page = context.new_page()
    # 401: a bookmark to my bids, signed out: the sign-in page says why, then goes back there
    page.goto("/bids")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fbids$"))
    expect(page.get_by_test_id("login-reason")).to_contain_text("请先登录")
    page.screenshot(path=str(SHOTS / "error-401-login.png"))
    page.fill("input[name=login]", bidder_login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/bids$"))
    page.close()
    # 403, 404 and 500 pages at both widths, with no serious accessibility finding
    check_page(context, "/workspace/new", "error-403", status=403)
    check_page(context, "/no-such-page", "error-404", status=404)
    context.route("**/people-test/boom", lambda route: route.fulfill(
        status=500, content_type="text/html; charset=utf-8", body=boom_html))
    check_page(context, "/people-test/boom", "error-500", status=500)
    page = context.new_page()
    page.goto("/no-such-page")
    expect(page.get_by_test_id("error-title")).to_have_text("页面不存在")
    page.get_by_test_id("home-link").click()
    expect(page).to_have_url(re.compile(r"/$"))
    # the session ends elsewhere: the next page says so
    context.add_cookies([{"name": "th_session", "value": "ended", "url": live_server}])
    page.goto("/bids")
    expect(page.get_by_test_id("login-reason")).to_contain_text("会话已过期")
    page.close()


def test_the_machine_prefixes_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("### Errors on pages", 1)[1].split("###", 1)[0]
    listed = re.search(r"a\s+path under (.+?) is a machine route", " ".join(section.split()))
    assert listed is not None
    assert re.findall(r"`(/[a-z]+)`", listed.group(1)) == list(MACHINE_PREFIXES)
