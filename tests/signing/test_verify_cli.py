"""`tenderhall verify`: offline verification of every artifact kind, by the real command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import weasyprint
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms, pdf, tsa
from tests.conftest import run_cli
from tests.signing.conftest import PKI

CONTENT = "投标文件".encode() * 1000


async def test_verify_every_kind(pki: PKI, tmp_path: Path) -> None:
    bidder = pki.ca1.issue(cn="投标人一", org="中建蜀通路桥工程有限公司",
                           credit_code="91510100MA6CB1N4TK", purpose="signing")
    stamp = pki.ca1.issue(cn="时间戳", purpose="tsa", key_type="rsa2048")
    authority = tsa.LocalAuthority(stamp.cert, stamp.key, stamp.chain[:1])
    content = tmp_path / "bid.zip"
    content.write_bytes(CONTENT)
    (tmp_path / "bid.p7s").write_bytes(cms.sign(CONTENT, cert=bidder.cert, key=bidder.key,
                                                chain=bidder.chain[:1]))
    req = tsa.request_for(hashlib.sha256(CONTENT).digest())
    (tmp_path / "bid.tsr").write_bytes(authority.respond(req))
    signed_pdf = await pdf.sign_pdf(weasyprint.HTML(string="<p>回执</p>").write_pdf(),
                                    cert=bidder.cert, key=bidder.key, chain=bidder.chain,
                                    timestamper=pdf.AuthorityTimeStamper(authority),
                                    trust=pki.trust())  # B-LTA: with a document timestamp
    (tmp_path / "receipt.pdf").write_bytes(signed_pdf)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pki.ca1.root.public_bytes(Encoding.PEM)
                      + pki.ca1.issuing.public_bytes(Encoding.PEM))
    crl = tmp_path / "ca1.crl"
    crl.write_bytes(pki.ca1.crl_der())

    base = ["verify", "--trust", str(roots), "--crl", str(crl)]
    out = run_cli(*base, "--content", str(content), str(tmp_path / "bid.p7s"),
                  str(tmp_path / "bid.tsr"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bid.p7s: cms: OK" in out.stdout and "bid.tsr: timestamp-reply: OK" in out.stdout
    assert "91510100MA6CB1N4TK" in out.stdout and "中建蜀通路桥工程有限公司" in out.stdout
    out = run_cli(*base, str(tmp_path / "receipt.pdf"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "receipt.pdf: pdf: OK" in out.stdout and "trusted: True" in out.stdout
    assert "document timestamp:" in out.stdout

    # the wrong content, an untrusted CA, and something that is not signed at all
    other = tmp_path / "other.zip"
    other.write_bytes(CONTENT + b"!")
    out = run_cli(*base, "--content", str(other), str(tmp_path / "bid.p7s"))
    assert out.returncode == 1 and "[signature_content_mismatch]" in out.stdout
    roots2 = tmp_path / "roots2.pem"
    roots2.write_bytes(pki.ca2.root.public_bytes(Encoding.PEM))
    out = run_cli("verify", "--trust", str(roots2), "--content", str(content),
                  str(tmp_path / "bid.p7s"))
    assert out.returncode == 1 and "[certificate_unknown_issuer]" in out.stdout
    out = run_cli(*base, str(content))
    assert out.returncode == 1 and "unknown: FAILED" in out.stdout
    assert "Traceback" not in out.stderr
