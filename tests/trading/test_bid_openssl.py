"""The bid format is openssl's own, both ways (docs/bid-format.md).

A bid made with nothing but ``zip`` and ``openssl cms`` is accepted and
receipted; the receipt checks with ``openssl cms``/``openssl ts``; the
accepted ``bid.p7m`` opens with ``openssl cms -decrypt`` and gives back the
ZIP; and what ``bidformat.sealing`` writes opens with openssl as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar

from bidformat import price, sealing
from signing.ca import KeyType
from tests.conftest import PKI, Client
from tests.trading.bidding import Bidder, b64, seal, upload
from tests.trading.conftest import Lot
from trading.bids.envelope_check import serial_hex

ZIP = "/usr/bin/zip"
CREATOR = {"tool": "openssl", "version": "3"}


def run(*args: str | Path, cwd: Path | None = None,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run([str(a) for a in args], cwd=cwd, input=stdin, capture_output=True,
                         check=False, timeout=60)
    assert out.returncode == 0, f"{args}: {out.stderr.decode()}"
    return out


def rekeyed(bidder: Bidder, pki: PKI, key_type: KeyType) -> Bidder:
    """The same organization with signing and encryption certificates of ``key_type``."""
    cn = f"{bidder.name}经办人"
    signer = pki.ca1.issue(cn=cn, purpose="signing", org=bidder.name,
                           credit_code=bidder.credit_code, key_type=key_type)
    enc = pki.ca1.issue(cn=cn, purpose="encryption", org=bidder.name,
                        credit_code=bidder.credit_code, key_type=key_type)
    return dataclasses.replace(bidder, signer=signer, enc=enc)


async def fetched_opening_cert(client: Client, tender_id: str, pki: PKI) -> Path:
    """The lot's opening certificate, checked against the fingerprint the tender publishes."""
    tender = (await client.get(f"/api/tenders/{tender_id}")).json()
    lot = next(x for x in tender["lots"] if x["number"] == 1)
    r = await client.get(f"/api/tenders/{tender_id}/lots/{lot['id']}/opening-certificate")
    assert r.status_code == 200, r.text
    path = pki.write(f"opening-{tender_id}.crt", r.content)
    der = run("openssl", "x509", "-in", path, "-outform", "DER").stdout
    assert hashlib.sha256(der).hexdigest() == lot["opening_cert_sha256"]
    return path


def open_with_openssl(p7m: Path, enc: tuple[Path, Path, Path], root: Path) -> bytes:
    """``openssl cms -decrypt`` with the bidder's key, then the inner signature: the ZIP."""
    enc_crt, enc_key, _ = enc
    signed = p7m.with_suffix(".signed")
    run("openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", p7m,
        "-recip", enc_crt, "-inkey", enc_key, "-out", signed)
    out = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", signed,
              "-CAfile", root, "-purpose", "any")
    assert b"Verification successful" in out.stderr
    return out.stdout


@pytest.mark.parametrize("key_type", ["p256", "rsa2048"])
async def test_a_bid_made_with_openssl_is_received_and_opens_with_openssl(
        lot: Lot, client: Client, pki: PKI, app: Litestar, tmp_path: Path,
        key_type: KeyType) -> None:
    bidder = rekeyed(lot.bidder, pki, key_type)
    sign_crt, sign_key, chain = pki.files(bidder.signer, f"sign-{key_type}-{tmp_path.name}")
    enc = pki.files(bidder.enc, f"enc-{key_type}-{tmp_path.name}")
    root = pki.root_file(pki.ca1)
    opening = await fetched_opening_cert(client, lot.tender["id"], pki)

    # the folder: price.json at the top, the documents beside it
    folder = tmp_path / "bid"
    (folder / "技术标").mkdir(parents=True)
    (folder / "price.json").write_bytes(price.dump(price.example(
        lot.tender["code"], 1, bidder.name, bidder.credit_code, "1234567.80")))
    (folder / "商务标.txt").write_text(f"{bidder.name} 商务标正文")
    (folder / "技术标" / "方案.txt").write_text("技术方案")

    # the commands of docs/bid-format.md, as they are written there
    run(ZIP, "-r", "-X", "../bid.zip", ".", cwd=folder)
    run(ZIP, "-z", "../bid.zip", cwd=folder, stdin=json.dumps(CREATOR).encode())
    run("openssl", "cms", "-sign", "-binary", "-nodetach", "-md", "sha256",
        "-signer", sign_crt, "-inkey", sign_key, "-certfile", chain,
        "-in", "bid.zip", "-outform", "DER", "-out", "bid.signed", cwd=tmp_path)
    run("openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-in", "bid.signed",
        "-outform", "DER", "-out", "bid.p7m", enc[0], opening, cwd=tmp_path)
    run("openssl", "cms", "-sign", "-binary", "-md", "sha256",
        "-signer", sign_crt, "-inkey", sign_key, "-certfile", chain,
        "-in", "bid.p7m", "-outform", "DER", "-out", "bid.p7m.p7s", cwd=tmp_path)
    zipped = (tmp_path / "bid.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        assert "price.json" in z.namelist() and json.loads(z.comment) == CREATOR
    p7m = (tmp_path / "bid.p7m").read_bytes()

    up = await upload(client, lot.tender, p7m)
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64((tmp_path / "bid.p7m.p7s").read_bytes())})
    assert r.status_code == 201, r.text
    bid = r.json()
    assert bid["p7m_sha256"] == hashlib.sha256(p7m).hexdigest()
    assert bid["envelope_kind"] == "authenticated_enveloped_data"
    assert bid["content_cipher"] == "aes256_gcm"
    assert {x["serial"] for x in bid["recipients"]} == {
        serial_hex(bidder.enc.cert.serial_number), serial_hex(lot.opening.serial_number)}

    # the receipt, checked by openssl alone
    receipt = pki.write(f"receipt-{bid['id']}.p7s",
                        (await client.get(f"/api/bids/{bid['id']}/receipt.p7s")).content)
    token = pki.write(f"receipt-{bid['id']}.tst",
                      (await client.get(f"/api/bids/{bid['id']}/receipt.tst")).content)
    out = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", receipt,
              "-CAfile", root, "-purpose", "any")
    fields = json.loads(out.stdout)
    assert fields["type"] == "bid_receipt" and fields["bid"] == bid["id"]
    assert fields["bid_p7m"] == {"sha256": bid["p7m_sha256"], "size": len(p7m)}
    out = run("openssl", "ts", "-verify", "-data", receipt, "-in", token, "-token_in",
              "-CAfile", root, "-untrusted", app.state.settings.tsa_cert_file)
    assert b"Verification: OK" in out.stdout

    # the platform's own copy opens with openssl and the bidder's key: the same ZIP
    stored = pki.write(f"stored-{bid['id']}.p7m", p7m)
    assert open_with_openssl(stored, enc, root) == zipped
    # and with the tool, as at the opening: inner signature, price sheet and creator read
    with stored.open("rb") as f:
        opened = await sealing.open_bid(f, tmp_path / "opened", trust=pki.trust(),
                                        cert=bidder.enc.cert, key=bidder.enc.key)
    assert opened.sheet.total_price == Decimal("1234567.80") and opened.creator == CREATOR
    assert len(opened.files) == 3 and "price.json" in opened.files


