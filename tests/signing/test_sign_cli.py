"""`tenderhall sign`: detached signatures from a PKCS#12 file that openssl and the platform check."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms
from tests.conftest import run_cli
from tests.signing.conftest import PKI


async def test_sign_writes_detached_cms_that_openssl_and_the_platform_verify(
        pki: PKI, tmp_path: Path) -> None:
    agent = pki.ca1.issue(cn="代理机构经办人", org="四川某招标代理有限公司",
                          credit_code="91510100MA6CB1N4TK", purpose="signing")
    p12 = tmp_path / "agent.p12"
    p12.write_bytes(agent.pkcs12(b"secret-pass"))
    announcement = tmp_path / "announcement.json"
    announcement.write_bytes('{"title":"国道养护工程"}'.encode())
    pem_doc = tmp_path / "招标文件.pdf"
    pem_doc.write_bytes(b"%PDF-1.7 tender document" * 100)

    out = run_cli("sign", str(announcement), "--p12", str(p12),
                  env={"P12_PASSWORD": "secret-pass"})
    assert out.returncode == 0, out.stderr
    signature = (tmp_path / "announcement.json.p7s").read_bytes()
    verified = await cms.verify(signature, trust=pki.trust(), content=announcement.read_bytes())
    assert verified.signer.subject == agent.cert.subject

    roots = tmp_path / "roots.pem"
    roots.write_bytes(pki.ca1.root.public_bytes(Encoding.PEM)
                      + pki.ca1.issuing.public_bytes(Encoding.PEM))
    check = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
         str(tmp_path / "announcement.json.p7s"), "-content", str(announcement),
         "-CAfile", str(roots), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "Verification successful" in check.stderr, check.stderr

    out = run_cli("sign", str(pem_doc), "--p12", str(p12), "--pem",
                  env={"P12_PASSWORD": "secret-pass"})
    assert out.returncode == 0, out.stderr
    pem = (tmp_path / "招标文件.pdf.p7s").read_bytes()
    assert pem.startswith(b"-----BEGIN CMS-----")
    await cms.verify(cms.pem_to_der(pem), trust=pki.trust(), content=pem_doc.read_bytes())

    # a wrong password: a clear error, nothing written
    (tmp_path / "announcement.json.p7s").unlink()
    out = run_cli("sign", str(announcement), "--p12", str(p12), env={"P12_PASSWORD": "nope"})
    assert out.returncode == 1 and "无法读取证书文件" in out.stderr
    assert not (tmp_path / "announcement.json.p7s").exists()
