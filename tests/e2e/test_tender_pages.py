"""A tender created, signed and published through the pages, in a real browser.

The staff member, the bidder and an anonymous visitor each have their own
browser context. Signatures are made here with the organization's certificate
(the agency's own machine, in real life) and uploaded as .p7s files through the
forms, exactly as a person would.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core import audit
from core.identity import service as identity
from core.settings import Settings
from signing import cms, trust
from signing import login as login_service
from signing.ca import DevCA, Issued
from tests.conftest import PASSWORD, committed, credit_code, past
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import pick_p12

pytestmark = pytest.mark.browser
SYSTEM = audit.Actor(None, "system", None, "e2e")


@dataclass
class Cast:
    staff: str
    bidder: str
    signer: Issued
    officers: list[str]
    suffix: str


@pytest.fixture(scope="module")
async def cast(settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[Cast]:
    """(Requested before any browser fixture: async fixtures cannot start once Playwright's
    loop runs.) A trusted CA of its own, a tenderer with a signer and three officers, and a bidder,
    committed so that the server process sees them; the CA leaves the trust list after."""
    suffix = secrets.token_hex(3)
    ca = DevCA(tmp_path_factory.mktemp("e2e-ca"))
    ca.init(f"浏览器测试CA{suffix}", crl_url="http://127.0.0.1:9/crl.der", key_type="p256",
            now=past(30))
    conn = await committed(settings.database.url)
    ca_ids: list[UUID] = []
    try:
        async with conn.transaction():
            for name, cert in ((f"e2e root {suffix}", ca.root), (f"e2e issuing {suffix}",
                                                                 ca.issuing)):
                row = await trust.add_ca(conn, SYSTEM, name=name,
                                         certificate=cert.public_bytes(Encoding.PEM))
                ca_ids.append(row["id"])
            await conn.execute("UPDATE trust_cas SET crl_der = $2 WHERE id = $1", ca_ids[1],
                               ca.crl_der())
            code = credit_code("tenderer")
            org = await identity.create_organization(
                conn, SYSTEM, credit_code=code, name=f"雅安市交通建设有限公司{suffix}",
                kind="tenderer", region="四川省雅安市")
            staff = f"staff-{suffix}"
            await identity.create_user(conn, SYSTEM, login=staff, name="王经办",
                                       roles=["tenderer"], password=PASSWORD,
                                       organization_id=org["id"])
            officers = []
            for i in range(3):
                login = f"officer{i}-{suffix}"
                user = await identity.create_user(
                    conn, SYSTEM, login=login, name=f"开标人{i + 1}", roles=["tenderer"],
                    password=PASSWORD, organization_id=org["id"])
                enc = ca.issue(cn=f"开标人{i + 1}", org=org["name"], credit_code=code,
                               purpose="encryption")
                await login_service.bind_certificate(conn, SYSTEM, user_id=user,
                                                     certificate=enc.cert_pem(),
                                                     purpose="encryption")
                officers.append(login)
            bidder_org = await identity.create_organization(
                conn, SYSTEM, credit_code=credit_code(), name=f"蜀通路桥工程有限公司{suffix}",
                kind="bidder")
            bidder = f"bidder-{suffix}"
            await identity.create_user(conn, SYSTEM, login=bidder, name="李投标",
                                       roles=["bidder"], password=PASSWORD,
                                       organization_id=bidder_org["id"])
        signer = ca.issue(cn="王经办", org=org["name"], credit_code=code, purpose="signing")
        yield Cast(staff, bidder, signer, officers, suffix)
    finally:
        await conn.execute("UPDATE trust_cas SET enabled = false WHERE id = ANY($1)", ca_ids)
        await conn.close()


def _context(browser: Browser, live_server: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  base_url=live_server, accept_downloads=True)
    context.on("page", lambda p: p.on("dialog", lambda d: d.accept()))
    return context


def _sign_in(page: Page, login: str, next_: str = "/") -> None:
    page.goto(f"/login?next={quote(next_, safe='')}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()


def _sign(cast: Cast, data: bytes) -> bytes:
    return cms.sign(data, cert=cast.signer.cert, key=cast.signer.key, chain=cast.signer.chain)


def _file(name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def _submit_and_reload(page: Page, testid: str) -> None:
    with page.expect_navigation():
        page.get_by_test_id(testid).click()


@pytest.fixture(scope="module")
def staff_page(cast: Cast, browser: Browser, live_server: str) -> Iterator[Page]:
    context = _context(browser, live_server)
    page = context.new_page()
    _sign_in(page, cast.staff, "/workspace")
    yield page
    context.close()


@pytest.fixture(scope="module")
def bidder_page(cast: Cast, browser: Browser, live_server: str) -> Iterator[Page]:
    context = _context(browser, live_server)
    page = context.new_page()
    _sign_in(page, cast.bidder)
    yield page
    context.close()


@pytest.fixture(scope="module")
def tender_url(cast: Cast, staff_page: Page) -> str:
    """Create the draft through the form: two lots, three officers."""
    page = staff_page
    assert page.url.endswith("/workspace")
    page.get_by_test_id("new-tender").click()
    page.wait_for_load_state()
    page.get_by_test_id("f-code").fill(f"YA-E2E-{cast.suffix}")
    page.get_by_test_id("f-title").fill("国道318线雅安段路面改造工程")
    page.fill("input[name=region]", "四川省雅安市")
    page.fill("input[name=budget]", "12000000.00")
    page.get_by_test_id("lot-title").fill("第一标段：路基路面")
    page.get_by_test_id("lot-budget").fill("8000000.00")
    page.get_by_test_id("lot-security").fill("160000.00")
    page.get_by_test_id("add-lot").click()
    page.get_by_test_id("lot-title").nth(1).fill("第二标段：交通安全设施")
    page.get_by_test_id("lot-budget").nth(1).fill("4000000.00")
    page.get_by_test_id("lot-security").nth(1).fill("80000.00")
    officers = page.get_by_test_id("officers")
    for login in cast.officers:
        officers.locator("label", has_text=login).locator("input").check()
    page.screenshot(path=str(SHOTS / "tender-new.png"), full_page=True)
    with page.expect_navigation(url="**/workspace/tenders/*"):
        page.get_by_test_id("save").click()
    expect(page.get_by_test_id("tender-status")).to_have_text("草稿")
    return page.url


def test_staff_create_upload_and_publish_through_the_pages(cast: Cast, staff_page: Page,
                                                           tender_url: str) -> None:
    page = staff_page
    tender_id = tender_url.rstrip("/").rsplit("/", 1)[1]
    # the form kept what was typed, lots included
    assert page.get_by_test_id("lot-title").nth(1).input_value() == "第二标段：交通安全设施"
    assert page.get_by_test_id("lot-budget").first.input_value() == "8000000.00"

    # publishing without documents is refused with the API's own error, in Chinese
    content = page.request.get(f"/api/tenders/{tender_id}/announcement").body()
    page.get_by_test_id("publish-signature").set_input_files(
        _file("announcement.json.p7s", _sign(cast, content)))
    page.get_by_test_id("publish-submit").click()
    error = page.get_by_test_id("publish-error")
    expect(error).to_be_visible()
    assert "[tender_has_no_documents]" in error.inner_text()

    # a document whose signature is over other bytes is refused, then the right one is stored
    document = "第一章 招标公告\n第二章 投标人须知\n".encode() * 200
    page.get_by_test_id("upload-file").set_input_files(
        _file("招标文件.pdf", document, "application/pdf"))
    page.get_by_test_id("upload-signature").set_input_files(
        _file("招标文件.pdf.p7s", _sign(cast, document + b"tampered")))
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("upload-error")).to_contain_text("[signature_content_mismatch]")
    page.get_by_test_id("upload-signature").set_input_files(
        _file("招标文件.pdf.p7s", _sign(cast, document)))
    _submit_and_reload(page, "upload-submit")
    docs = page.get_by_test_id("documents")
    expect(docs).to_contain_text("招标文件.pdf")
    expect(docs).to_contain_text(f"{len(document):,}")

    # an announcement signed before the draft changed is outdated
    stale = page.request.get(f"/api/tenders/{tender_id}/announcement").body()
    page.get_by_test_id("f-title").fill("国道318线雅安段路面改造工程（二次）")
    _submit_and_reload(page, "save")
    page.get_by_test_id("publish-signature").set_input_files(
        _file("announcement.json.p7s", _sign(cast, stale)))
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("publish-error")).to_contain_text("[notice_outdated]")
    page.screenshot(path=str(SHOTS / "tender-draft.png"), full_page=True)

    content = page.request.get(f"/api/tenders/{tender_id}/announcement").body()
    assert "（二次）".encode() in content
    page.get_by_test_id("publish-signature").set_input_files(
        _file("announcement.json.p7s", _sign(cast, content)))
    _submit_and_reload(page, "publish-submit")
    expect(page.get_by_test_id("tender-status")).to_have_text("招标中")
    expect(page.get_by_test_id("notices")).to_contain_text("招标公告")
    page.screenshot(path=str(SHOTS / "tender-published.png"), full_page=True)


def test_public_list_filters_and_announcement(cast: Cast, browser: Browser, live_server: str,
                                              tender_url: str) -> None:
    context = _context(browser, live_server)
    page = context.new_page()
    page.goto("/")
    page.select_option("select[name=region]", "四川省雅安市")
    page.select_option("select[name=procedure]", "open")
    page.fill("input[name=q]", cast.suffix)
    with page.expect_navigation():
        page.get_by_role("button", name="搜索").click()
    assert "procedure=open" in page.url and "region=" in page.url
    rows = page.get_by_test_id("tender-list").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("国道318线雅安段路面改造工程（二次）")
    expect(rows.first).to_contain_text("公开招标")
    page.screenshot(path=str(SHOTS / "tender-list-filtered.png"), full_page=True)
    page.select_option("select[name=procedure]", "gp_inquiry")
    with page.expect_navigation():
        page.get_by_role("button", name="搜索").click()
    expect(page.get_by_test_id("empty")).to_have_text("没有符合条件的项目")

    page.goto(tender_url.replace("/workspace/tenders/", "/tenders/"))
    expect(page.get_by_test_id("tender-status")).to_have_text("招标中")
    expect(page.get_by_test_id("login-to-obtain")).to_be_visible()
    expect(page.get_by_test_id("lots")).to_contain_text("第二标段：交通安全设施")
    verify = page.get_by_test_id("how-to-verify")
    expect(verify).to_contain_text("openssl cms -verify -binary -inform DER")
    expect(verify).to_contain_text("pdfsig")
    assert page.get_by_test_id("download").count() == 0  # anonymous: nothing to download
    page.screenshot(path=str(SHOTS / "tender-announcement-public.png"), full_page=True)
    context.close()


def test_bidder_obtains_documents_and_objects_then_staff_answer_and_clarify(
        cast: Cast, staff_page: Page, bidder_page: Page, tender_url: str) -> None:
    public_url = tender_url.replace("/workspace/tenders/", "/tenders/")
    page = bidder_page
    page.goto(public_url)
    # obtaining is a form of its own (a POST); until then there is nothing to download
    assert page.get_by_test_id("download").count() == 0
    page.get_by_test_id("obtain").get_by_role("button").click()
    expect(page.get_by_test_id("holder-state")).to_contain_text("本单位已获取招标文件")
    with page.expect_download() as download:
        page.get_by_test_id("documents").get_by_test_id("download").first.click()
    assert download.value.suggested_filename == "招标文件.pdf"
    saved = Path(download.value.path())
    assert saved.read_bytes().startswith("第一章 招标公告".encode())

    page.get_by_test_id("objection-body").fill("评标办法第3条的业绩要求排斥潜在投标人，请予修改。")
    _submit_and_reload(page, "objection-submit")
    expect(page.get_by_test_id("my-objection")).to_contain_text("待答复")
    page.screenshot(path=str(SHOTS / "tender-announcement-bidder.png"), full_page=True)

    staff = staff_page
    staff.goto(tender_url)
    expect(staff.get_by_test_id("paused")).to_be_visible()
    # T7: before the deadline the staff learn neither who obtained the documents nor how many
    expect(staff.get_by_test_id("holders-sealed")).to_be_visible()
    expect(staff.get_by_test_id("holders")).to_have_count(0)
    expect(staff.get_by_test_id("holders-count")).to_have_count(0)
    # the answer is signed in the page; an empty one is stopped at the field first
    staff.get_by_test_id("answer-sign").click()
    expect(staff.get_by_test_id("answer-error")).to_contain_text("至少 2 个字")
    staff.get_by_test_id("answer-text").fill("业绩要求系行业通行条件，不作修改。")
    staff.get_by_test_id("answer-sign").click()
    pick_p12(staff, "[data-sign-answer]", cast.signer.pkcs12(b"answer-p12"), "answer-p12")
    staff.wait_for_load_state()
    expect(staff.get_by_test_id("paused")).to_have_count(0, timeout=30_000)
    expect(staff.get_by_test_id("objection")).to_contain_text("不作修改")
    expect(staff.get_by_test_id("answer-signed")).to_contain_text("王经办")
    # the objector reads who signed it and gets the signed bytes
    page.reload()
    expect(page.get_by_test_id("my-objection")).to_contain_text("不作修改")
    expect(page.get_by_test_id("answer-signed")).to_contain_text("王经办")
    page.get_by_test_id("my-objection").screenshot(path=str(SHOTS / "tender-objection-answered.png"))
    signed = page.request.get(page.get_by_test_id("answer-json").get_attribute("href") or "")
    assert signed.ok and json.loads(signed.body())["answer"] == "业绩要求系行业通行条件，不作修改。"

    staff.get_by_test_id("c-title").fill("关于第二标段技术参数的澄清")
    staff.get_by_test_id("c-body").fill("第五章技术标准第2.3条护栏板厚度更正为4毫米。")
    _submit_and_reload(staff, "c-submit")
    draft = staff.get_by_test_id("clarification-draft")
    expect(draft).to_contain_text("关于第二标段技术参数的澄清")
    href = staff.get_by_test_id("clarify-content").get_attribute("href")
    assert href is not None
    content = staff.request.get(href).body()
    staff.get_by_test_id("clarify-signature").set_input_files(
        _file("clarification.json.p7s", _sign(cast, content)))
    _submit_and_reload(staff, "clarify-submit")
    expect(staff.get_by_test_id("notices")).to_contain_text("关于第二标段技术参数的澄清")
    expect(staff.get_by_test_id("deliveries-1")).to_have_text("")  # T7: not even a count
    staff.screenshot(path=str(SHOTS / "tender-manage-published.png"), full_page=True)

    page.goto(public_url)
    expect(page.get_by_test_id("notice-1")).to_contain_text("护栏板厚度更正为4毫米")
