"""``tenderhall bid``: the bidder's tool (seal, submit, status, receipt, withdraw, decrypt).

It runs on the bidder's own machine. Keys never leave it: sealing signs with
the bidder's signing key and encrypts for the bidder's own encryption
certificate and the lot's opening certificate; the platform receives only
the envelope and signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import click
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from bidformat import device, sealing
from client import platform as client
from client.cli import P12, client_for, conn_opts, connection, load_cert, pkcs12, run
from client.hall import open_bid
from client.platform import _raise_for, body_of
from signing import cms, stream
from signing.envelope import unwrap_from
from signing.pathval import TrustStore


@click.group()
def bid() -> None:
    """Seal, submit, follow and withdraw bids; decrypt your own at the opening."""


async def _opening_cert(url: str, tender_id: str, lot: int) -> tuple[x509.Certificate, str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.get(f"/api/tenders/{tender_id}")
        r.raise_for_status()
        tender = r.json()
        lots = [x for x in tender["lots"] if x["number"] == lot]
        if not lots:
            raise click.ClickException(f"lot {lot} does not exist / 标段不存在")
        r = await http.get(f"/api/tenders/{tender_id}/lots/{lots[0]['id']}/opening-certificate")
        r.raise_for_status()
        cert = x509.load_pem_x509_certificate(r.content)

        if hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest() != \
                lots[0]["opening_cert_sha256"]:
            raise click.ClickException("the opening certificate does not match the published "
                                       "fingerprint / 开标证书与公告指纹不符")
        return cert, tender["code"]


@bid.command("seal")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tender", "tender_id", required=True, help="The tender's id.")
@click.option("--lot", type=int, required=True, help="The lot number.")
@click.option("--p12", "p12_path", type=P12, required=True, help="Your signing certificate.")
@click.option("--password-env", default="P12_PASSWORD", show_default=True)
@click.option("--encryption-cert", type=click.Path(exists=True, path_type=Path), required=True,
              help="Your own encryption certificate (PEM or DER): you decrypt with it.")
@click.option("--url", envvar="TENDERHALL_URL", required=True,
              help="Where to fetch the lot's opening certificate.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def seal(folder: Path, tender_id: str, lot: int, p12_path: Path, password_env: str,
         encryption_cert: Path, url: str, out: Path) -> None:
    """Pack FOLDER (documents + price.json), sign it and encrypt it: OUT/bid.p7m and .p7s."""

    key, cert, chain = pkcs12(p12_path, password_env)
    opening, code = run(_opening_cert(url, tender_id, lot))
    dev = device.collect()
    creator = {"tool": "tenderhall", "version": dev["tool"]["version"],
               "machine_code": device.machine_code(dev)}
    try:
        sealed = sealing.seal_folder(folder, out, cert=cert, key=key, chain=chain,
                                     encryption_cert=load_cert(encryption_cert),
                                     opening_cert=opening, creator=creator,
                                     expect={"tender_code": code, "lot": lot})
    except sealing.SealError as exc:
        raise click.ClickException(str(exc)) from None
    (out / "device.json").write_text(json.dumps({"device": dev, "creator": creator},
                                                ensure_ascii=False))
    click.echo(f"sealed {len(sealed.files)} files, total price {sealed.sheet.total_price} yuan: "
               f"{sealed.p7m} ({sealed.size:,} bytes), {sealed.p7s}")


@bid.command("submit")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tender", "tender_id", required=True)
@click.option("--lot", type=int, required=True)
@connection
def submit(folder: Path, tender_id: str, lot: int, **kwargs: Any) -> None:
    """Upload FOLDER/bid.p7m with its signature; resumes where a broken run stopped."""


    opts = conn_opts(kwargs)
    meta_file = folder / "device.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {
        "device": device.collect(), "creator": None}

    async def work() -> dict[str, Any]:
        http = await client_for(opts)
        async with http:
            with Progress("[progress.description]{task.description}", BarColumn(),
                          DownloadColumn(), TransferSpeedColumn()) as bar:
                task = bar.add_task("上传 uploading", total=(folder / "bid.p7m").stat().st_size)
                result = await client.submit(
                    http, tender_id=tender_id, lot=lot, p7m=folder / "bid.p7m",
                    p7s=folder / "bid.p7m.p7s", device=meta["device"], creator=meta["creator"],
                    on_progress=lambda done, _t: bar.update(task, completed=done))
            await client.download_receipt(http, result["id"], folder / "receipt")
            return result

    result = run(work())
    click.echo(f"bid {result['id']} received at {result['received_at']}; receipt in "
               f"{folder / 'receipt'} / 投标文件已递交，回执已保存")


@bid.command("status")
@click.option("--tender", "tender_id", default=None)
@connection
def status(tender_id: str | None, **kwargs: Any) -> None:
    """Your organization's bids: current, replaced and withdrawn."""
    opts = conn_opts(kwargs)

    async def work() -> list[dict[str, Any]]:
        async with await client_for(opts) as http:
            r = await http.get("/api/bids/mine", params={"tender_id": tender_id} if tender_id
                               else None)

            rows: list[dict[str, Any]] = body_of(r)
            return rows

    for row in run(work()):
        click.echo(f"{row['id']}  {row['tender_code']} lot {row['lot_number']}  "
                   f"{row['status']:<10}  {row['received_at']}  {row['size']:,} bytes  "
                   f"sha256 {row['p7m_sha256'][:16]}…")


