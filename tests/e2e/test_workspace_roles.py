"""Each role's workspace in a real browser, each person in a browser context of their own,
signed in through the login form: what each must see, and what each must not.

One published tender with two bidders holding its documents and one objection waiting, its
deadline later today; the people of every role; a CA of the test's own. What the
administrator adds (a CA, a calendar day far in the future) is undone at the end.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.clock import SHANGHAI
from core.identity import service as identity
from core.settings import Settings
from signing.ca import DevCA
from tests.conftest import PASSWORD, committed, credit_code, past
from tests.e2e import bid_world
from tests.e2e.conftest import SHOTS
from tests.e2e.people import check_page
from tests.e2e.test_tender_pages import _sign_in

pytestmark = pytest.mark.browser
CALENDAR_DAY = "2099-06-06"


@dataclass
class Cast:
    world: bid_world.BidWorld
    logins: dict[str, str]
    names: dict[str, str]
    extra_ca_pem: bytes
    extra_ca_name: str
    expert_cert_pem: bytes
    bidder_names: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        code: str = self.world.tender["code"]
        return code

    @property
    def lot_id(self) -> str:
        lot_id: str = self.world.tender["lots"][0]["id"]
        return lot_id


def _later_today(now: datetime) -> datetime:
    """Two hours from now, or just before midnight in Asia/Shanghai if that comes first:
    the operator's page must list the opening under today."""
    local = now.astimezone(SHANGHAI)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(now + timedelta(hours=2), midnight - timedelta(minutes=5))


@pytest.fixture(scope="module")
async def cast(settings: Settings, live_server: str,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cast]:
    """(Async, so requested before the browser.)"""
    tmp = tmp_path_factory.mktemp("workspace")
    world = await bid_world.build(settings, live_server, tmp, bidders=2)
    async with world.bidders[0].client(live_server) as http:
        r = await http.post(f"/api/tenders/{world.tender['id']}/objections",
                            json={"body": "资格条件第3.2款排斥了潜在投标人，请予澄清。"})
        assert r.status_code == 201, r.text
    suffix = secrets.token_hex(3)
    extra = DevCA(tmp / "extra-ca")
    extra.init(f"工作台测试CA{suffix}", crl_url="http://127.0.0.1:9/crl.der", now=past(10))
    names = {"admin": "孙管理", "supervisor": "赵监督", "site_operator": "周运维",
             "expert": f"钱专家{suffix}", "insurer": "吴承保", "bidder": "郑投标",
             "multi": "冯多岗"}
    logins = {role: f"ws-{role.replace('_', '')}-{suffix}" for role in names}
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            insurer_org = await identity.create_organization(
                conn, bid_world.SYSTEM, credit_code=credit_code("insurer"),
                name=f"平安保险测试{suffix}", kind="insurer")
            bidder_org = await identity.create_organization(
                conn, bid_world.SYSTEM, credit_code=credit_code(),
                name=f"工作台投标单位{suffix}", kind="bidder")
            for role, login in logins.items():
                org = {"insurer": insurer_org["id"], "bidder": bidder_org["id"]}.get(role)
                roles = ["supervisor", "site_operator"] if role == "multi" else [role]
                await identity.create_user(conn, bid_world.SYSTEM, login=login, name=names[role],
                                           roles=roles, password=PASSWORD, organization_id=org)
        now = await bid_world.db_now(settings)
        await bid_world.set_deadline(settings, world.tender["id"], _later_today(now))
        expert_cert = world.ca.issue(cn=names["expert"], purpose="signing")
        yield Cast(world, logins, names, extra.root.public_bytes(Encoding.PEM),
                   f"工作台测试根CA{suffix}", expert_cert.cert_pem(),
                   [b.bidder.name for b in world.bidders])
    finally:
        # committed: other tests notify every active supervisor and count trusted CAs
        await conn.execute("UPDATE users SET is_active = false WHERE login = ANY($1)",
                           list(logins.values()))
        await conn.execute("UPDATE trust_cas SET enabled = false WHERE name LIKE '工作台测试根CA%'")
        await conn.execute("DELETE FROM calendar_days WHERE day = $1",
                           date.fromisoformat(CALENDAR_DAY))
        await conn.close()
        await bid_world.retire(settings, world)


def _context(browser: Browser, live_server: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  base_url=live_server)
    context.on("page", lambda p: p.on("dialog", lambda d: d.accept()))
    return context


@pytest.fixture
def person(browser: Browser, live_server: str) -> Iterator[Any]:
    """Opens a fresh context per person, signed in through the login form."""
    contexts: list[BrowserContext] = []

    def sign_in(login: str, next_: str = "/workspace") -> Page:
        context = _context(browser, live_server)
        contexts.append(context)
        page = context.new_page()
        _sign_in(page, login, next_)
        return page

    yield sign_in
    for context in contexts:
        context.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"workspace-{name}.png"), full_page=True)


