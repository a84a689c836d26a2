"""SM2/SM3 signatures through OpenSSL 3: both ways with openssl dgst, and with gmssl."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from gmssl import sm2 as gm_sm2

from signing import sm2

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
    from asn1crypto.algos import DSASignature

    text = subprocess.run(["openssl", "pkey", "-in", str(keys["pem"]), "-text", "-noout"],
                          capture_output=True, text=True, check=True).stdout
    scalar = _hex_field(text, "priv")[-64:]
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


def test_sm2_certificate_chain_verifies_with_openssl(tmp_path: Path) -> None:
    """A root and a leaf, both SM2 and signed with SM2/SM3, built here; openssl verifies them."""
    from datetime import UTC, datetime, timedelta

    from asn1crypto import x509

    def name(cn: str) -> x509.Name:
        return x509.Name.build({"country_name": "CN", "organization_name": "国密测试",
                                "common_name": cn})

    now = datetime.now(UTC).replace(microsecond=0)
    root_priv, root_pub = sm2.generate_key()
    _, leaf_pub = sm2.generate_key()
    ca_ext = [{"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}},
              {"extn_id": "key_usage", "critical": True,
               "extn_value": {"key_cert_sign", "crl_sign"}}]
    leaf_ext = [{"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
                {"extn_id": "key_usage", "critical": True,
                 "extn_value": {"digital_signature", "non_repudiation"}}]
    root = sm2.build_certificate(subject=name("SM2 Root"), issuer=name("SM2 Root"),
                                 public_key_der=root_pub, issuer_private_der=root_priv, serial=1,
                                 not_before=now - timedelta(minutes=5),
                                 not_after=now + timedelta(days=365), extensions=ca_ext)
    leaf = sm2.build_certificate(subject=name("投标人 SM2"), issuer=name("SM2 Root"),
                                 public_key_der=leaf_pub, issuer_private_der=root_priv, serial=2,
                                 not_before=now - timedelta(minutes=5),
                                 not_after=now + timedelta(days=30), extensions=leaf_ext)
    def pem(der: bytes) -> bytes:
        return (b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der)
                + b"-----END CERTIFICATE-----\n")
    (tmp_path / "root.pem").write_bytes(pem(root))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    # GM/T 0015 signs certificates with the default identifier; OpenSSL 3.0's
    # verify uses an empty one unless told (-vfyopt distid:...)
    gm_id = ["-vfyopt", "distid:1234567812345678"]
    out = subprocess.run(["openssl", "verify", *gm_id, "-CAfile", str(tmp_path / "root.pem"),
                          str(tmp_path / "leaf.pem")], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr
    parsed = x509.Certificate.load(leaf)
    assert sm2.verify(root_pub, parsed["signature_value"].native, parsed["tbs_certificate"].dump())
    # and a leaf signed by another key does not verify under this root
    other_priv, _ = sm2.generate_key()
    forged = sm2.build_certificate(subject=name("冒充"), issuer=name("SM2 Root"),
                                   public_key_der=leaf_pub, issuer_private_der=other_priv,
                                   serial=3, not_before=now - timedelta(minutes=5),
                                   not_after=now + timedelta(days=30), extensions=leaf_ext)
    (tmp_path / "forged.pem").write_bytes(pem(forged))
    bad = subprocess.run(["openssl", "verify", *gm_id, "-CAfile", str(tmp_path / "root.pem"),
                          str(tmp_path / "forged.pem")], capture_output=True, text=True, check=False)
    assert bad.returncode != 0
