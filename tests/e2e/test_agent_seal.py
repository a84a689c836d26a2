"""A bidder whose keys live in a USB key seals, submits and decrypts its bid in the browser.

The keys are generated inside a SoftHSM2 token (a signing, an encryption and a login key, as
a CA's USB key carries them) and never leave it: the page reaches them through the signing
agent (``tenderhall agent``), and every use is confirmed at the agent's terminal, here by the
test writing to its standard input. The bidder pairs the tab once, seals and submits from the
sealing page (the encryption certificate comes from the token, not from a file), gets its
receipt with every check passed, and once the deadline has passed signs in to the hall and
decrypts from the hall page: the content key is unwrapped through the token (ECDH on P-256 in
the token, the KDF and key unwrap in the page) and the price appears. Two other bidders sent
their bids with the tool, so the lot opens. Every request body of the session is kept: the
content key leaves the page once, in the request that hands it over after the deadline.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from core.identity import service as identity
from core.settings import Settings
from signing import login as login_service
from tests.client.agent_world import AgentProcess, Token, new_token
from tests.conftest import PASSWORD, committed, credit_code
from tests.e2e import bid_world, websign_world
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import body_forms, password_login, run, sealed_receipt
from tests.e2e.websign_world import SignWorld

pytestmark = pytest.mark.browser
TOTAL = "7654321.09"
OTHERS = ["7700000.00", "7800000.00"]


@dataclass
class TokenBidder:
    login: str
    name: str
    code: str
    token: Token
    certs: dict[str, x509.Certificate] = field(default_factory=dict)  # purpose -> certificate


@dataclass
class Scene:
    settings: Settings
    world: SignWorld
    bidder: TokenBidder
    sent: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    after_deadline: bool = False


async def _token_bidder(settings: Settings, url: str, world: SignWorld, tmp: Path) -> TokenBidder:
    """An organization, its person (password login) and a USB key with three keys made in it;
    the login and encryption certificates bound to the person, the documents obtained."""
    code = credit_code()
    name = f"令牌投标单位{secrets.token_hex(3)}"
    login = f"token-{secrets.token_hex(4)}"
    token = new_token(tmp, label="ca-usb-key")
    b = TokenBidder(login, name, code, token)
    for key_id, key_type, purpose in (("01", "rsa2048", "signing"), ("02", "p256", "encryption"),
                                      ("03", "p256", "login")):
        b.certs[purpose] = token.provision(world.ca, key_id, key_type, purpose=purpose,
                                           person=f"{name}李四", org=name, code=code)
    token.store(world.ca.issuing)
    token.store(world.ca.root)
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            org = await identity.create_organization(conn, bid_world.SYSTEM, credit_code=code,
                                                     name=name, kind="bidder")
            user: UUID = await identity.create_user(
                conn, bid_world.SYSTEM, login=login, name="李四", roles=["bidder"],
                password=PASSWORD, organization_id=org["id"])
            for purpose in ("login", "encryption"):
                await login_service.bind_certificate(
                    conn, bid_world.SYSTEM, user_id=user, purpose=purpose,
                    certificate=b.certs[purpose].public_bytes(Encoding.PEM))
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        (await http.post("/api/auth/login", json={"login": login, "password": PASSWORD})
         ).raise_for_status()
        (await http.post(f"/api/tenders/{world.tender['id']}/documents/obtain")).raise_for_status()
    return b


@pytest.fixture(scope="module")
async def scene(settings: Settings, live_server: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    """(Async, so requested before the browser.) Two bids in by the tool; the deadline ahead."""
    tmp = tmp_path_factory.mktemp("agent-seal")
    world = await websign_world.build(settings, live_server, tmp)
    conn = await committed(settings.database.url)
    try:
        for total in OTHERS:
            p = await websign_world.bidder(conn, world, "p256")
            await websign_world.bid(live_server, world, p, total)
    finally:
        await conn.close()
    bidder = await _token_bidder(settings, live_server, world, tmp / "token")
    try:
        yield Scene(settings, world, bidder)
    finally:
        await websign_world.retire(settings, world.ca_ids)


@pytest.fixture(scope="module")
def agent(scene: Scene, live_server: str) -> Iterator[AgentProcess]:
    proc = AgentProcess(scene.bidder.token, [live_server])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def page(scene: Scene, browser: Browser, live_server: str, agent: AgentProcess) -> Iterator[Page]:
    """The bidder's one tab for the whole session, every request body in it kept."""
    context: BrowserContext = browser.new_context(base_url=live_server, locale="zh-CN",
                                                  viewport={"width": 1280, "height": 900})

    def keep(request: Request) -> None:
        if request.post_data_buffer:
            scene.sent.append((request.method, request.url, request.post_data_buffer,
                               scene.after_deadline))
    context.on("request", keep)
    page = context.new_page()
    password_login(page, scene.bidder.login)
    # the agent listens on a port of the test's choosing: saved for this origin, as docs/agent.md says
    page.evaluate("(port) => localStorage.setItem('tenderhall.agent.port', port)",
                  agent.url.rsplit(":", 1)[1])
    yield page
    context.close()


def _use_agent(page: Page, scope: str) -> None:
    box = page.locator(scope)
    box.get_by_test_id("picker-agent").check()
    expect(box.get_by_test_id("p12-file")).to_be_hidden()
    box.get_by_test_id("picker-use").click()


