"""The in-page signing layer (static/sign/) in Debian chromium, against openssl and our server.

Signatures made in the page must verify with ``openssl cms -verify`` and with signing/cms.py;
envelopes made by ``openssl cms -encrypt`` and by signing/envelope.py must unwrap in the page to
the very content key the server would use; PKCS#12 files from the dev CA (Python cryptography)
and from ``openssl pkcs12 -export`` must open, and a wrong password or a legacy file must give a
message a person can act on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Browser, Page, expect

from core.settings import Settings
from signing import cms, envelope, sm2, tsa
from signing.ca import DevCA, Issued
from signing.errors import ContentMismatch
from signing.keys import sign_bytes
from tests.conftest import PKI
from tests.e2e.conftest import SHOTS
from tests.e2e.websign import b64, call, load, openssl, run, unb64, write
from trading.bids import receipts

pytestmark = pytest.mark.browser
PASSWORD = "证书密码-p12"
KINDS = {"rsa": ("ca2", "rsa2048"), "p256": ("ca1", "p256")}


@pytest.fixture(scope="module")
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.goto("/login")
    load(page)
    yield page
    context.close()


def _issue(pki: PKI, kind: str, purpose: str = "signing") -> tuple[DevCA, Issued]:
    ca_name, key_type = KINDS[kind]
    ca: DevCA = getattr(pki, ca_name)
    return ca, ca.issue(cn="网签测试单位经办人", org="网签测试单位", credit_code="91110000MA01WEB5X1",
                        purpose=purpose, key_type=key_type)  # type: ignore[arg-type]


def _openssl_p12(tmp: Path, issued: Issued, *extra: str) -> bytes:
    key = write(tmp / "k.pem", issued.key_pem())
    cert = write(tmp / "c.pem", issued.cert_pem())
    chain = write(tmp / "chain.pem", b"".join(c.public_bytes(Encoding.PEM) for c in issued.chain))
    return openssl("pkcs12", "-export", "-inkey", key, "-in", cert, "-certfile", chain,
                   "-passout", f"pass:{PASSWORD}", *extra)


SIGN = """
  const holder = await m.soft.openPkcs12(b64(args.p12), args.password);
  const [entry] = await holder.certificates();
  const sig = await m.cms.sign(holder, entry.id, b64(args.content), { detached: args.detached });
  holder.close();
  return { sig: out(sig), algorithm: entry.algorithm, subject: entry.subject, chain: entry.chain.length };
"""


def _verify_both(tmp: Path, pki: PKI, ca: DevCA, signature: bytes, content: bytes,
                 detached: bool) -> None:
    sig = write(tmp / "sig.p7s", signature)
    root = write(tmp / "root.pem", ca.root.public_bytes(Encoding.PEM))
    args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-CAfile", root,
            "-purpose", "any"]
    if detached:
        args += ["-content", write(tmp / "content.bin", content)]
    assert openssl(*args) == content
    verified = run(cms.verify(signature, trust=pki.trust(ca),
                                      content=content if detached else None))
    assert verified.subject.startswith("CN=网签测试单位经办人")
    assert verified.digest_algorithm == "sha256"
    assert verified.content == (None if detached else content)


@pytest.mark.parametrize("kind", ["rsa", "p256"])
@pytest.mark.parametrize("maker", ["dev-ca", "openssl"])
def test_page_signatures_verify_with_openssl_and_the_server(
        page: Page, pki: PKI, tmp_path: Path, kind: str, maker: str) -> None:
    ca, issued = _issue(pki, kind)
    p12 = (issued.pkcs12(PASSWORD.encode()) if maker == "dev-ca"
           else _openssl_p12(tmp_path, issued))
    content = "投标文件摘要 bid digest\n".encode() * 50
    for detached in (True, False):
        r = call(page, SIGN, p12=b64(p12), password=PASSWORD, content=b64(content),
                 detached=detached)
        assert "error" not in r, r
        assert r["algorithm"] == {"rsa": "rsa", "p256": "ec-p256"}[kind]
        assert r["subject"] == {"organization": "网签测试单位", "person": "经办人",
                                "creditCode": "91110000MA01WEB5X1"}
        assert r["chain"] == 2
        _verify_both(tmp_path, pki, ca, unb64(r["sig"]), content, detached)


def test_a_tampered_signature_fails_the_server(page: Page, pki: PKI) -> None:
    """The check above can fail: the same signature over other content does not verify."""
    ca, issued = _issue(pki, "p256")
    r = call(page, SIGN, p12=b64(issued.pkcs12(PASSWORD.encode())), password=PASSWORD,
             content=b64(b"original"), detached=True)
    with pytest.raises(ContentMismatch):
        run(cms.verify(unb64(r["sig"]), trust=pki.trust(ca), content=b"changed"))


OPEN = """
  const holder = await m.soft.openPkcs12(b64(args.p12), args.password);
  const [entry] = await holder.certificates();
  return { ok: entry.algorithm };
