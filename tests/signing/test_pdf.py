"""Signed PDFs: a Chinese document from weasyprint, PAdES-signed, checked by pdfsig."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import weasyprint

from signing import pdf, tsa
from tests.signing.conftest import PKI

HTML = """<html><head><style>body { font-family: 'Noto Sans CJK SC', sans-serif; }</style></head>
<body><h1>开标记录表</h1><p>项目：G351 线雅安段路面改造工程 第1标段</p>
<table><tr><td>投标人</td><td>报价（元）</td></tr><tr><td>中建蜀通路桥工程有限公司</td>
<td>38,650,000.00</td></tr></table></body></html>"""


def nss_db(pki: PKI, directory: Path) -> Path:
    """An NSS database trusting CA 1's root, for pdfsig's certificate check."""
    directory.mkdir(exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{directory}", "-n", "tenderhall-ca1", "-t",
                    "CT,C,C", "-i", str(pki.root_file(pki.ca1))], check=True, capture_output=True)
    return directory


@pytest.fixture(scope="module")
def document() -> bytes:
    data: bytes = weasyprint.HTML(string=HTML).write_pdf()
    return data


@pytest.mark.parametrize("level", ["B-T", "B-LTA"])
async def test_pades_signature_passes_pdfsig(pki: PKI, document: bytes, tmp_path: Path,
                                             level: str) -> None:
    platform = pki.ca1.issue(cn="天衡平台签章", org="天衡平台", purpose="platform",
                             key_type="rsa2048")
    stamp = pki.ca1.issue(cn="天衡时间戳服务", purpose="tsa", key_type="rsa2048")
    signed = await pdf.sign_pdf(
        document, cert=platform.cert, key=platform.key, chain=platform.chain,
        timestamper=pdf.AuthorityTimeStamper(tsa.LocalAuthority(stamp.cert, stamp.key,
                                                            stamp.chain[:1])),
        trust=pki.trust() if level == "B-LTA" else None)
    if level == "B-LTA":  # revocation data and a document timestamp are embedded
        assert b"/DSS" in signed and b"/ETSI.RFC3161" in signed
    path = tmp_path / "record.pdf"
    path.write_bytes(signed)
    db = nss_db(pki, tmp_path / "nss")
    out = subprocess.run(["pdfsig", "-no-ocsp", "-nssdir", f"sql:{db}", str(path)], capture_output=True,
                         text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    assert "Certificate is Trusted" in out.stdout, out.stdout
    assert "天衡平台签章" in out.stdout
    assert "Signature Type: ETSI.CAdES.detached" in out.stdout
    # changing one byte of the signed range breaks it
    tampered = bytearray(signed)
    pos = signed.index(b"/Type /Catalog") if b"/Type /Catalog" in signed else 200
    tampered[pos + 1] ^= 0x20
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    out = subprocess.run(["pdfsig", "-no-ocsp", "-nssdir", f"sql:{db}", str(bad)], capture_output=True,
                         text=True, check=False)
    assert "Signature is Valid" not in out.stdout


def test_rendered_pdf_has_real_chinese_glyphs(document: bytes, tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(document)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                           check=True).stdout
    assert "CJK" in fonts or "Noto" in fonts, fonts
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "开标记录表" in text and "38,650,000.00" in text
