"""`tenderhall ca` end to end: init, issue PKCS#12, revoke, CRL served over HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from core.settings import Settings
from signing.ca import DevCA
from tests.conftest import Client, run_cli


def test_ca_commands_and_openssl_reads_their_output(tmp_path: Path) -> None:
    env = {"DEV_CA_DIR": str(tmp_path), "P12_PASSWORD": "p12-secret"}
    assert run_cli("ca", "init", "cli-ca", "--title", "命令行CA", env=env).returncode == 0
    again = run_cli("ca", "init", "cli-ca", env=env)
    assert again.returncode == 1 and "already holds a CA" in again.stderr
    out = tmp_path / "bidder1-sign"
    r = run_cli("ca", "issue", "cli-ca", "--cn", "投标人一", "--purpose", "signing",
                "--org", "中建蜀通路桥工程有限公司", "--credit-code", "91510100MA6CB1N4TK",
                "--key-type", "rsa2048", "--out", str(out), "--password-env", "P12_PASSWORD",
                env=env)
    assert r.returncode == 0, r.stderr
    bad = run_cli("ca", "issue", "cli-ca", "--cn", "x", "--purpose", "signing",
                  "--credit-code", "91510100MA6CB1N4TX", "--out", str(tmp_path / "x"),
                  "--password-env", "P12_PASSWORD", env=env)
    assert bad.returncode == 1 and "position 18" in bad.stderr

    p12 = subprocess.run(["openssl", "pkcs12", "-in", f"{out}.p12", "-nokeys", "-passin",
                          "pass:p12-secret"], capture_output=True, check=False)
    assert p12.returncode == 0, p12.stderr
    assert b"BEGIN CERTIFICATE" in p12.stdout
    cert = x509.load_pem_x509_certificate(Path(f"{out}.crt.pem").read_bytes())
    subject = cert.subject.rfc4514_string()
    assert "91510100MA6CB1N4TK" in subject

    serial = f"{cert.serial_number:x}"
    assert run_cli("ca", "revoke", "cli-ca", serial, env=env).returncode == 0
    crl_text = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text", "-in",
                               str(tmp_path / "cli-ca" / "crl.der")], capture_output=True,
                              text=True, check=False).stdout
    assert serial.upper().zfill(len(serial)) in crl_text.upper().replace(":", "")


async def test_crl_is_served_over_http(client: Client, settings: Settings) -> None:

    # served from the configured development CA directory (DEV_CA_DIR, read into Settings)
    web = Path(settings.dev_ca_dir) / "web-ca"
    if not web.exists():
        DevCA(web).init("网络CA", crl_url="http://127.0.0.1:8000/ca/web-ca/crl.der")
    r = await client.get("/ca/web-ca/crl.der")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/pkix-crl")
    crl = x509.load_der_x509_crl(r.content)
    assert "网络CA" in crl.issuer.rfc4514_string()
    assert (await client.get("/ca/web-ca/root.crt")).status_code == 200
    for path in ("/ca/nope/crl.der", "/ca/..%2F..%2Fetc/crl.der", "/ca/a.b/crl.der"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "not_found"
