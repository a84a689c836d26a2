"""A platform page uses a USB key through static/sign/agent.js and a running agent.

The page pairs (the code it shows is the one the agent's terminal asks about), lists the
token's certificates, signs, and unwraps the content keys of envelopes ``openssl cms
-encrypt`` made for the token's certificates: RSA key transport and P-256 key agreement,
whose KDF and AES key unwrap run outside the token, as cms.js runs them in the page. Each
use is confirmed on the agent's standard input, as a person would at its terminal. A page of
another origin in the same browser gets nothing.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from playwright.sync_api import Browser, Page, expect

from signing import envelope
from tests.client.agent_world import AgentProcess, Token, bidder_token
from tests.conftest import PKI
from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.browser
CONTENT = "开标一览表 price sheet ".encode() * 300 + os.urandom(32)


@pytest.fixture(scope="module")
def token(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Token:
    return bidder_token(pki.ca1, tmp_path_factory.mktemp("softhsm-browser"))


@pytest.fixture(scope="module")
def agent(token: Token, live_server: str) -> Iterator[AgentProcess]:
    proc = AgentProcess(token, [live_server])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def page(browser: Browser, live_server: str, agent: AgentProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(live_server + "/")
    page.evaluate("async () => { window.agentjs = await import('/static/sign/agent.js'); }")
    yield page
    context.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def in_page(page: Page, script: str, arg: Any = None) -> Any:
    """Run `script` (the body of an async function of `arg`) with the page's holder."""
    return page.evaluate(f"async (arg) => {{ const h = window.holder; "
                         f"const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); "
                         f"const text = (b) => btoa(String.fromCharCode(...b)); {script} }}", arg)


def openssl_envelope(pki: PKI, cert: x509.Certificate, name: str) -> bytes:
    cert_file = pki.write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256",
                          "-in", str(pki.write(f"{name}.bin", CONTENT)), "-recip",
                          str(cert_file)], capture_output=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def test_pairing_shows_the_code_the_agent_asks_about(page: Page, agent: AgentProcess) -> None:
    # an agent on another port than 17345: saved for this origin, then opened as the
    # holder picker opens it, with no arguments
    port = agent.url.rsplit(":", 1)[1]
    page.evaluate("(port) => { localStorage.setItem('tenderhall.agent.port', port); "
                  "window.opening = window.agentjs.openAgent(); }", port)
    notice = page.get_by_test_id("agent-pairing")
    expect(notice).to_be_visible()
    page.screenshot(path=str(SHOTS / "agent-pairing-1280.png"))
    code = re.search(r"[0-9A-Z]{6}", notice.inner_text())
    assert code, notice.inner_text()
    question = agent.answer("y")
    assert code.group(0) in question and page.url.rstrip("/").rsplit("/", 1)[0] in question
    page.evaluate("async () => { window.holder = await window.opening; }")
    expect(notice).to_have_count(0)
    assert page.evaluate("() => window.holder.kind") == "agent"


def test_the_page_lists_the_token(page: Page) -> None:
    listed = in_page(page, """
        return (await h.certificates()).map((c) => ({ id: c.id, algorithm: c.algorithm,
          subject: c.subject, chain: c.chain.length, der: text(c.der),
          typed: c.der instanceof Uint8Array && c.chain.every((d) => d instanceof Uint8Array) }));""")
    assert [(c["id"], c["algorithm"]) for c in listed] == [
        ("01", "rsa"), ("02", "rsa"), ("03", "ec-p256"), ("04", "ec-p256")]
    assert all(c["typed"] and c["chain"] == 2 for c in listed)
    assert listed[0]["subject"]["person"] == "张三"
    assert listed[0]["subject"]["organization"] == "天衡测试投标有限公司"


@pytest.mark.parametrize("key_id", ["01", "03"])
def test_the_page_signs(page: Page, agent: AgentProcess, key_id: str) -> None:
    data = os.urandom(200)
    with agent.answering(["y"]) as answers:
        signature = in_page(page, """
            h.description = "投标文件签名 / signing the bid";
            return text(await h.sign(arg.id, bytes(arg.data)));""",
                            {"id": key_id, "data": b64(data)})
    assert "投标文件签名" in answers.questions[0]
    der = in_page(page, "return text((await h.certificates()).find((c) => c.id === arg).der);",
                  key_id)
    public = x509.load_der_x509_certificate(base64.b64decode(der)).public_key()
    sig = base64.b64decode(signature)
    if key_id == "01":
        public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    else:
        public.verify(sig, data, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]


