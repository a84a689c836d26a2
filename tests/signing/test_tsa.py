"""RFC 3161 timestamps: our tokens pass `openssl ts -verify`; openssl's requests get answers."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms, tsa
from signing.cms import MalformedSignature, WrongKeyUsage
from tests.signing.conftest import PKI, past

DATA = "开标记录表 opening record".encode() * 100


@pytest.fixture(scope="module")
def authority(pki: PKI) -> tsa.LocalAuthority:
    issued = pki.ca1.issue(cn="天衡时间戳服务", org="天衡平台", purpose="tsa", key_type="rsa2048")
    return tsa.LocalAuthority(issued.cert, issued.key, issued.chain[:1])


def openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


async def test_our_token_verifies_with_openssl_ts(pki: PKI, authority: tsa.LocalAuthority) -> None:
    data_file = pki.write("ts-data.bin", DATA)
    req_file = pki.dir / "req.tsq"
    out = openssl("ts", "-query", "-data", str(data_file), "-sha256", "-cert", "-out", str(req_file))
    assert out.returncode == 0, out.stderr
    resp = authority.respond(req_file.read_bytes())
    resp_file = pki.write("resp.tsr", resp)
    chain = pki.write("ts-chain.pem", b"".join(c.public_bytes(Encoding.PEM)
                                               for c in authority.chain()))
    verify = openssl("ts", "-verify", "-data", str(data_file), "-in", str(resp_file),
                     "-CAfile", str(pki.root_file(pki.ca1)), "-untrusted", str(chain))
    assert verify.returncode == 0, verify.stderr.decode() + verify.stdout.decode()
    assert b"Verification: OK" in verify.stdout
    # openssl also checks the request/nonce pairing
    verify_q = openssl("ts", "-verify", "-queryfile", str(req_file), "-in", str(resp_file),
                       "-CAfile", str(pki.root_file(pki.ca1)), "-untrusted", str(chain))
    assert verify_q.returncode == 0, verify_q.stderr

    token = tsa.token_from_response(resp, req_file.read_bytes())
    stamped = await tsa.verify_token(token, trust=pki.trust(), content=DATA)
    assert stamped.authority == authority.cert
    assert stamped.policy == tsa.POLICY
    text = openssl("ts", "-reply", "-in", str(resp_file), "-text").stdout.decode()
    assert "Status: Granted" in text and stamped.gen_time.strftime("%Y") in text


async def test_token_for_other_content_is_refused(pki: PKI, authority: tsa.LocalAuthority) -> None:
    req = tsa.request_for(hashlib.sha256(DATA).digest())
    token = tsa.token_from_response(authority.respond(req), req)
    with pytest.raises(tsa.TimestampMismatch) as info:
        await tsa.verify_token(token, trust=pki.trust(), content=DATA + b"!")
    assert info.value.code == "timestamp_mismatch"


async def test_only_a_tsa_certificate_may_stamp(pki: PKI) -> None:
    signer = pki.ca1.issue(cn="冒充时间戳", purpose="signing", key_type="rsa2048")
    fake = tsa.LocalAuthority(signer.cert, signer.key, signer.chain[:1])
    req = tsa.request_for(hashlib.sha256(DATA).digest())
    token = tsa.token_from_response(fake.respond(req), req)
    with pytest.raises(WrongKeyUsage):
        await tsa.verify_token(token, trust=pki.trust(), content=DATA)


def test_bad_requests_are_rejected_not_crashed(pki: PKI, authority: tsa.LocalAuthority) -> None:
    for bad in (b"", b"garbage", tsa.request_for(b"short", "sha256")):
        resp = authority.respond(bad)
        with pytest.raises(tsa.TimestampError):
            tsa.token_from_response(resp)
        text = openssl("ts", "-reply", "-in", str(pki.write("rej.tsr", resp)), "-text")
        assert text.returncode == 0 and b"Status: Rejected" in text.stdout


def test_nonce_mismatch_is_detected(authority: tsa.LocalAuthority) -> None:
    digest = hashlib.sha256(DATA).digest()
    resp = authority.respond(tsa.request_for(digest, nonce=1))
    with pytest.raises(tsa.TimestampMismatch):
        tsa.token_from_response(resp, tsa.request_for(digest, nonce=2))
    with pytest.raises(MalformedSignature):
        tsa.token_from_response(b"\x30\x03\x02\x01")


async def test_timestamp_over_http(app: object, client: httpx.AsyncClient, pki: PKI,
                                   authority: tsa.LocalAuthority) -> None:
    state = app.state  # type: ignore[attr-defined]
    configured = state.tsa  # the run's own authority, put back after
    digest = hashlib.sha256(DATA).digest()
    state.tsa = None
    with pytest.raises(tsa.TimestampUnavailable):
        await tsa.fetch_token("http://testserver/tsa", digest, http=client)
    state.tsa = authority
    try:
        token = await tsa.fetch_token("http://testserver/tsa", digest, http=client)
        stamped = await tsa.verify_token(token, trust=pki.trust(), digest=digest)
        assert stamped.authority == authority.cert
        r = await client.post("/tsa", content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_input"
        r = await client.post("/tsa", content=b"\x00" * 100_000,
                              headers={"Content-Type": "application/timestamp-query"})
        assert r.status_code == 413
    finally:
        state.tsa = configured


async def test_embedded_signature_timestamp_sets_the_moment(pki: PKI,
                                                            authority: tsa.LocalAuthority) -> None:
    """A signature stamped while its certificate was valid still verifies after it expired."""


    short = pki.ca1.issue(cn="短期证书", purpose="signing", not_before=past(10), days=5)

    def stamp_at(when: datetime) -> object:
        def stamp(digest: bytes) -> bytes:
            req = tsa.request_for(digest)
            return tsa.token_from_response(authority.respond(req, now=when), req)
        return stamp

    sig = cms.sign(DATA, cert=short.cert, key=short.key, timestamp=stamp_at(past(7)))  # type: ignore[arg-type]
    plain = cms.sign(DATA, cert=short.cert, key=short.key)
    with pytest.raises(cms.CertificateExpired):
        await cms.verify(plain, trust=pki.trust(), content=DATA)
    verified = await cms.verify(sig, trust=pki.trust(), content=DATA)
    assert verified.timestamp is not None
    assert abs(verified.timestamp - past(7)) < timedelta(minutes=1)
    assert verified.checked_at == verified.timestamp
    # openssl still verifies the signature itself (it ignores the unsigned attribute)
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in",
                  str(pki.write("stamped.p7s", sig)), "-content", str(pki.write("d.bin", DATA)),
                  "-CAfile", str(pki.write("bundle1.pem", pki.ca1.root.public_bytes(Encoding.PEM)
                                           + pki.ca1.issuing.public_bytes(Encoding.PEM))),
                  "-purpose", "any", "-no_check_time")
    assert out.returncode == 0, out.stderr
    # a stamp from an untrusted authority is refused, not ignored
    rogue_ca = pki.ca2.issue(cn="假时间戳", purpose="tsa", key_type="rsa2048")
    rogue = tsa.LocalAuthority(rogue_ca.cert, rogue_ca.key, rogue_ca.chain[:1])

    def rogue_stamp(digest: bytes) -> bytes:
        req = tsa.request_for(digest)
        return tsa.token_from_response(rogue.respond(req, now=datetime.now(UTC)), req)

    forged = cms.sign(DATA, cert=short.cert, key=short.key, timestamp=rogue_stamp)
    with pytest.raises(cms.UnknownIssuer):
        await cms.verify(forged, trust=pki.trust(), content=DATA)
