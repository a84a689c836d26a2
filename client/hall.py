"""The opening from the bidder's and the officer's own machines: sign in to the hall, open
one's own bid, hand over one's share. Private keys never leave the machine: what goes to the
platform is a signature, a content key for one bid after the deadline, or an officer's share."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import click

from client.cli import P12, client_for, conn_opts, connection, pkcs12, run
from client.login import load_pkcs12, signed_challenge
from client.platform import _raise_for, body_of
from signing import stream
from signing.envelope import unwrap_from
from signing.shares import unseal_share


def content_key(p7m: Path, key: Any, cert: Any) -> str:
    """The content key from one's own recipient entry of a local bid.p7m (base64)."""

    with p7m.open("rb") as f:
        head = stream._read_head(stream._Reader(f))
    return base64.b64encode(unwrap_from(list(head.infos), cert, key)).decode()


def own_content_key(p7m: Path, p12_path: Path, password_env: str) -> str:
    key, cert, _ = pkcs12(p12_path, password_env)
    return content_key(p7m, key, cert)


@click.command("open")
@click.argument("bid_id")
@click.option("--p7m", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Your local copy of the bid (the same bytes you submitted).")
@click.option("--p12", "p12_path", type=P12, required=True, help="Your encryption certificate.")
@click.option("--password-env", default="P12_PASSWORD", show_default=True)
@connection
def open_bid(bid_id: str, p7m: Path, p12_path: Path, password_env: str, **kwargs: Any) -> None:
    """At the opening: unwrap your bid's content key here and have the platform open it."""

    opts = conn_opts(kwargs)
    content_key = own_content_key(p7m, p12_path, password_env)

    async def work() -> dict[str, Any]:
        async with await client_for(opts) as http:
            r = await http.post(f"/api/bids/{bid_id}/open", json={"content_key": content_key})
            body: dict[str, Any] = body_of(r)
            return body

    result = run(work())
    click.echo(f"bid {bid_id} opened / 解密成功: total price {result['total_price']} yuan; "
               f"signed by {result['inner_signer']}; {len(result['files'])} files")


@click.group()
def hall() -> None:
    """The opening hall: sign in; officers hand over their key shares."""


@hall.command("signin")
@click.argument("lot_id")
@connection
def signin(lot_id: str, **kwargs: Any) -> None:
    """Sign in to a lot's hall (a bidder signs with its --login-p12 certificate)."""

    opts = conn_opts(kwargs)

    async def work() -> dict[str, Any]:
        async with await client_for(opts) as http:
            body: dict[str, Any] = {}
            if opts.get("login_p12"):
                password = os.environ.get("P12_PASSWORD", "").encode() or None
                key, cert, chain = load_pkcs12(opts["login_p12"].read_bytes(), password)
                body = await signed_challenge(http, key, cert, chain)
            r = await http.post(f"/api/lots/{lot_id}/hall/signin", json=body)
            out: dict[str, Any] = body_of(r)
            return out

    result = run(work())
    click.echo(f"signed in as {result['role']} ({result['count']} in the hall) / 签到成功")


@hall.command("share")
@click.argument("lot_id")
@click.option("--p12", "p12_path", type=P12, required=True,
              help="Your encryption certificate (the share is sealed to it).")
@click.option("--password-env", default="P12_PASSWORD", show_default=True)
@connection
def share(lot_id: str, p12_path: Path, password_env: str, **kwargs: Any) -> None:
    """An opening officer: unseal your share of the lot's key here and hand it over."""

    opts = conn_opts(kwargs)
    key, cert, _ = pkcs12(p12_path, password_env)

    async def work() -> dict[str, Any]:
        async with await client_for(opts) as http:
            r = await http.get(f"/api/lots/{lot_id}/shares/mine")
            _raise_for(r)
            sealed = base64.b64decode(r.json()["envelope"])
            raw = unseal_share(sealed, cert, key)
            r = await http.post(f"/api/lots/{lot_id}/shares",
                                json={"share": base64.b64encode(raw).decode()})
            body: dict[str, Any] = body_of(r)
            return body

    result = run(work())
    click.echo(f"share {result['index']} handed over: {result['have']} of {result['need']} "
               f"needed / 密钥分片已提交")