def _names_absent(page: Page, names: list[str]) -> None:
    text = page.content()
    for name in names:
        assert name not in text, name


def test_the_tenderer_sees_its_tenders_and_what_waits(cast: Cast, person: Any) -> None:
    page = person(cast.world.staff)
    expect(page.get_by_test_id("workspace-link")).to_have_text("工作台")
    section = page.get_by_test_id("section-tenderer")
    expect(section.get_by_test_id("my-tenders")).to_contain_text(cast.code)
    expect(section.get_by_test_id("todo-objection")).to_contain_text("待答复的异议 1")
    expect(page.get_by_test_id("new-tender")).to_be_visible()
    # T7: nobody who obtained the documents, not even the objector, is named before the deadline
    _names_absent(page, cast.bidder_names)
    _shot(page, "tenderer")


def test_the_supervisor_sees_phases_halls_and_a_verified_audit_log(cast: Cast,
                                                                   person: Any) -> None:
    page = person(cast.logins["supervisor"])
    page.get_by_test_id("open-supervisor").click()
    page.wait_for_url("**/workspace/supervisor")
    row = page.get_by_test_id(f"tender-{cast.code}")
    expect(row.get_by_test_id("phase")).to_have_text("异议暂停")
    expect(row.get_by_test_id("hall-link")).to_have_attribute("href", f"/hall/{cast.lot_id}")
    # a supervisor sees no administrator's action
    assert page.locator("form[data-api], form[data-pem-api], form[data-calendar]").count() == 0
    _shot(page, "supervisor")

    row.get_by_test_id("audit-link").click()
    page.wait_for_url("**/audit")
    status = page.get_by_test_id("chain-status")
    expect(status).to_have_attribute("data-ok", "true")
    expect(status).to_contain_text("哈希链完整")
    rows = page.get_by_test_id("audit-row")
    expect(rows.filter(has_text="tender.publish")).to_have_count(1)
    # T7: before the deadline neither who obtained the documents nor how many shows
    expect(rows.filter(has_text="document.holder")).to_have_count(0)
    expect(rows.filter(has_text="objection.submit")).to_have_count(0)
    expect(page.get_by_test_id("sealed-note")).to_be_visible()
    assert page.locator("[data-check]:not([data-check=ok])").count() == 0
    with page.expect_navigation():
        page.get_by_test_id("whole-chain").click()
    expect(page.get_by_test_id("chain-status")).to_contain_text("已从第一行起重新计算")
    _names_absent(page, cast.bidder_names)
    _shot(page, "audit")

    assert page.goto("/workspace/admin").status == 403  # type: ignore[union-attr]


def test_the_site_operator_sees_todays_openings_and_their_halls(cast: Cast, person: Any) -> None:
    page = person(cast.logins["site_operator"], "/workspace/operator")
    today = page.get_by_test_id("openings-today")
    row = today.get_by_test_id("opening-row").filter(has_text=cast.code)
    expect(row).to_have_count(1)
    expect(page.get_by_test_id("openings-week")).to_contain_text(cast.code)
    expect(page.get_by_test_id("evaluation-rooms")).to_contain_text("远程异地评标上线后")
    _shot(page, "operator")
    row.get_by_test_id("hall-link").click()
    page.wait_for_url(f"**/hall/{cast.lot_id}")
    assert page.goto("/workspace/supervisor").status == 403  # type: ignore[union-attr]


