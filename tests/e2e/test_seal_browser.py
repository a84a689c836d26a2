"""A bidder seals and submits a bid in the page, from a PKCS#12 file, against a real server.

The page zips, signs and envelopes in the browser and uploads in parts. The
connection is cut during a part (the page retries and goes on), and in a
second case the tab is closed mid-upload and the bid is resumed in a new tab
from IndexedDB. Each receipt is checked on the page, and the bid the platform
stored is opened with nothing but ``openssl cms``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
import subprocess
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from playwright.sync_api import Browser, Page, Route, expect

from core.identity import service as identity
from core.settings import Settings
from signing import stream
from signing.ca import Issued
from signing.envelope import unwrap_from
from signing.signed_stream import extract_attached_stream
from tests.conftest import PASSWORD, PKI, committed, credit_code
from tests.e2e import bid_world
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import body_forms, key_forms, sealed_receipt

pytestmark = pytest.mark.browser
P12_PASSWORD = "p12-口令-secret"
PART = 16 * 1024 * 1024


@dataclass
class Person:
    login: str
    name: str
    credit_code: str
    signer: Issued
    enc: Issued


def _run(coro: Any) -> Any:
    """Run a coroutine off the thread whose event loop Playwright's sync API holds."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def world(settings: Settings, live_server: str, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[bid_world.BidWorld]:
    tmp = tmp_path_factory.mktemp("seal")
    built = _run(bid_world.build(settings, live_server, tmp, bidders=0))
    yield built
    _run(bid_world.retire(settings, built))


async def _person(settings: Settings, url: str, world: bid_world.BidWorld, key_type: str) -> Person:
    """A bidder who signs in with a password and holds the tender documents."""
    code = credit_code()
    name = f"页面投标单位{secrets.token_hex(3)}"
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            org = await identity.create_organization(conn, bid_world.SYSTEM, credit_code=code,
                                                     name=name, kind="bidder")
            login = f"seal-{secrets.token_hex(4)}"
            await identity.create_user(conn, bid_world.SYSTEM, login=login, name="页面经办",
                                       roles=["bidder"], password=PASSWORD,
                                       organization_id=org["id"])
    finally:
        await conn.close()
    signer = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="signing",
                            key_type=key_type)  # type: ignore[arg-type]
    enc = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="encryption",
                         key_type=key_type)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        (await http.post("/api/auth/login", json={"login": login, "password": PASSWORD})
         ).raise_for_status()
        tender_id = world.tender["id"]
        (await http.post(f"/api/tenders/{tender_id}/documents/obtain")).raise_for_status()
    return Person(login, name, code, signer, enc)


def _files(tmp: Path, person: Person) -> tuple[Path, Path, list[Path]]:
    """The PKCS#12 file, the encryption certificate and two documents (one of ~20 MB)."""
    p12 = tmp / "sign.p12"
    p12.write_bytes(person.signer.pkcs12(P12_PASSWORD.encode()))
    enc = tmp / "enc.crt"
    enc.write_bytes(person.enc.cert.public_bytes(Encoding.PEM))
    docs = tmp / "docs"
    docs.mkdir()
    big = docs / "技术标.pdf"
    big.write_bytes(secrets.token_bytes(PART + 4 * 1024 * 1024))
    small = docs / "商务标.txt"
    small.write_text("商务标正文\n" * 100, encoding="utf-8")
    return p12, enc, [big, small]


