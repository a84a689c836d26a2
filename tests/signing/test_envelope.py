"""CMS envelopes: openssl opens ours, we open openssl's, each refusal is specific."""

from __future__ import annotations

import subprocess

import pytest

from signing import cms, envelope
from signing.ca import KeyType
from tests.signing.conftest import PKI

BID = "投标报价 price.json {\"total\": \"38650000.00\"}\n".encode() * 500


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=False,
                          timeout=60)


@pytest.mark.parametrize("aead", [True, False])
@pytest.mark.parametrize(("key_type", "rsa_padding"), [
    ("rsa2048", "oaep"), ("rsa2048", "pkcs1v15"), ("rsa3072", "oaep"), ("p256", "oaep")])
async def test_ours_open_with_openssl(pki: PKI, aead: bool, key_type: KeyType,
                                      rsa_padding: str) -> None:
    me = pki.ca1.issue(cn="投标人", purpose="encryption", key_type=key_type)
    opening = pki.ca2.issue(cn="开标证书", purpose="encryption", key_type="p256")
    sealed = envelope.seal(BID, [envelope.Recipient(me.cert, rsa_padding),
                                 envelope.Recipient(opening.cert)], aead=aead)
    for who, name in ((me, f"me-{key_type}"), (opening, "opening")):
        cert, key, _ = pki.files(who, name)
        out = openssl("cms", "-decrypt", "-binary", "-inform", "DER",
                      "-in", str(pki.write(f"env-{name}.p7m", sealed)),
                      "-recip", str(cert), "-inkey", str(key))
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout == BID
        assert envelope.open_with_private_key(sealed, who.cert, who.key) == BID


@pytest.mark.parametrize("cipher", ["-aes256", "-aes-256-gcm"])
@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
async def test_openssl_envelopes_open_here(pki: PKI, cipher: str, key_type: KeyType) -> None:
    me = pki.ca1.issue(cn="接收者", purpose="encryption", key_type=key_type)
    other = pki.ca2.issue(cn="另一接收者", purpose="encryption", key_type="rsa2048")
    cert, _, _ = pki.files(me, f"recv-{key_type}")
    other_cert, _, _ = pki.files(other, "recv-other")
    out = openssl("cms", "-encrypt", "-binary", cipher, "-outform", "DER",
                  "-in", str(pki.write("bid.bin", BID)), str(cert), str(other_cert))
    assert out.returncode == 0, out.stderr.decode()
    parsed = envelope.parse(out.stdout)
    assert parsed.is_for(me.cert) and parsed.is_for(other.cert)
    assert envelope.open_with_private_key(out.stdout, me.cert, me.key) == BID
    # hand-over: the recipient unwraps the content key on its own machine; the
    # platform opens the envelope with that key alone
    cek = envelope.unwrap_key(parsed, me.cert, me.key)
    assert envelope.open_with_key(parsed, cek) == BID


async def test_refusals_are_specific(pki: PKI) -> None:
    me = pki.ca1.issue(cn="我", purpose="encryption", key_type="rsa2048")
    stranger = pki.ca1.issue(cn="旁人", purpose="encryption", key_type="rsa2048")
    sealed = envelope.seal(BID, [envelope.Recipient(me.cert)])
    parsed = envelope.parse(sealed)
    with pytest.raises(envelope.NotARecipient) as info:
        envelope.unwrap_key(parsed, stranger.cert, stranger.key)
    assert info.value.code == "envelope_not_recipient"
    with pytest.raises(envelope.WrongKey) as wrong:
        envelope.open_with_key(parsed, b"\x00" * 32)
    assert wrong.value.code == "envelope_wrong_key"
    with pytest.raises(envelope.WrongKey):
        envelope.unwrap_key(parsed, me.cert, stranger.key)  # the wrong private key
    for bad in (b"", b"not an envelope", BID, sealed[:-20]):
        with pytest.raises(envelope.MalformedEnvelope) as malformed:
            envelope.parse(bad)
        assert malformed.value.code == "envelope_malformed"
    # a signed (not encrypted) file is not an envelope: an unencrypted bid is refused
    signer = pki.ca1.issue(cn="签名", purpose="signing")

    with pytest.raises(envelope.MalformedEnvelope):
        envelope.parse(cms.sign(BID, cert=signer.cert, key=signer.key, detached=False))


async def test_tampered_gcm_envelope_does_not_open(pki: PKI) -> None:
    me = pki.ca1.issue(cn="完整性", purpose="encryption", key_type="p256")
    sealed = bytearray(envelope.seal(BID, [envelope.Recipient(me.cert)], aead=True))
    sealed[len(sealed) // 2] ^= 0x01  # inside the ciphertext
    with pytest.raises((envelope.WrongKey, envelope.MalformedEnvelope)):
        envelope.open_with_private_key(bytes(sealed), me.cert, me.key)


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
async def test_sm4_cbc_both_ways_with_openssl(pki: PKI, key_type: KeyType) -> None:
    me = pki.ca1.issue(cn="国密接收者", purpose="encryption", key_type=key_type)
    cert, key, _ = pki.files(me, f"sm4-{key_type}")
    ours = envelope.seal(BID, [envelope.Recipient(me.cert)], aead=False, cbc_cipher="sm4_cbc")
    out = openssl("cms", "-decrypt", "-binary", "-inform", "DER",
                  "-in", str(pki.write("sm4.p7m", ours)), "-recip", str(cert), "-inkey", str(key))
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == BID
    theirs = openssl("cms", "-encrypt", "-binary", "-sm4-cbc", "-outform", "DER",
                     "-in", str(pki.write("bid.bin", BID)), str(cert))
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert envelope.open_with_private_key(theirs.stdout, me.cert, me.key) == BID