def test_the_administrator_keeps_people_keys_trust_and_calendar(cast: Cast, person: Any) -> None:
    page = person(cast.logins["admin"], "/workspace/admin")
    expect(page.get_by_test_id("people")).to_contain_text(cast.logins["supervisor"])
    expect(page.get_by_test_id("organizations")).to_contain_text(
        cast.world.bidders[0].bidder.credit_code)
    expect(page.get_by_test_id("certificates").get_by_test_id("certificate")
           .filter(has_text="加密").first).to_contain_text(" · 开标人")
    _shot(page, "admin")

    # revoke a bidder's key: the administrator may, the JSON API would not let them
    prefix = cast.world.bidders[1].api_key.split("_")[1]
    key_row = page.locator(f"[data-testid=api-key][data-prefix='{prefix}']")
    expect(key_row.get_by_test_id("key-state")).to_have_text("有效")
    with page.expect_navigation():
        key_row.get_by_test_id("revoke-key").click()
    expect(page.locator(f"[data-testid=api-key][data-prefix='{prefix}']")
           .get_by_test_id("key-state")).to_have_text("已吊销")

    # a CA from a PEM file, then disabled
    form = page.get_by_test_id("add-ca-form")
    form.get_by_test_id("ca-name").fill(cast.extra_ca_name)
    form.get_by_test_id("ca-file").set_input_files(
        {"name": "root.pem", "mimeType": "application/x-pem-file", "buffer": cast.extra_ca_pem})
    with page.expect_navigation():
        form.get_by_test_id("ca-add").click()
    ca_row = page.locator(f"[data-testid=ca][data-name='{cast.extra_ca_name}']")
    expect(ca_row.get_by_test_id("ca-state")).to_have_text("信任")
    with page.expect_navigation():
        ca_row.get_by_test_id("ca-disable").click()
    expect(page.locator(f"[data-testid=ca][data-name='{cast.extra_ca_name}']")
           .get_by_test_id("ca-state")).to_have_text("已停用")

    # a holiday in a year no deadline of any test reaches, then removed again
    page.goto("/workspace/admin?year=2099#calendar")
    form = page.get_by_test_id("calendar-form")
    form.get_by_test_id("day-date").fill(CALENDAR_DAY)
    form.get_by_test_id("day-name").fill("测试假日")
    before = int(page.get_by_test_id("working-days").inner_text())
    with page.expect_navigation():
        form.get_by_test_id("day-save").click()
    expect(page.locator(f"[data-day-of='{CALENDAR_DAY}']")).to_contain_text("节假日 · 测试假日")
    assert int(page.get_by_test_id("working-days").inner_text()) == before  # a Saturday
    with page.expect_navigation():
        page.get_by_test_id(f"day-delete-{CALENDAR_DAY}").click()
    expect(page.locator(f"[data-testid=calendar-day][data-day='{CALENDAR_DAY}']")).to_have_count(0)


def test_the_expert_learns_what_comes_and_binds_a_certificate(cast: Cast, person: Any) -> None:
    page = person(cast.logins["expert"])
    page.get_by_test_id("open-expert").click()
    page.wait_for_url("**/workspace/expert")
    expect(page.get_by_test_id("coming")).to_contain_text("评标邀请")
    form = page.get_by_test_id("bind-form")
    form.locator("input[type=file]").set_input_files(
        {"name": "me.pem", "mimeType": "application/x-pem-file", "buffer": cast.expert_cert_pem})
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("my-certificates")).to_contain_text(cast.names["expert"])
    assert page.locator("[data-new-key]").count() == 0
    _shot(page, "expert")


def test_the_insurer_makes_an_api_key_shown_once(cast: Cast, person: Any) -> None:
    page = person(cast.logins["insurer"], "/workspace/insurer")
    expect(page.get_by_test_id("coming")).to_contain_text("理赔")
    form = page.get_by_test_id("new-key-form")
    form.locator("input[name=name]").fill("承保系统对接")
    form.locator("button[type=submit]").click()
    key = page.get_by_test_id("new-key")
    expect(key).to_have_text(re.compile(r"^thk_[a-z0-9]{12}_\S+$"))
    secret = key.inner_text()
    page.reload()
    expect(page.get_by_test_id("my-api-keys")).to_contain_text("承保系统对接")
    assert secret not in page.content()  # shown once
    _shot(page, "insurer")


def test_a_bidder_gets_no_other_roles_page(cast: Cast, person: Any) -> None:
    page = person(cast.logins["bidder"])
    expect(page.get_by_test_id("section-bidder")).to_be_visible()
    assert page.get_by_test_id("section-admin").count() == 0
    for path in ("/workspace/admin", "/workspace/supervisor", "/workspace/operator",
                 "/workspace/supervisor/tenders/" + cast.world.tender["id"] + "/audit"):
        assert page.goto(path).status == 403, path  # type: ignore[union-attr]
    _shot(page, "bidder")


def test_a_person_with_two_roles_sees_a_section_each(cast: Cast, person: Any) -> None:
    page = person(cast.logins["multi"])
    expect(page.get_by_test_id("section-supervisor")).to_be_visible()
    expect(page.get_by_test_id("section-site_operator")).to_contain_text("今日开标")
    assert page.get_by_test_id("section-admin").count() == 0
    _shot(page, "multi")


ROLE_PAGES = [("admin", "/workspace/admin"), ("supervisor", "/workspace/supervisor"),
              ("site_operator", "/workspace/operator"), ("expert", "/workspace/expert"),
              ("insurer", "/workspace/insurer"), ("multi", "/workspace")]


def test_every_role_page_fits_a_phone_and_passes_axe(cast: Cast, person: Any) -> None:
    """Each role's page at 1280 and 390 px: no sideways scroll of the page, no serious or
    critical axe finding, the menu usable by keyboard; screenshots kept."""
    for role, path in ROLE_PAGES:
        page = person(cast.logins[role], path)
        check_page(page.context, path, f"workspace-role-{role}")
