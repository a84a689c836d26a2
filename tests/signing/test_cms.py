"""CMS signatures: ours verify with openssl, openssl's verify here, every failure is specific."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import cms, pathval
from signing.ca import KeyType
from tests.signing.conftest import PKI, damaged, past

CONTENT = "投标文件 bid document — 第一章 商务部分\n".encode() * 200
CODE = "91510100MA6CB1N4TK"


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=False,
                          timeout=60)


@pytest.mark.parametrize("key_type", ["p256", "rsa2048", "rsa3072"])
@pytest.mark.parametrize("detached", [True, False])
async def test_our_signature_verifies_with_openssl_and_here(pki: PKI, key_type: KeyType,
                                                            detached: bool) -> None:
    who = pki.ca1.issue(cn="张三", org="中建蜀通路桥工程有限公司", credit_code=CODE,
                        purpose="signing", key_type=key_type)
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key, chain=who.chain[:1], detached=detached)
    sig_file = pki.write(f"sig-{key_type}-{detached}.p7s", sig)
    content_file = pki.write("content.bin", CONTENT)
    args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig_file),
            "-CAfile", str(pki.root_file(pki.ca1)), "-purpose", "any"]
    if detached:
        args += ["-content", str(content_file)]
    out = openssl(*args)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == CONTENT

    verified = await cms.verify(sig, trust=pki.trust(), content=CONTENT if detached else None)
    assert verified.signer == who.cert
    assert "91510100MA6CB1N4TK" in verified.subject
    assert verified.signing_time is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(minutes=2)
    assert len(verified.chain) == 3
    if not detached:
        assert verified.content == CONTENT


async def test_detached_content_is_hashed_as_a_stream(pki: PKI) -> None:
    who = pki.ca1.issue(cn="流式", purpose="signing")
    sig = cms.sign(io.BytesIO(CONTENT), cert=who.cert, key=who.key)
    await cms.verify(sig, trust=pki.trust(), content=io.BytesIO(CONTENT))


@pytest.mark.parametrize("detached", [True, False])
@pytest.mark.parametrize("ca_name", ["ca1", "ca2"])
async def test_openssl_signature_verifies_here(pki: PKI, detached: bool, ca_name: str) -> None:
    """Mutual recognition: signatures under either CA verify when both are trusted."""
    ca = getattr(pki, ca_name)
    who = ca.issue(cn="李四", org="重庆渝川建设集团有限公司", credit_code="91500000MA5U7D2R8Y",
                   purpose="signing")
    cert, key, chain = pki.files(who, f"openssl-{ca_name}")
    content_file = pki.write("content.bin", CONTENT)
    args = ["cms", "-sign", "-binary", "-in", str(content_file), "-signer", str(cert),
            "-inkey", str(key), "-certfile", str(chain), "-outform", "DER", "-md", "sha256"]
    if not detached:
        args.append("-nodetach")
    out = openssl(*args)
    assert out.returncode == 0, out.stderr.decode()
    verified = await cms.verify(out.stdout, trust=pki.trust(pki.ca1, pki.ca2),
                                content=CONTENT if detached else None)
    assert verified.signer == who.cert
    # PEM output is accepted too
    pem = openssl(*[a if a != "DER" else "PEM" for a in args])
    assert pem.returncode == 0
    await cms.verify(pem.stdout, trust=pki.trust(pki.ca1, pki.ca2),
                     content=CONTENT if detached else None)


async def test_unknown_issuer(pki: PKI) -> None:
    who = pki.ca2.issue(cn="外省CA用户", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key, chain=who.chain[:1])
    with pytest.raises(cms.UnknownIssuer) as info:
        await cms.verify(sig, trust=pki.trust(pki.ca1), content=CONTENT)
    assert info.value.code == "certificate_unknown_issuer"


async def test_revoked(pki: PKI) -> None:
    who = pki.ca1.issue(cn="被吊销", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    pki.ca1.revoke(who.cert.serial_number, reason="key_compromise")
    with pytest.raises(cms.CertificateRevoked) as info:
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    assert info.value.code == "certificate_revoked"


async def test_expired_and_not_yet_valid(pki: PKI) -> None:
    old = pki.ca1.issue(cn="过期", purpose="signing", not_before=past(40), days=30)
    sig = cms.sign(CONTENT, cert=old.cert, key=old.key)
    with pytest.raises(cms.CertificateExpired):
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    # valid at a trusted earlier moment (a timestamp's time), not now
    await cms.verify(sig, trust=pki.trust(), content=CONTENT, moment=past(20))
    future = pki.ca1.issue(cn="未生效", purpose="signing",
                           not_before=datetime.now(UTC) + timedelta(days=2))
    sig = cms.sign(CONTENT, cert=future.cert, key=future.key)
    with pytest.raises(cms.CertificateExpired) as info:
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    assert info.value.code == "certificate_expired"


async def test_wrong_key_usage(pki: PKI) -> None:
    enc = pki.ca1.issue(cn="加密证书", purpose="encryption", key_type="rsa2048")
    sig = cms.sign(CONTENT, cert=enc.cert, key=enc.key)  # type: ignore[arg-type]
    with pytest.raises(cms.WrongKeyUsage) as info:
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    assert info.value.code == "certificate_wrong_key_usage"
    signer = pki.ca1.issue(cn="签名证书", purpose="signing")
    sig = cms.sign(CONTENT, cert=signer.cert, key=signer.key)
    with pytest.raises(cms.WrongKeyUsage):  # a signing certificate is no login certificate
        await cms.verify(sig, trust=pki.trust(), content=CONTENT, purpose="login")


async def test_bad_signature_and_content_mismatch(pki: PKI) -> None:
    who = pki.ca1.issue(cn="篡改", purpose="signing", key_type="rsa2048")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    with pytest.raises(cms.ContentMismatch) as info:
        await cms.verify(sig, trust=pki.trust(), content=CONTENT + b"x")
    assert info.value.code == "signature_content_mismatch"
    # flip one bit of the RSA signature value (the last bytes of the DER)
    tampered = sig[:-1] + bytes([sig[-1] ^ 1])
    with pytest.raises(cms.BadSignature) as bad:
        await cms.verify(tampered, trust=pki.trust(), content=CONTENT)
    assert bad.value.code == "signature_bad"
    # another key's signature under this certificate
    other = pki.ca1.issue(cn="他人", purpose="signing", key_type="rsa2048")
    forged = cms.sign(CONTENT, cert=who.cert, key=other.key)
    with pytest.raises(cms.BadSignature):
        await cms.verify(forged, trust=pki.trust(), content=CONTENT)


async def test_encapsulated_content_must_match_given_content(pki: PKI) -> None:
    who = pki.ca1.issue(cn="内含", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key, detached=False)
    with pytest.raises(cms.ContentMismatch):
        await cms.verify(sig, trust=pki.trust(), content=b"something else")


async def test_detached_without_content_is_malformed(pki: PKI) -> None:
    who = pki.ca1.issue(cn="分离", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    with pytest.raises(cms.MalformedSignature):
        await cms.verify(sig, trust=pki.trust())


@pytest.fixture(scope="module")
def good_signature(pki: PKI) -> bytes:
    who = pki.ca1.issue(cn="样本", purpose="signing")
    return cms.sign(CONTENT, cert=who.cert, key=who.key, detached=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_garbage_and_truncated_der_is_malformed(pki: PKI, good_signature: bytes,
                                                      data: st.DataObject) -> None:
    kind, blob = damaged(data, good_signature)
    try:
        await cms.verify(blob, trust=pki.trust())
    except cms.SignatureError as exc:
        assert exc.code.startswith(("signature_", "certificate_"))
    else:
        # a flip inside a field nobody checks (an unused certificate byte, say) can still verify
        assert kind == "flipped"


async def test_missing_crl_fails_hard_by_default_and_soft_when_configured(pki: PKI) -> None:
    who = pki.ca1.issue(cn="无CRL", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    no_crls = pki.trust()
    no_crls.crls = []
    with pytest.raises(cms.RevocationUnknown) as info:
        await cms.verify(sig, trust=no_crls, content=CONTENT)
    assert info.value.code == "certificate_revocation_unknown"
    no_crls.revocation_mode = "soft-fail"
    await cms.verify(sig, trust=no_crls, content=CONTENT)


async def test_signature_made_before_revocation_holds_at_its_moment(pki: PKI) -> None:
    who = pki.ca1.issue(cn="先签后吊销", purpose="signing", not_before=past(30))
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    pki.ca1.revoke(who.cert.serial_number, reason="superseded", when=past(5))
    with pytest.raises(cms.CertificateRevoked):
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    # at a trusted moment before the revocation (say, a timestamp from 10 days ago) it holds
    await cms.verify(sig, trust=pki.trust(), content=CONTENT, moment=past(10))


async def test_validated_chains_are_cached_until_trust_changes(pki: PKI) -> None:
    pathval._VALIDATED.clear()
    who = pki.ca1.issue(cn="缓存", purpose="signing")
    sig = cms.sign(CONTENT, cert=who.cert, key=who.key)
    await cms.verify(sig, trust=pki.trust(), content=CONTENT)
    assert len(pathval._VALIDATED) == 1
    await cms.verify(sig, trust=pki.trust(), content=CONTENT)  # a hit: nothing new cached
    assert len(pathval._VALIDATED) == 1
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    await cms.verify(sig, trust=pki.trust(), content=CONTENT, moment=earlier)  # never cached
    assert len(pathval._VALIDATED) == 1
    pki.ca1.revoke(who.cert.serial_number)  # a new CRL: a new trust fingerprint
    with pytest.raises(cms.CertificateRevoked):
        await cms.verify(sig, trust=pki.trust(), content=CONTENT)