async def test_a_bid_sealed_by_openssl_for_the_opening_certificate_alone_is_refused(
        lot: Lot, client: Client, conn: asyncpg.Connection, pki: PKI, tmp_path: Path) -> None:
    """docs/bid-format.md: the bidder's own encryption certificate is a recipient too; without
    it the bidder cannot open the bid at the opening, so the platform refuses it."""
    bidder = lot.bidder
    sign_crt, sign_key, chain = pki.files(bidder.signer, f"sign-alone-{tmp_path.name}")
    opening = await fetched_opening_cert(client, lot.tender["id"], pki)
    (tmp_path / "bid.signed").write_bytes(b"not opened before the deadline" * 100)
    run("openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-in", "bid.signed",
        "-outform", "DER", "-out", "bid.p7m", opening, cwd=tmp_path)
    run("openssl", "cms", "-sign", "-binary", "-md", "sha256",
        "-signer", sign_crt, "-inkey", sign_key, "-certfile", chain,
        "-in", "bid.p7m", "-outform", "DER", "-out", "bid.p7m.p7s", cwd=tmp_path)
    up = await upload(client, lot.tender, (tmp_path / "bid.p7m").read_bytes())
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64((tmp_path / "bid.p7m.p7s").read_bytes())})
    assert r.status_code == 422 and r.json()["code"] == "bid_no_own_recipient", r.text
    assert r.json()["detail"]["recipients"] == [
        {"issuer": lot.opening.issuer.rfc4514_string(),
         "serial": serial_hex(lot.opening.serial_number)}]
    assert await conn.fetchval("SELECT count(*) FROM bids WHERE organization_id = $1",
                               bidder.org_id) == 0


@pytest.mark.parametrize("key_type", ["p256", "rsa2048"])
def test_what_the_tool_seals_opens_with_openssl(pki: PKI, tmp_path: Path, key_type: KeyType) -> None:
    org, code = "开标证书测试单位", "91350100M000100Y43"
    signer = pki.ca1.issue(cn="经办人", purpose="signing", org=org, credit_code=code,
                           key_type=key_type)
    enc = pki.ca1.issue(cn="经办人", purpose="encryption", org=org, credit_code=code,
                        key_type=key_type)
    opening = pki.ca1.issue(cn="开标证书", purpose="encryption")
    zipped = b"PK-not-checked-here" + bytes(range(256)) * 64
    bidder = Bidder("x", None, "x", "x", signer, enc)

    sealed = seal(zipped, bidder, [enc.cert, opening.cert])
    p7m = pki.write(f"tool-{key_type}-{tmp_path.name}.p7m", sealed)
    root = pki.root_file(pki.ca1)
    assert open_with_openssl(p7m, pki.files(enc, f"tool-enc-{key_type}"), root) == zipped
    # and the opening certificate's key (recombined from the officers' shares) opens it too
    assert open_with_openssl(p7m, pki.files(opening, f"tool-open-{key_type}"), root) == zipped
    # the outer signature as the tool writes it checks with openssl over bid.p7m
    p7s = pki.write(f"tool-{key_type}.p7s", bidder.sign(sealed))
    out = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s,
              "-content", p7m, "-CAfile", root, "-purpose", "any", "-out", "/dev/null")
    assert b"Verification successful" in out.stderr


def test_chinese_file_names_zipped_by_info_zip_keep_their_names(tmp_path: Path) -> None:
    folder = tmp_path / "bid"
    folder.mkdir()
    (folder / "price.json").write_bytes(price.dump(price.example(
        "BID-O-0002", 1, "名称测试单位", "91350100M000100Y43", "100.00")))
    (folder / "商务标.txt").write_text("商务标正文")
    run(ZIP, "-r", "-X", "../bid.zip", ".", cwd=folder)
    with (tmp_path / "bid.zip").open("rb") as f:
        names, _, _ = sealing.unzip(f, tmp_path / "out")
    assert sorted(names) == ["price.json", "商务标.txt"]