"""


def test_a_wrong_password_says_so(page: Page, pki: PKI) -> None:
    _, issued = _issue(pki, "rsa")
    r = call(page, OPEN, p12=b64(issued.pkcs12(PASSWORD.encode())), password="wrong")
    assert r == {"error": "pkcs12_password", "zh": "证书文件密码错误",
                 "en": "Wrong password for the certificate file"}


def test_legacy_and_broken_files_are_refused_with_a_reason(page: Page, pki: PKI,
                                                           tmp_path: Path) -> None:
    _, issued = _issue(pki, "rsa")
    legacy = _openssl_p12(tmp_path, issued, "-keypbe", "PBE-SHA1-3DES", "-certpbe",
                          "PBE-SHA1-3DES", "-macalg", "sha1")
    r = call(page, OPEN, p12=b64(legacy), password=PASSWORD)
    assert r["error"] == "pkcs12_legacy"
    assert "openssl pkcs12" in r["zh"]
    r = call(page, OPEN, p12=b64(b"not a certificate file"), password=PASSWORD)
    assert r["error"] == "pkcs12_malformed"
    assert r["zh"].startswith("不是有效的 PKCS#12")


UNWRAP = """
  const holder = await m.soft.openPkcs12(b64(args.p12), args.password);
  const [entry] = await holder.certificates();
  const env = b64(args.envelope);
  const head = m.cms.envelopeHead(env.subarray(0, args.head));
  const cek = await m.cms.unwrapContentKey(holder, entry.id, head.recipientInfos);
  const content = await m.cms.openEnvelope(holder, entry.id, env);
  holder.close();
  return { cek: out(cek), content: out(content) };