def _cert(page: Page, key_id: str) -> x509.Certificate:
    der = in_page(page, "return text((await h.certificates()).find((c) => c.id === arg).der);",
                  key_id)
    return x509.load_der_x509_certificate(base64.b64decode(der))


def test_the_page_unwraps_an_rsa_envelope(page: Page, agent: AgentProcess, pki: PKI) -> None:
    sealed = openssl_envelope(pki, _cert(page, "02"), "browser-rsa")
    info = cms.ContentInfo.load(sealed)["content"]["recipient_infos"][0].chosen
    with agent.answering(["y"]):
        cek = in_page(page, "return text(await h.decryptKey('02', bytes(arg), 'rsa-pkcs1'));",
                      b64(info["encrypted_key"].native))
    assert envelope.open_with_key(envelope.parse(sealed), base64.b64decode(cek)) == CONTENT


def test_the_page_agrees_on_an_ec_envelope(page: Page, agent: AgentProcess, pki: PKI) -> None:
    sealed = openssl_envelope(pki, _cert(page, "04"), "browser-ec")
    kari = cms.ContentInfo.load(sealed)["content"]["recipient_infos"][0].chosen
    point = kari["originator"].chosen["public_key"].native
    spki = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with agent.answering(["y"]) as answers:
        z = in_page(page, "return text(await h.agree('04', bytes(arg)));", b64(spki))
    assert "key agreement" in answers.questions[0]
    # what cms.js does with Z in the page: the X9.63 KDF, then the AES key unwrap
    alg = kari["key_encryption_algorithm"]
    wrap = algos.AlgorithmIdentifier.load(alg["parameters"].dump())["algorithm"].dotted
    kek = envelope._kek(base64.b64decode(z), kari["ukm"].native,
                        kdf_hash=envelope.ECDH_KDF_HASHES[alg["algorithm"].dotted], wrap_oid=wrap)
    cek = aes_key_unwrap(kek, kari["recipient_encrypted_keys"][0]["encrypted_key"].native)
    assert envelope.open_with_key(envelope.parse(sealed), cek) == CONTENT


def test_a_refusal_reaches_the_page_with_its_code(page: Page, agent: AgentProcess) -> None:
    with agent.answering(["n"]):
        error = in_page(page, """
            try { await h.sign('01', new Uint8Array(8)); return null; }
            catch (e) { return { code: e.code, name: e.name, status: e.status, zh: e.zh }; }""")
    assert error == {"code": "agent.refused", "name": "SignError", "status": 403,
                     "zh": "使用者在签名助手中拒绝了该请求"}


def test_close_ends_the_holder_and_forget_the_pairing(page: Page) -> None:
    # close(): this holder answers no more, but the tab stays paired: the next holder opens
    # without a pairing question (none is answered here; one would time the call out)
    out = in_page(page, """
        h.close();
        let code = null;
        try { await h.certificates(); } catch (e) { code = e.code; }
        window.holder = await window.agentjs.openAgent();
        return { code, listed: (await window.holder.certificates()).length };""")
    assert out == {"code": "agent.not_paired", "listed": 4}
    assert page.get_by_test_id("agent-pairing").count() == 0
    # forget(): the pairing is gone from the tab
    error = in_page(page, """
        h.forget();
        try { await h.certificates(); return null; } catch (e) { return e.code; }""")
    assert error == "agent.not_paired"
    assert page.evaluate("() => Object.keys(sessionStorage)") == []


def test_a_page_of_another_origin_gets_nothing(browser: Browser, live_server: str,
                                               agent: AgentProcess) -> None:
    other = live_server.replace("127.0.0.1", "localhost")  # another origin, same server
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(other + "/")
        port = int(agent.url.rsplit(":", 1)[1])
        error = page.evaluate("""async (port) => {
            const m = await import('/static/sign/agent.js');
            try { await m.openAgent({ port }); return null; } catch (e) { return e.code; } }""",
                              port)
        # the agent refused it (403) without naming the origin: the browser hides the answer
        assert error == "agent.unreachable"
        assert "403" in agent.log.read_text()
    finally:
        context.close()