def _serials(p7m: bytes, tmp: Path) -> set[int]:
    """The serial numbers of the envelope's recipients, as ``openssl cms -cmsout -print`` reads them."""
    path = tmp / "bid.p7m"
    path.write_bytes(p7m)
    out = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(path)],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    return {int(s, 0) for s in re.findall(r"serialNumber: (\S+)", out.stdout)}


def test_a_token_bidder_seals_and_submits_through_the_agent(
        scene: Scene, page: Page, agent: AgentProcess, tmp_path: Path) -> None:
    world, b = scene.world, scene.bidder
    page.goto(f"/tenders/{world.tender['id']}/lots/1/seal")
    expect(page.get_by_test_id("seal-form")).to_be_visible()
    _use_agent(page, "#holder")
    # the tab pairs once: the code the page shows is the one the agent's terminal asks about
    notice = page.get_by_test_id("agent-pairing")
    expect(notice).to_be_visible()
    code = re.search(r"[0-9A-Z]{6}", notice.inner_text())
    assert code, notice.inner_text()
    question = agent.answer("y")
    assert code.group(0) in question
    # the signing certificate, out of the three the token holds
    expect(page.get_by_test_id("seal-holder")).to_contain_text(f"{b.name} · 李四 ({b.code}) · RSA")

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "技术标.pdf").write_bytes(secrets.token_bytes(3 * 1024 * 1024))
    (docs / "商务标.txt").write_text("令牌投标 商务标\n" * 200, encoding="utf-8")
    page.get_by_test_id("seal-files").set_input_files(sorted(str(d) for d in docs.iterdir()))
    page.get_by_test_id("seal-total").fill(TOTAL)
    page.get_by_test_id("seal-days").fill("180")
    with agent.confirming() as confirmed:
        page.get_by_test_id("seal-submit").click()
        bid_id = sealed_receipt(page)
    card = page.get_by_test_id("seal-receipt")
    expect(card.locator("tr[data-check=signer]")).to_contain_text(f"{b.name} · 李四 ({b.code})")
    page.screenshot(path=str(SHOTS / "agent-seal-receipt.png"), full_page=True)
    # the inner and the outer signature, each confirmed, each saying what it is for
    assert len(confirmed.questions) == 2, confirmed.questions
    for q in confirmed.questions:
        assert f"签署并封装投标文件：{world.tender['code']} 第 1 标段" in q, q
        assert "id 01]" in q and "李四" in q, q
    p7m = run(bid_world.stored_bid(scene.settings, bid_id))
    # sealed for the token's encryption certificate and the lot's opening certificate
    assert _serials(p7m, tmp_path) >= {b.certs["encryption"].serial_number,
                                       world.opening.serial_number}
    scene.world.bids.append({"id": bid_id})


def test_the_token_bidder_signs_in_and_decrypts_in_the_hall(
        scene: Scene, page: Page, agent: AgentProcess) -> None:
    world = scene.world
    assert len(world.bids) == 3, "the sealing test ran first"
    bid_id = world.bids[-1]["id"]
    now = run(bid_world.db_now(scene.settings))
    run(bid_world.set_deadline(scene.settings, world.tender["id"], now - timedelta(seconds=5)))
    scene.after_deadline = True
    page.goto(f"/hall/{world.lot_id}")
    expect(page.get_by_test_id("live")).to_have_text("实时连接")
    with agent.confirming() as confirmed:
        page.get_by_test_id("cert-signin").click()
        _use_agent(page, "[data-cert-signin]")
        expect(page.get_by_test_id("cert-signin-status")).to_contain_text("签到成功", timeout=60_000)
        page.get_by_test_id("decrypt").click()
        _use_agent(page, "[data-decrypt]")
        expect(page.get_by_test_id("decrypt-status")).to_contain_text(
            f"{float(TOTAL):,.2f}", timeout=60_000)
    expect(page.locator(f"[data-testid=readings] tr[data-bid='{bid_id}']")).to_contain_text(
        f"{float(TOTAL):,.2f}")
    page.screenshot(path=str(SHOTS / "agent-hall-decrypted.png"), full_page=True)
    # no new pairing: the tab paired at sealing; one question for the login key (the one with
    # client authentication), one for the encryption key, each saying what it is for
    assert len(confirmed.questions) == 2, confirmed.questions
    assert "开标大厅签到" in confirmed.questions[0] and "id 03]" in confirmed.questions[0]
    assert "开标解密" in confirmed.questions[1] and "id 02]" in confirmed.questions[1]
    assert not any("配对" in q for q in confirmed.questions)
    _content_key_left_once(scene, bid_id)


def _content_key_left_once(scene: Scene, bid_id: str) -> None:
    """The content key goes out in the request that hands it over after the deadline, and in
    no request before it, in any form."""
    handed = [body for method, url, body, after in scene.sent
              if method == "POST" and url.endswith(f"/api/bids/{bid_id}/open")]
    assert len(handed) == 1
    assert all(after for method, url, _, after in scene.sent if url.endswith("/open"))
    cek = base64.b64decode(json.loads(handed[0])["content_key"])
    assert len(cek) == 32
    before = [(m, u, body) for m, u, body, after in scene.sent if not after]
    assert any(u.endswith("/finalize") for _, u, _ in before), "the sealing session was kept"
    for method, url, body in before:
        for form in body_forms(body):
            assert cek not in form and cek.hex().encode() not in form, f"{method} {url}"