"""

# content cipher, then the options for each recipient (openssl applies -keyopt to the -recip before)
OPENSSL_ENVELOPES = {
    "rsa-pkcs1": ("rsa", "-aes256", []),
    "rsa-oaep-sha1": ("rsa", "-aes256", ["-keyopt", "rsa_padding_mode:oaep"]),
    "rsa-oaep-sha256": ("rsa", "-aes256", ["-keyopt", "rsa_padding_mode:oaep", "-keyopt",
                                           "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"]),
    "ec-sha1kdf": ("p256", "-aes256", []),
    "ec-sha256kdf": ("p256", "-aes256", ["-keyopt", "ecdh_kdf_md:sha256"]),
    "ec-gcm": ("p256", "-aes-256-gcm", ["-keyopt", "ecdh_kdf_md:sha256"]),
    "rsa-gcm": ("rsa", "-aes-256-gcm", []),
}


@pytest.mark.parametrize("scheme", list(OPENSSL_ENVELOPES))
def test_openssl_envelopes_open_in_the_page(page: Page, pki: PKI, tmp_path: Path,
                                            scheme: str) -> None:
    kind, cipher, options = OPENSSL_ENVELOPES[scheme]
    _, issued = _issue(pki, kind, "encryption")
    _, other = _issue(pki, kind, "encryption")
    content = b"sealed share or price sheet " * 100
    env = openssl("cms", "-encrypt", "-binary", "-outform", "DER", cipher,
                  "-recip", write(tmp_path / "other.pem", other.cert_pem()), *options,
                  "-recip", write(tmp_path / "me.pem", issued.cert_pem()), *options,
                  data=content)
    r = call(page, UNWRAP, p12=b64(issued.pkcs12(PASSWORD.encode())), password=PASSWORD,
             envelope=b64(env), head=min(len(env), 65536))
    assert "error" not in r, r
    assert unb64(r["content"]) == content
    parsed = envelope.parse(env)
    assert unb64(r["cek"]) == envelope.unwrap_key(parsed, issued.cert, issued.key)


@pytest.mark.parametrize(("kind", "padding", "aead"), [
    ("rsa", "oaep", True), ("rsa", "pkcs1v15", False), ("p256", "oaep", True),
    ("p256", "oaep", False)])
def test_envelopes_of_the_server_unwrap_to_the_right_key(
        page: Page, pki: PKI, kind: str, padding: str, aead: bool) -> None:
    _, issued = _issue(pki, kind, "encryption")
    _, other = _issue(pki, "p256", "encryption")
    content = "开标一览表".encode() * 300
    env = envelope.seal(content, [envelope.Recipient(other.cert),
                                  envelope.Recipient(issued.cert, rsa_padding=padding)], aead=aead)
    r = call(page, UNWRAP, p12=b64(issued.pkcs12(PASSWORD.encode())), password=PASSWORD,
             envelope=b64(env), head=min(len(env), 2048))
    assert "error" not in r, r
    cek = unb64(r["cek"])
    assert envelope.open_with_key(envelope.parse(env), cek) == content
    assert unb64(r["content"]) == content


def test_an_envelope_for_someone_else_says_so(page: Page, pki: PKI) -> None:
    _, issued = _issue(pki, "p256", "encryption")
    _, other = _issue(pki, "p256", "encryption")
    env = envelope.seal(b"x", [envelope.Recipient(other.cert)])
    r = call(page, UNWRAP, p12=b64(issued.pkcs12(PASSWORD.encode())), password=PASSWORD,
             envelope=b64(env), head=len(env))
    assert r["error"] == "not_recipient"


@pytest.mark.parametrize("width", [1280, 390])
def test_the_picker_is_labelled_and_fits_a_phone(browser: Browser, live_server: str,
                                                 width: int) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_test_id("cert-login-start").click()
        expect(page.get_by_label("证书文件", exact=True)).to_be_visible()
        expect(page.get_by_label("证书密码")).to_be_visible()
        # choosing nothing says so, in Chinese, next to the widget
        page.get_by_test_id("picker-use").click()
        expect(page.get_by_test_id("picker-error")).to_have_text("请选择证书文件")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(SHOTS / f"websign-picker-{width}.png"), full_page=True)
        page.get_by_test_id("picker-cancel").click()
        expect(page.get_by_test_id("picker")).to_have_count(0)
    finally:
        context.close()


def test_sm3_in_the_page_is_openssls(page: Page) -> None:
    inputs = [b"", b"abc", b"abcd" * 16, bytes(range(256)) * 41, b"x" * 1_000_003]
    r = call(page, """
      const { sm3 } = await import('/static/sign/sm3.js');
      const out1 = args.inputs.map((x) => out(sm3(b64(x))));
      // incremental, in uneven pieces
      const big = b64(args.inputs[4]);
      const h = sm3.create();
      for (let at = 0; at < big.length; at += 4099) h.update(big.subarray(at, at + 4099));
      return { whole: out1, pieces: out(h.digest()) };
    """, inputs=[b64(x) for x in inputs])
    assert [unb64(d) for d in r["whole"]] == [hashlib.new("sm3", x).digest() for x in inputs]
    assert unb64(r["pieces"]) == hashlib.new("sm3", inputs[4]).digest()


SM2_SIGN = """
  // a holder whose key is elsewhere, as the signing agent's token is: here, the test's process
  const holder = {
    kind: 'agent',
    async certificates() {
      return [{ id: 'token-1', der: b64(args.cert), chain: [], algorithm: 'sm2',
                subject: { organization: null, person: null, creditCode: null } }];
    },
    async sign(id, data) { return b64(await window.tokenSign(out(data))); },
    async decryptKey() { throw new Error('unused'); },
    async agree() { throw new Error('unused'); },
    close() {},
  };
  return out(await m.cms.sign(holder, 'token-1', b64(args.content), { detached: true }));