def _sign_in(browser: Browser, url: str, login: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  base_url=url)
    page = context.new_page()
    page.goto(f"/login?next={quote('/', safe='')}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    return page


def _open_holder(page: Page, p12: Path) -> None:
    page.get_by_test_id("p12-file").set_input_files(str(p12))
    page.get_by_test_id("p12-password").fill(P12_PASSWORD)
    page.get_by_test_id("picker-use").click()
    expect(page.get_by_test_id("seal-holder")).to_be_visible()


def _fill(page: Page, enc: Path, docs: list[Path], total: str) -> None:
    page.get_by_test_id("seal-enc-cert").set_input_files(str(enc))
    page.get_by_test_id("seal-files").set_input_files([str(d) for d in docs])
    page.get_by_test_id("seal-total").fill(total)
    page.get_by_test_id("seal-days").fill("180")


def _openssl_opens(tmp: Path, world: bid_world.BidWorld, person: Person, p7m: bytes,
                   docs: list[Path], total: str) -> None:
    """The stored bid, opened with plain openssl: decrypt with the encryption key, verify, unzip."""
    (tmp / "bid.p7m").write_bytes(p7m)
    (tmp / "enc.key").write_bytes(person.enc.key.private_bytes(  # type: ignore[union-attr]
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    roots = tmp / "roots.pem"
    roots.write_bytes(world.ca.root.public_bytes(Encoding.PEM))
    subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in",
                    str(tmp / "bid.p7m"), "-recip", str(tmp / "enc.crt"), "-inkey",
                    str(tmp / "enc.key"), "-out", str(tmp / "bid.signed")], check=True)
    subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                    str(tmp / "bid.signed"), "-CAfile", str(roots), "-purpose", "any",
                    "-out", str(tmp / "bid.zip")], check=True)
    with zipfile.ZipFile(tmp / "bid.zip") as z:
        names = sorted(z.namelist())
        assert names == sorted(["price.json", *(d.name for d in docs)])
        for d in docs:
            assert hashlib.sha256(z.read(d.name)).digest() == hashlib.sha256(d.read_bytes()).digest()
        sheet = json.loads(z.read("price.json"))
        assert json.loads(z.comment)["tool"] == "tenderhall-web"
    assert sheet["total_price"] == total
    # the platform's own streaming readers (the opening uses them) read it too
    signed, zipped = io.BytesIO(), io.BytesIO()
    stream.open_stream(io.BytesIO(p7m), signed, cert=person.enc.cert, key=person.enc.key)
    signed.seek(0)
    extract_attached_stream(signed, zipped)
    assert zipped.getvalue() == (tmp / "bid.zip").read_bytes()
    assert sheet["bidder"]["credit_code"] == person.credit_code
    assert sheet["tender_code"] == world.tender["code"]


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_seal_and_submit_with_a_cut_connection(
        key_type: str, world: bid_world.BidWorld, browser: Browser, live_server: str,
        settings: Settings, tmp_path: Path, pki: PKI) -> None:
    person = _run(_person(settings, live_server, world, key_type))
    p12, enc, docs = _files(tmp_path, person)
    page = _sign_in(browser, live_server, person.login)
    sent: list[tuple[str, str, bytes]] = []
    page.context.on("request", lambda r: sent.append((r.method, r.url, r.post_data_buffer))
                    if r.post_data_buffer else None)
    try:
        page.goto(f"/tenders/{world.tender['id']}")
        page.get_by_test_id("seal-link-1").click()
        expect(page.get_by_test_id("seal-form")).to_be_visible()
        _open_holder(page, p12)
        # the price sheet is checked field by field before anything is sealed
        page.get_by_test_id("seal-total").fill("1,234.5")
        page.get_by_test_id("seal-submit").click()
        expect(page.get_by_test_id("seal-error-total_price")).to_contain_text("两位小数")
        expect(page.get_by_test_id("seal-error-files")).to_be_visible()
        # files over the lot's limit (500 MB by default) are refused before a byte is read
        sparse = tmp_path / "超大附件.bin"
        with sparse.open("wb") as f:
            f.truncate(600 * 1024 * 1024)
        page.get_by_test_id("seal-files").set_input_files(str(sparse))
        page.get_by_test_id("seal-submit").click()
        expect(page.get_by_test_id("seal-error-files")).to_contain_text(
            "600.0 MB，超过本标段投标文件上限 500 MB")
        expect(page.get_by_test_id("seal-bar")).to_be_hidden()
        # an SM2 encryption certificate, or a file that is none, is stopped before sealing
        small = tmp_path / "附件.txt"
        small.write_text("附件", encoding="utf-8")
        page.get_by_test_id("seal-files").set_input_files(str(small))
        page.get_by_test_id("seal-total").fill("1234567.80")
        page.get_by_test_id("seal-days").fill("180")
        for name, data, says in (
                ("sm2.crt", pki.ca3.issue(cn="国密加密", purpose="encryption", key_type="sm2")
                 .cert.public_bytes(Encoding.PEM), "投标工具密封"),
                ("junk.crt", b"-----BEGIN CERTIFICATE-----\nnot base64\n", "无法识别")):
            page.get_by_test_id("seal-enc-cert").set_input_files(
                {"name": name, "mimeType": "application/x-pem-file", "buffer": data})
            page.get_by_test_id("seal-submit").click()
            expect(page.get_by_test_id("seal-error-certificate")).to_contain_text(says)
            expect(page.get_by_test_id("seal-bar")).to_be_hidden()
        cut = {"n": 0}

        def part_two(route: Route) -> None:
            if cut["n"] == 0:
                cut["n"] += 1
                route.abort("connectionreset")
            else:
                route.continue_()
        page.route("**/api/bid-uploads/*/parts/2", part_two)
        total = "1234567.80"
        _fill(page, enc, docs, total)
        page.get_by_test_id("seal-submit").click()
        bid = sealed_receipt(page)
        assert cut["n"] == 1
        page.screenshot(path=str(SHOTS / f"seal-{key_type}-receipt.png"), full_page=True)
        p7m = _run(bid_world.stored_bid(settings, bid))
        receipt = page.get_by_test_id("seal-receipt").locator("tr[data-check=sha256] td").nth(2)
        assert receipt.inner_text() == hashlib.sha256(p7m).hexdigest()
        _openssl_opens(tmp_path, world, person, p7m, docs, total)
        _nothing_secret_sent(sent, person, p12, p7m)
    finally:
        page.context.close()