@bid.command("withdraw")
@click.argument("bid_id")
@click.option("--p12", "p12_path", type=P12, required=True, help="Your signing certificate.")
@click.option("--password-env", default="P12_PASSWORD", show_default=True)
@connection
def withdraw(bid_id: str, p12_path: Path, password_env: str, **kwargs: Any) -> None:
    """Withdraw a bid before the deadline with a signed statement (the bid is kept, withdrawn)."""

    opts = conn_opts(kwargs)
    key, cert, chain = pkcs12(p12_path, password_env)

    async def work() -> dict[str, Any]:
        async with await client_for(opts) as http:
            r = await http.get(f"/api/bids/{bid_id}/withdrawal")
            _raise_for(r)
            signature = cms.sign(r.content, cert=cert, key=key, chain=chain)
            r = await http.post(f"/api/bids/{bid_id}/withdraw",
                                json={"signature": base64.b64encode(signature).decode()})
            body: dict[str, Any] = body_of(r)
            return body

    result = run(work())
    click.echo(f"bid {bid_id} withdrawn at {result['withdrawn_at']} / 已撤回")


@bid.command("decrypt")
@click.argument("p7m", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--p12", "p12_path", type=P12, required=True, help="Your encryption certificate.")
@click.option("--password-env", default="P12_PASSWORD", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Decrypt, check the inner signature and unpack here.")
@click.option("--key-only", is_flag=True,
              help="Only unwrap the content key (base64), for the opening hall.")
@click.option("--roots", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="Trusted root certificates for the inner signature.")
def decrypt(p7m: Path, p12_path: Path, password_env: str, out: Path | None, key_only: bool,
            roots: tuple[Path, ...]) -> None:
    """Open your own bid.p7m with your encryption key."""

    key, cert, _ = pkcs12(p12_path, password_env)
    if key_only:
        with p7m.open("rb") as f:
            head = stream._read_head(stream._Reader(f))
        click.echo(base64.b64encode(unwrap_from(list(head.infos), cert, key)).decode())
        return
    if out is None:
        raise click.UsageError("give --out DIR, or --key-only")
    trust = TrustStore(roots=[TrustStore.load_cert(p.read_bytes()) for p in roots],
                       intermediates=[], crls=[], revocation_mode="soft-fail")
    with p7m.open("rb") as f:
        opened = run(sealing.open_bid(f, out, trust=trust, cert=cert, key=key))
    click.echo(f"{len(opened.files)} files in {out}; signed by {opened.verified.subject}; "
               f"total price {opened.sheet.total_price} yuan / 解密成功")


bid.add_command(open_bid)  # opening one's own bid is a bid command, written beside the hall's
