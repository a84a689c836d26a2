"""SM2/SM3 signatures through OpenSSL 3: both ways with openssl dgst, and with gmssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto.algos import DSASignature
from cryptography.hazmat.primitives.serialization import Encoding
from gmssl import sm2 as gm_sm2

from client.login import load_pkcs12
from signing import cms, envelope, sm2
from signing.ca import DevCA
from signing.keys import SM2PrivateKey
from tests.signing.conftest import PKI

DATA = "国密签名 SM2 signature".encode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sm2")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(d / "k.pem"))
    run("pkey", "-in", str(d / "k.pem"), "-pubout", "-out", str(d / "pub.pem"))
    run("pkey", "-in", str(d / "k.pem"), "-outform", "DER", "-out", str(d / "k.der"))
    run("pkey", "-in", str(d / "k.pem"), "-pubout", "-outform", "DER", "-out", str(d / "pub.der"))
    (d / "data.bin").write_bytes(DATA)
    return {"dir": d, "pem": d / "k.pem", "pub_pem": d / "pub.pem", "der": d / "k.der",
            "pub": d / "pub.der", "data": d / "data.bin"}


def test_ours_verify_with_openssl_and_theirs_here(keys: dict[str, Path]) -> None:
    sig = sm2.sign(keys["der"].read_bytes(), DATA)
    (keys["dir"] / "ours.sig").write_bytes(sig)
    out = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678",
                          "-verify", str(keys["pub_pem"]), "-signature",
                          str(keys["dir"] / "ours.sig"), str(keys["data"])],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "Verified OK" in out.stdout, out.stderr
    subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-sign",
                    str(keys["pem"]), "-out", str(keys["dir"] / "theirs.sig"), str(keys["data"])],
                   check=True)
    theirs = (keys["dir"] / "theirs.sig").read_bytes()
    assert sm2.verify(keys["pub"].read_bytes(), theirs, DATA)
    assert not sm2.verify(keys["pub"].read_bytes(), theirs, DATA + b"!")
    assert not sm2.verify(keys["pub"].read_bytes(), theirs, DATA, ident=b"another-id")


def _hex_field(text: str, name: str) -> str:
    lines = text.split(name + ":", 1)[1].splitlines()[1:]
    out = []
    for line in lines:
        if not line.startswith(" "):
            break
        out.append(line.strip().replace(":", ""))
    return "".join(out)


def test_agrees_with_an_independent_implementation(keys: dict[str, Path]) -> None:
    """gmssl (pure Python) signs with the GM/T 0009 default identifier; we verify, and back."""

    text = subprocess.run(["openssl", "pkey", "-in", str(keys["pem"]), "-text", "-noout"],
                          capture_output=True, text=True, check=True).stdout
    # openssl drops leading zero bytes of the scalar (and adds 00 before a high bit)
    scalar = _hex_field(text, "priv")[-64:].rjust(64, "0")
    point = _hex_field(text, "pub")[2:]  # drop the 04 prefix
    gm = gm_sm2.CryptSM2(public_key=point, private_key=scalar)
    raw = bytes.fromhex(gm.sign_with_sm3(DATA))
    der = DSASignature({"r": int.from_bytes(raw[:32], "big"),
                        "s": int.from_bytes(raw[32:], "big")}).dump()
    assert sm2.verify(keys["pub"].read_bytes(), der, DATA)
    ours = DSASignature.load(sm2.sign(keys["der"].read_bytes(), DATA))
    assert gm.verify_with_sm3(f"{ours['r'].native:064x}{ours['s'].native:064x}", DATA)


def test_refusals(keys: dict[str, Path]) -> None:
    with pytest.raises(sm2.SM2Error):
        sm2.verify(b"not a key", b"x", DATA)
    with pytest.raises(sm2.SM2Error):
        sm2.sign(b"not a key", DATA)
    assert not sm2.verify(keys["pub"].read_bytes(), b"\x30\x00", DATA)


def _openssl(*args: object, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                         check=False)
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    return out


GM_ID = ("-vfyopt", "distid:1234567812345678")


def test_sm2_hierarchy_verifies_with_openssl(pki: PKI) -> None:
    """Each link of the SM2 chain checks out with openssl verify.

    GM/T 0015 signs certificates with the default identifier. OpenSSL 3.0's
    verify applies ``-vfyopt distid`` to the target certificate only and checks
    the others with an empty identifier, so each link is verified on its own.
    """
    leaf = pki.ca3.issue(cn="国密投标人", purpose="signing", key_type="sm2")
    root = pki.root_file(pki.ca3)
    issuing = pki.write("ca3-issuing.pem", pki.ca3.issuing.public_bytes(Encoding.PEM))
    cert, key, _ = pki.files(leaf, "sm2-leaf")
    _openssl("verify", *GM_ID, "-CAfile", root, issuing)
    _openssl("verify", *GM_ID, "-partial_chain", "-CAfile", issuing, cert)
    assert "SM2" in _openssl("x509", "-in", cert, "-noout", "-text").stdout
    _openssl("pkey", "-in", key, "-noout")  # our PKCS#8 PEM reads in openssl
    # a certificate signed by another SM2 CA does not verify under this one
    other = DevCA(pki.dir / "sm2-other")
    other.init("另一国密CA", crl_url="http://127.0.0.1/other.crl", key_type="sm2")
    stranger = other.issue(cn="冒充", purpose="signing", key_type="sm2")
    _openssl("verify", *GM_ID, "-partial_chain", "-CAfile", issuing,
             pki.write("stranger.pem", stranger.cert_pem()), ok=False)


async def test_sm2_cms_signatures(pki: PKI) -> None:
    """SM2/SM3 SignedData (GM/T 0010) verifies here, its signature value with openssl dgst."""

    leaf = pki.ca3.issue(cn="国密投标人", org="国密公司", credit_code="91350100M000100Y43",
                         purpose="signing", key_type="sm2")
    trust = pki.trust(pki.ca3)
    data = "投标文件 SM2".encode()
    for detached in (True, False):
        sig = cms.sign(data, cert=leaf.cert, key=leaf.key, chain=leaf.chain, detached=detached)
        verified = await cms.verify(sig, trust=trust, content=data if detached else None)
        assert verified.digest_algorithm == sm2.SM3
        assert verified.subject.startswith("CN=国密投标人")
    with pytest.raises(cms.ContentMismatch):
        await cms.verify(sig, trust=trust, content=data + b"!")

    # the signature value is SM2/SM3 over the DER signed attributes: check it independently
    info = asn1_cms.ContentInfo.load(sig)["content"]["signer_infos"][0]
    assert info["signature_algorithm"]["algorithm"].dotted == sm2.SM2_SIGN
    attrs = pki.write("sm2-attrs.der", info["signed_attrs"].untag().dump())
    value = pki.write("sm2-sig.der", info["signature"].native)
    cert, _, _ = pki.files(leaf, "sm2-cms")
    pub = pki.write("sm2-pub.pem", _openssl("x509", "-in", cert, "-pubkey", "-noout").stdout.encode())
    _openssl("dgst", "-sm3", *("-sigopt", "distid:1234567812345678"), "-verify", pub,
             "-signature", value, attrs)

    # another SM2 key under the same certificate: the signature does not verify
    forged = cms.sign(data, cert=leaf.cert, key=SM2PrivateKey.generate(), chain=leaf.chain)
    with pytest.raises(cms.BadSignature):
        await cms.verify(forged, trust=trust, content=data)
    # an untrusted SM2 CA, then revocation through an SM2-signed CRL
    with pytest.raises(cms.UnknownIssuer):
        await cms.verify(sig, trust=pki.trust(pki.ca1))
    victim = pki.ca3.issue(cn="将被吊销", purpose="signing", key_type="sm2")
    revoked_sig = cms.sign(data, cert=victim.cert, key=victim.key, chain=victim.chain)
    pki.ca3.revoke(victim.cert.serial_number)
    with pytest.raises(cms.CertificateRevoked):
        await cms.verify(revoked_sig, trust=pki.trust(pki.ca3), content=data)


def test_sm2_envelopes_and_key_transport(pki: PKI) -> None:
    """GM/T 0010 key transport: the wrapped key opens with openssl pkeyutl, and back."""

    sm2_enc = pki.ca3.issue(cn="国密加密", purpose="encryption", key_type="sm2")
    p256_enc = pki.ca1.issue(cn="EC 加密", purpose="encryption", key_type="p256")
    sealed = envelope.seal(b"sealed bid", [envelope.Recipient(sm2_enc.cert),
                                            envelope.Recipient(p256_enc.cert)])
    assert envelope.open_with_private_key(sealed, sm2_enc.cert, sm2_enc.key) == b"sealed bid"
    assert envelope.open_with_private_key(sealed, p256_enc.cert, p256_enc.key) == b"sealed bid"
    with pytest.raises(envelope.WrongKey):
        envelope.open_with_private_key(sealed, sm2_enc.cert, SM2PrivateKey.generate())

    ktri = next(r.chosen for r in asn1_cms.ContentInfo.load(sealed)["content"]["recipient_infos"]
                if r.name == "ktri")
    assert ktri["key_encryption_algorithm"]["algorithm"].dotted == sm2.SM2_ENCRYPT
    _, key, _ = pki.files(sm2_enc, "sm2-enc")
    wrapped = pki.write("sm2-wrapped.bin", ktri["encrypted_key"].native)
    cek = _openssl("pkeyutl", "-decrypt", "-inkey", key, "-in", wrapped,
                   "-out", pki.dir / "cek.bin")
    assert cek.returncode == 0 and len((pki.dir / "cek.bin").read_bytes()) == 32
    (pki.dir / "secret.bin").write_bytes(b"k" * 32)
    _openssl("pkeyutl", "-encrypt", "-inkey", key, "-in", pki.dir / "secret.bin",
             "-out", pki.dir / "theirs.bin")
    assert sm2_enc.key.decrypt((pki.dir / "theirs.bin").read_bytes()) == b"k" * 32


def test_sm2_pkcs12_both_ways(pki: PKI) -> None:
    issued = pki.ca3.issue(cn="国密登录", purpose="login", key_type="sm2")
    ours = pki.write("sm2.p12", issued.pkcs12(b"pw", "login"))
    text = _openssl("pkcs12", "-in", ours, "-passin", "pass:pw", "-nodes").stdout
    assert "PRIVATE KEY" in text and text.count("BEGIN CERTIFICATE") == 3
    cert, key, chain = pki.files(issued, "sm2-p12")
    theirs = pki.dir / "theirs.p12"
    _openssl("pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", chain,
             "-passout", "pass:secret", "-out", theirs)
    loaded_key, loaded_cert, loaded_chain = load_pkcs12(theirs.read_bytes(), b"secret")
    assert isinstance(loaded_key, SM2PrivateKey)
    assert loaded_key.public_der == issued.key.public_der  # type: ignore[union-attr]
    assert loaded_cert == issued.cert and len(loaded_chain) == 1
    with pytest.raises(ValueError, match=r"(?i)password"):
        load_pkcs12(theirs.read_bytes(), b"wrong")