def _nothing_secret_sent(sent: list[tuple[str, str, bytes]], person: Person, p12: Path,
                         p7m: bytes) -> None:
    """No request of the sealing session carried a private key, the PKCS#12 file or its
    password, or the bid's content key (raw, hex or base64): sealing happens before the
    deadline, and the content key leaves the bidder only at the opening."""
    # the streaming reader, as the opening reads it (the page writes the content in pieces)
    head = stream._read_head(stream._Reader(io.BytesIO(p7m)))
    cek = unwrap_from(list(head.infos), person.enc.cert, person.enc.key)
    secret = {"p12 password": [P12_PASSWORD.encode()], "pem": [b"PRIVATE KEY"],
              "p12 file": [p12.read_bytes()[:64]], "signing key": key_forms(person.signer.key),
              "encryption key": key_forms(person.enc.key), "content key": [cek, cek.hex().encode()]}
    assert any(url.endswith("/finalize") for _, url, _ in sent), "the session was recorded"
    for method, url, body in sent:
        for form in body_forms(body):
            for name, values in secret.items():
                assert not any(v in form for v in values), f"{name} in {method} {url}"


def test_seal_resumes_after_the_tab_is_closed(
        world: bid_world.BidWorld, browser: Browser, live_server: str, settings: Settings,
        tmp_path: Path) -> None:
    person = _run(_person(settings, live_server, world, "p256"))
    p12, enc, docs = _files(tmp_path, person)
    page = _sign_in(browser, live_server, person.login)
    context = page.context
    try:
        # at phone width the page does not overflow sideways
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"/tenders/{world.tender['id']}/lots/1/seal")
        expect(page.get_by_test_id("seal-form")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(SHOTS / "seal-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        _open_holder(page, p12)
        reached = {"part2": False}

        def hold(route: Route) -> None:
            reached["part2"] = True
            route.abort("connectionreset")
        page.route("**/api/bid-uploads/*/parts/2", hold)
        _fill(page, enc, docs, "888.88")
        page.get_by_test_id("seal-submit").click()
        page.wait_for_function("() => document.querySelector('[data-upload-bar]').value > 0",
                               timeout=120_000)
        for _ in range(100):  # part 2 is on its way (and cut) when the tab closes
            if reached["part2"]:
                break
            page.wait_for_timeout(100)
        assert reached["part2"]
        page.close()  # the tab is closed with part 1 sent

        page = context.new_page()
        page.goto(f"/tenders/{world.tender['id']}/lots/1/seal")
        resume = page.get_by_test_id("seal-resume")
        expect(resume).to_be_visible()
        expect(resume).to_contain_text(docs[0].name)
        _open_holder(page, p12)
        # a different file under the same name is refused before anything is sent
        other = tmp_path / "other"
        other.mkdir()
        fake = other / docs[0].name
        fake.write_bytes(secrets.token_bytes(docs[0].stat().st_size))
        page.get_by_test_id("seal-resume-files").set_input_files([str(fake), str(docs[1])])
        page.get_by_test_id("seal-resume-go").click()
        expect(resume.locator("[data-resume-error]")).to_contain_text(docs[0].name, timeout=60_000)
        page.get_by_test_id("seal-resume-files").set_input_files([str(d) for d in docs])
        page.get_by_test_id("seal-resume-go").click()
        bid = sealed_receipt(page)
        page.screenshot(path=str(SHOTS / "seal-resumed-receipt.png"), full_page=True)
        _openssl_opens(tmp_path, world, person, _run(bid_world.stored_bid(settings, bid)), docs, "888.88")
        # the record is gone once the bid is in: a reload offers no resume
        page.reload()
        expect(page.get_by_test_id("seal-form")).to_be_visible()
        expect(page.get_by_test_id("seal-resume")).to_be_hidden()
    finally:
        context.close()
