"""OCSP: the development CAs' responder checked by openssl, and OCSP in path validation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms, ocsp, pathval
from signing.ca import DevCA, Issued
from tests.conftest import Client
from tests.signing.conftest import PKI


def _asn1(cert: object) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))  # type: ignore[attr-defined]


def _status(response: bytes) -> str:
    parsed = asn1_ocsp.OCSPResponse.load(response)
    if parsed["response_status"].native != "successful":
        return str(parsed["response_status"].native)
    single = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]
    return str(single["cert_status"].name)


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    ocsp._CACHE.clear()
    pathval._VALIDATED.clear()


@pytest.mark.parametrize("ca_name", ["ca1", "ca2"])
def test_openssl_accepts_our_responses(pki: PKI, ca_name: str) -> None:
    """openssl ocsp makes the request, our responder answers, openssl verifies the answer."""
    ca: DevCA = getattr(pki, ca_name)
    good = ca.issue(cn="在用证书", purpose="signing", key_type=ca.meta["key_type"])  # type: ignore[arg-type]
    gone = ca.issue(cn="已吊销证书", purpose="signing", key_type=ca.meta["key_type"])  # type: ignore[arg-type]
    ca.revoke(gone.cert.serial_number)
    issuing = pki.write(f"{ca_name}-issuing.pem", ca.issuing.public_bytes(Encoding.PEM))
    both = pki.write(f"{ca_name}-both.pem", ca.issuing.public_bytes(Encoding.PEM)
                     + ca.root.public_bytes(Encoding.PEM))
    for issued, expected in ((good, "good"), (gone, "revoked")):
        cert = pki.write(f"{ca_name}-{expected}.pem", issued.cert_pem())
        request = pki.dir / f"{ca_name}-{expected}.req"
        subprocess.run(["openssl", "ocsp", "-issuer", issuing, "-cert", cert, "-no_nonce",
                        "-reqout", request], check=True, capture_output=True)
        response = pki.write(f"{ca_name}-{expected}.resp", ca.ocsp_response(request.read_bytes()))
        out = subprocess.run(["openssl", "ocsp", "-respin", response, "-issuer", issuing,
                              "-cert", cert, "-CAfile", both, "-no_nonce"],
                             capture_output=True, text=True, check=False)
        assert "Response verify OK" in out.stderr + out.stdout, out.stdout + out.stderr
        assert f"{cert}: {expected}" in out.stdout, out.stdout


async def test_responder_over_http(client: Client, pki: PKI,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    issued = pki.ca1.issue(cn="HTTP 查询", purpose="signing")
    request = ocsp.build_request(_asn1(issued.cert), _asn1(pki.ca1.issuing))
    r = await client.post("/ca/ca1/ocsp", content=request,
                          headers={"Content-Type": "application/ocsp-request"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    assert _status(r.content) == "good"
    # garbage gets the protocol's own error status, a certificate of another CA "unknown"
    assert _status(pki.ca1.ocsp_response(b"\x30\x03garbage")) == "malformed_request"
    stranger = pki.ca2.issue(cn="别家的", purpose="signing", key_type="rsa2048")
    foreign = ocsp.build_request(_asn1(stranger.cert), _asn1(pki.ca2.issuing))
    assert _status(pki.ca1.ocsp_response(foreign)) == "unknown"
    assert (await client.post("/ca/nope/ocsp", content=request)).status_code == 404


def _store_without_crls(pki: PKI, ca: DevCA, fetch: ocsp.Fetch) -> pathval.TrustStore:
    store = pki.trust(ca)
    store.crls.clear()
    store.ocsp_urls[_asn1(ca.issuing).subject.dump()] = str(ca.ocsp_url)
    store.ocsp_fetch = fetch
    return store


def _responder(ca: DevCA, calls: list[str]) -> ocsp.Fetch:
    async def fetch(url: str, request: bytes) -> bytes:
        calls.append(url)
        return ca.ocsp_response(request)
    return fetch


@pytest.mark.parametrize("ca_name", ["ca1", "ca3"])
async def test_path_validation_asks_the_responder(pki: PKI, ca_name: str) -> None:
    """With no CRL at hand, hard-fail validation passes on a good OCSP answer (P-256 and SM2
    responders alike), fails on a revoked one, and caches the answer."""
    ca: DevCA = getattr(pki, ca_name)
    signer: Issued = ca.issue(cn="OCSP 签名人", purpose="signing",
                              key_type=ca.meta["key_type"])  # type: ignore[arg-type]
    sig = cms.sign(b"doc", cert=signer.cert, key=signer.key, chain=signer.chain)
    calls: list[str] = []
    store = _store_without_crls(pki, ca, _responder(ca, calls))
    assert (await cms.verify(sig, trust=store, content=b"doc")).subject.startswith("CN=OCSP")
    assert calls == [ca.ocsp_url]
    pathval._VALIDATED.clear()
    await cms.verify(sig, trust=store, content=b"doc", moment=None)
    assert len(calls) == 1  # the answer came from the cache

    # the CA revokes: the responder says so at once, without waiting for a new CRL
    ca.revoke(signer.cert.serial_number)
    ocsp._CACHE.clear()
    pathval._VALIDATED.clear()
    with pytest.raises(cms.CertificateRevoked):
        await cms.verify(sig, trust=store, content=b"doc")


async def test_unreachable_responder_falls_back_to_crls(pki: PKI) -> None:
    signer = pki.ca1.issue(cn="回退", purpose="signing")
    sig = cms.sign(b"doc", cert=signer.cert, key=signer.key, chain=signer.chain)

    async def down(url: str, request: bytes) -> bytes:

        raise httpx.ConnectError("responder down")

    without_crls = _store_without_crls(pki, pki.ca1, down)
    with pytest.raises(cms.RevocationUnknown):  # hard-fail: no revocation data at all
        await cms.verify(sig, trust=without_crls, content=b"doc")
    with_crls = pki.trust(pki.ca1)
    with_crls.ocsp_urls = dict(without_crls.ocsp_urls)
    with_crls.ocsp_fetch = down
    assert (await cms.verify(sig, trust=with_crls, content=b"doc")).subject.startswith("CN=回退")


def test_certificates_name_the_responder(pki: PKI, tmp_path: Path) -> None:
    issued = pki.ca1.issue(cn="AIA", purpose="login")
    path = tmp_path / "aia.pem"
    path.write_bytes(issued.cert_pem())
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-ocsp_uri"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == pki.ca1.ocsp_url == "http://127.0.0.1:8000/ca/ca1/ocsp"