"""


def test_an_sm2_holder_signs_over_sm3_and_the_server_verifies(browser: Browser,
                                                               live_server: str,
                                                               pki: PKI) -> None:
    issued = pki.ca3.issue(cn="国密测试经办人", org="国密测试单位",
                           credit_code="91110000MA01WEB5X1", purpose="signing", key_type="sm2")
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    try:
        page.expose_function("tokenSign",
                             lambda data: b64(sign_bytes(issued.key, unb64(data))))
        page.goto("/login")
        load(page)
        content = "国密签名内容".encode() * 100
        r = call(page, SM2_SIGN, cert=b64(issued.cert.public_bytes(Encoding.DER)),
                 content=b64(content))
        assert isinstance(r, str), r
        verified = run(cms.verify(unb64(r), trust=pki.trust(pki.ca3), content=content))
        assert verified.digest_algorithm == sm2.SM3
        with pytest.raises(ContentMismatch):
            run(cms.verify(unb64(r), trust=pki.trust(pki.ca3), content=content + b"!"))
    finally:
        context.close()


RECEIPT_CHECK = """
const r = await import('/static/sign/receipt.js');
const v = await r.verifyReceipt(b64(args.p7s), args.tst ? b64(args.tst) : null);
return { receipt: v.receipt, signed: v.signed, signer: v.signer, stamped: v.stamped,
         time: v.time ? v.time.toISOString() : null };
"""


def test_the_page_verifies_a_receipt_and_its_timestamp(page: Page, settings: Settings) -> None:
    authority = tsa.from_settings(cert_file=settings.tsa_cert_file, key_file=settings.tsa_key_file)
    fields = {"type": "bid_receipt", "n": 3, "name": "回执"}
    receipt = run(receipts.issue(settings, authority, fields))
    other = run(receipts.issue(settings, authority, {**fields, "n": 4}))
    good = call(page, RECEIPT_CHECK, p7s=b64(receipt.p7s), tst=b64(receipt.tst))
    assert good["receipt"] == fields and good["signed"] and good["stamped"], good
    assert good["signer"]
    assert abs(datetime.fromisoformat(good["time"]) - datetime.now(UTC)) < timedelta(minutes=5)
    # one byte of the signed JSON changed: the signature fails, and the token no longer fits
    i = receipt.p7s.index(b'"n":3')
    forged = receipt.p7s[:i] + b'"n":5' + receipt.p7s[i + 5:]
    bad = call(page, RECEIPT_CHECK, p7s=b64(forged), tst=b64(receipt.tst))
    assert bad["receipt"] is None and not bad["signed"] and not bad["stamped"], bad
    # a genuine token, but over another receipt
    swapped = call(page, RECEIPT_CHECK, p7s=b64(receipt.p7s), tst=b64(other.tst))
    assert swapped["signed"] and not swapped["stamped"], swapped
    # no token, or not a SignedData at all
    assert not call(page, RECEIPT_CHECK, p7s=b64(receipt.p7s), tst=None)["stamped"]
    junk = call(page, RECEIPT_CHECK, p7s=b64(b"\x30\x03\x02\x01\x01"), tst=b64(b"junk"))
    assert junk == {"receipt": None, "signed": False, "signer": None, "stamped": False,
                    "time": None}
