"""The local signing agent on a SoftHSM2 token whose keys were generated inside it.

What the token signs through the agent passes the platform's own CMS checks and
``openssl cms -verify``; envelopes ``openssl cms -encrypt`` made for the token's
certificates open through it; and every way a caller is turned away answers its own code.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from client.agent import errors
from client.agent.remote import AgentClient, AgentRefusal, certificate, chain, held_key
from signing import cms, envelope, sm2
from tests.client.agent_world import (
    MODULE,
    PIN,
    AgentProcess,
    Token,
    bidder_token,
    cli,
    new_token,
)
from tests.conftest import PKI, ROOT, run_cli

ORIGIN = "https://ggzy.example.cn"
OTHER = "https://jyzx.example.cn"
CONTENT = "投标文件 bid file ".encode() * 500 + os.urandom(64)


@pytest.fixture(scope="module")
def token(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Token:
    return bidder_token(pki.ca1, tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="module")
def agent(token: Token) -> Iterator[AgentProcess]:
    proc = AgentProcess(token, [ORIGIN, OTHER])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def paired(agent: AgentProcess) -> Iterator[AgentClient]:
    client = AgentClient(agent.url, ORIGIN)
    with agent.answering(["y"]):
        client.pair("7Q4K")
    yield client
    client.close()


def entry(client: AgentClient, key_id: str) -> dict[str, Any]:
    return next(e for e in client.certificates() if e["id"] == key_id)


def openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


def test_every_refusal_code_is_documented() -> None:
    text = (ROOT / "docs" / "agent.md").read_text()
    documented = set(re.findall(r"^\| `(agent\.[a-z_]+)` \| (\d{3}) \|", text, re.MULTILINE))
    raised = {(c.code, str(c.status)) for c in vars(errors).values()
              if isinstance(c, type) and issubclass(c, errors.AgentError)}
    assert documented == raised | {("agent.internal", "500")}


def test_the_command_is_wired() -> None:
    out = run_cli("agent", "--help")
    assert out.returncode == 0, out.stderr
    assert "--module" in out.stdout and "--origin" in out.stdout
    assert run_cli("token", "keygen", "--help").returncode == 0


def test_pairing_is_confirmed_and_lists_the_token(agent: AgentProcess, pki: PKI) -> None:
    client = AgentClient(agent.url, ORIGIN)
    info = client.info()
    assert info["protocol"] == "tenderhall-agent/1" and info["paired"] is False
    assert "rsa-pkcs1-sha256" in info["mechanisms"]["sign"] and info["mechanisms"]["agree"]
    with pytest.raises(AgentRefusal) as refused:
        client.certificates()
    assert (refused.value.status, refused.value.code) == (401, "agent.not_paired")

    with agent.answering(["y"]) as answers:
        client.pair("K2F9")
    assert ORIGIN in answers.questions[0] and "K2F9" in answers.questions[0]
    assert client.info()["paired"] is True
    listed = {e["id"]: e for e in client.certificates()}
    assert set(listed) == {"01", "02", "03", "04"}
    assert {listed["01"]["algorithm"], listed["03"]["algorithm"]} == {"rsa", "ec-p256"}
    assert listed["01"]["subject"]["person"] == "张三"
    assert listed["01"]["subject"]["organization"] == "天衡测试投标有限公司"
    assert [c.subject for c in chain(listed["01"])] == [pki.ca1.issuing.subject,
                                                        pki.ca1.root.subject]
    client.close()


@pytest.mark.parametrize("key_id", ["01", "03"])
async def test_cms_signed_on_the_token_passes_the_checks(
        paired: AgentClient, agent: AgentProcess, pki: PKI, key_id: str) -> None:
    e = entry(paired, key_id)
    cert = certificate(e)
    key = held_key(paired, e, description="投标文件签名 / signing the bid")
    with agent.answering(["y"]) as answers:
        signature = cms.sign(CONTENT, cert=cert, key=key, chain=chain(e)[:1])
    question = answers.questions[0]
    assert ORIGIN in question and "投标文件签名" in question and f"id {key_id}" in question
    # the person sees the digest of the file, not only of the bytes the token signs
    assert hashlib.sha256(CONTENT).hexdigest() in question

    verified = await cms.verify(signature, trust=pki.trust(), content=CONTENT)
    assert verified.signer == cert and len(verified.chain) == 3
    sig_file = pki.write(f"agent-{key_id}.p7s", signature)
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig_file),
                  "-content", str(pki.write(f"agent-{key_id}.bin", CONTENT)),
                  "-CAfile", str(pki.root_file(pki.ca1)), "-purpose", "any")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == CONTENT


@pytest.mark.parametrize(("key_id", "options"), [
    ("02", ["-aes256"]),  # RSA, PKCS#1 v1.5 key transport: openssl's default
    ("02", ["-aes256", "-keyopt", "rsa_padding_mode:oaep"]),  # RSA-OAEP with SHA-1
    ("02", ["-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]),
    ("04", ["-aes256"]),  # P-256: ECDH here, the X9.63 KDF and the AES key unwrap in the caller
    ("04", ["-aes-256-gcm"]),
])
def test_openssl_envelope_opens_through_the_agent(
        paired: AgentClient, agent: AgentProcess, pki: PKI, key_id: str,
        options: list[str]) -> None:
    e = entry(paired, key_id)
    cert = certificate(e)
    cert_file = pki.write(f"agent-recipient-{key_id}.pem",
                          cert.public_bytes(serialization.Encoding.PEM))
    out = openssl("cms", "-encrypt", "-binary", "-outform", "DER",
                  "-in", str(pki.write("agent-bid.bin", CONTENT)), "-recip", str(cert_file),
                  *options)
    assert out.returncode == 0, out.stderr.decode()
    key = held_key(paired, e, description="开标解密 / decrypting at the opening")
    with agent.answering(["y"]) as answers:
        assert envelope.open_with_private_key(out.stdout, cert, key) == CONTENT
    assert "开标解密" in answers.questions[0]
    assert ("key agreement" if key_id == "04" else "unwrap") in answers.questions[0]


def test_oaep_with_sha256_opens_on_a_token_that_lacks_it(
        paired: AgentClient, agent: AgentProcess) -> None:
    """SoftHSM2 2.6 does OAEP with SHA-1 only; the platform seals with SHA-256. The agent
    decrypts with raw RSA in the token and decodes OAEP itself; a wrong ciphertext is one
    refusal, whatever went wrong."""
    public = certificate(entry(paired, "02")).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    cek = os.urandom(32)
    wrapped = public.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(),
                                               None))
    with agent.answering(["y", "y"]):
        assert paired.decrypt("02", wrapped, "rsa-oaep-sha256") == cek
        with pytest.raises(AgentRefusal) as refused:
            paired.decrypt("02", wrapped[:-1] + bytes([wrapped[-1] ^ 1]), "rsa-oaep-sha256")
    assert (refused.value.status, refused.value.code) == (502, "agent.token_error")


def test_refused_confirmation(paired: AgentClient, agent: AgentProcess) -> None:
    with agent.answering(["n"]) as answers, pytest.raises(AgentRefusal) as refused:
        paired.sign("01", b"data", "rsa-pkcs1-sha256", "\x1b[2J\x1b[1;1H清屏 / clear\u202e")
    assert (refused.value.status, refused.value.code) == (403, "agent.refused")
    # what the page writes cannot move the cursor, clear or reorder the terminal
    assert "\x1b" not in answers.questions[0] and "\u202e" not in answers.questions[0]
    assert "清屏 / clear" in answers.questions[0]


def test_wrong_mechanism_and_unknown_key(paired: AgentClient) -> None:
    with pytest.raises(AgentRefusal) as refused:
        paired.sign("03", b"data", "rsa-pkcs1-sha256")
    assert refused.value.code == "agent.mechanism_unsupported"
    with pytest.raises(AgentRefusal) as refused:
        paired.sign("99", b"data", "rsa-pkcs1-sha256")
    assert (refused.value.status, refused.value.code) == (404, "agent.unknown_key")


def test_other_origins_and_hosts_are_refused(paired: AgentClient, agent: AgentProcess) -> None:
    assert paired.token
    bearer = {"Authorization": f"Bearer {paired.token}"}
    for origin in ("https://evil.example", "null", "https://ggzy.example.cn.evil.example"):
        r = httpx.post(f"{agent.url}/v1/sign", headers={"Origin": origin, **bearer},
                       json={"id": "01", "data": "AA==", "mechanism": "rsa-pkcs1-sha256"})
        assert (r.status_code, r.json()["code"]) == (403, "agent.origin_forbidden")
        assert "access-control-allow-origin" not in r.headers
        pre = httpx.options(f"{agent.url}/v1/sign", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    r = httpx.get(f"{agent.url}/v1/certificates", headers=bearer)  # no Origin at all
    assert r.json()["code"] == "agent.origin_forbidden"
    # a page that reaches the agent under its own host name (DNS rebinding)
    r = httpx.get(f"{agent.url}/v1/info", headers={"Origin": ORIGIN, "Host": "evil.example"})
    assert (r.status_code, r.json()["code"]) == (403, "agent.host_forbidden")
    # a pairing is good for the origin that made it only
    r = httpx.get(f"{agent.url}/v1/certificates", headers={"Origin": OTHER, **bearer})
    assert (r.status_code, r.json()["code"]) == (401, "agent.not_paired")
    r = httpx.get(f"{agent.url}/v1/nowhere", headers={"Origin": ORIGIN})
    assert (r.status_code, r.json()["code"]) == (404, "agent.not_found")


def test_cors_and_private_network_preflight(agent: AgentProcess) -> None:
    pre = httpx.options(f"{agent.url}/v1/sign", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert pre.headers["access-control-allow-private-network"] == "true"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = httpx.get(f"{agent.url}/v1/info", headers={"Origin": OTHER})
    assert r.headers["access-control-allow-origin"] == OTHER and r.headers["vary"] == "Origin"


def test_no_answer_in_time_is_a_408(token: Token) -> None:
    slow = AgentProcess(token, [ORIGIN], confirm_timeout=2)
    try:
        client = AgentClient(slow.url, ORIGIN)
        with pytest.raises(AgentRefusal) as refused:
            client.pair("AAAA")
        assert (refused.value.status, refused.value.code) == (408, "agent.confirm_timeout")
        slow.expect("timed out")
        client.close()
    finally:
        slow.stop()


def test_sm2_takes_the_drivers_vendor_mechanisms(pki: PKI,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """SoftHSM2 makes and keeps a key on the SM2 curve, but has no SM2 mechanism (nothing past
    CKM_VENDOR_DEFINED; its CKM_ECDSA on that curve is not SM2). So the token's SM2
    certificate is listed, and its use is refused before anyone is asked; given a vendor
    mechanism number, the agent hands it to the driver, which refuses it with its own code.
    (The certificate is the SM2 test CA's for a key made outside: no SM2 request can be
    signed in SoftHSM2.)"""
    t = new_token(tmp_path_factory.mktemp("softhsm-sm2"), "sm2-key")
    spki_file = t.dir / "sm2.pem"
    cli("keygen", "--module", MODULE, "--token", t.label, "--id", "09", "--type", "sm2",
        "--subject", "CN=张三", "--csr", str(spki_file), env=t.env, stdin=PIN + "\n")
    der = base64.b64decode("".join(spki_file.read_text().splitlines()[1:-1]))
    assert sm2.is_sm2_public_key(der)
    t.store(pki.ca3.issue(cn="张三", purpose="signing", key_type="sm2").cert, "09")

    plain = AgentProcess(t, [ORIGIN])
    try:
        client = AgentClient(plain.url, ORIGIN)
        assert "sm2-sm3" not in client.info()["mechanisms"]["sign"]
        with plain.answering(["y"]):
            client.pair("SM2A")
        [listed] = client.certificates()
        assert (listed["id"], listed["algorithm"], listed["mechanism"]) == ("09", "sm2", "sm2-sm3")
        asked = len(plain.seen)
        for call in (lambda: client.sign("09", b"data", "sm2-sm3"),
                     lambda: client.decrypt("09", b"\x04" * 120, "sm2")):
            with pytest.raises(AgentRefusal) as refused:
                call()
            assert (refused.value.status, refused.value.code) == (
                422, "agent.mechanism_unsupported")
        assert not any("Allow?" in line for line in plain.seen[asked:])
        client.close()
    finally:
        plain.stop()

    vendor = AgentProcess(t, [ORIGIN], options=("--sm2-sign-mechanism", "0x80000102"))
    try:
        client = AgentClient(vendor.url, ORIGIN)
        assert "sm2-sm3" in client.info()["mechanisms"]["sign"]
        with vendor.answering(["y", "y"]) as answers, pytest.raises(AgentRefusal) as refused:
            client.pair("SM2B")
            client.sign("09", b"data", "sm2-sm3", "国密签名 / SM2 signature")
        assert refused.value.code == "agent.mechanism_unsupported"  # SoftHSM2's answer
        assert "国密签名" in answers.questions[1]
        client.close()
    finally:
        vendor.stop()


def test_a_wrong_pin_stops_the_agent(token: Token) -> None:
    with pytest.raises(AssertionError):
        AgentProcess(token, [ORIGIN], pin="000000")
