"""``tenderhall sign`` and ``tenderhall keys``: signing files and making a lot's opening key on
the signer's own machine. The private keys stay there: what leaves is a detached CMS signature,
an opening certificate and shares sealed to each officer."""

from __future__ import annotations

import base64
import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client.login import load_pkcs12
from core.errors import DomainError
from signing import cms
from signing.shares import create_opening_key


@click.group()
def keys() -> None:
    """Opening keys (k-of-n shares held by opening officers)."""


@keys.command("ceremony")
@click.option("--lot", "lot_id", required=True, type=click.UUID, help="The lot's id.")
@click.option("--lot-name", required=True)
@click.option("--officer", "officers", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path),
              help="An opening officer's encryption certificate (PEM); once per officer.")
@click.option("-k", "k", type=int, required=True, help="How many shares open the bids.")
@click.option("--days", type=int, default=180, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for opening.crt.pem and share-N.p7m (one per officer).")
def keys_ceremony(lot_id: object, lot_name: str, officers: tuple[Path, ...], k: int, days: int,
                  out: Path) -> None:
    """Make a lot's opening key on this machine; only the certificate and sealed shares leave it."""



    certs = [x509.load_pem_x509_certificate(p.read_bytes()) for p in officers]
    try:
        opening = create_opening_key(
            UUID(str(lot_id)), lot_name=lot_name, officers=certs, k=k, issuer_cert=None,
            issuer_key=None, valid_until=datetime.now(UTC) + timedelta(days=days))
    except DomainError as exc:
        raise click.ClickException(f"{exc.message_en} / {exc.message}") from exc
    out.mkdir(parents=True, exist_ok=True)
    (out / "opening.crt.pem").write_bytes(
        opening.certificate.public_bytes(serialization.Encoding.PEM))
    for share, path in zip(opening.shares, officers, strict=True):
        (out / f"share-{share.index}.p7m").write_bytes(share.envelope)
        click.echo(f"share {share.index} sealed to {path.name}")
    click.echo(f"opening certificate for lot {lot_id}: {out / 'opening.crt.pem'} "
               f"({k} of {len(certs)} shares open it); the private key was not written anywhere")


@click.command("sign")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                   path_type=Path))
@click.option("--p12", "p12_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="The signing certificate and key (PKCS#12).")
@click.option("--password-env", default="P12_PASSWORD", show_default=True,
              help="The environment variable holding the PKCS#12 password (empty: none).")
@click.option("--pem", is_flag=True, help="Write PEM instead of DER.")
def sign_command(files: tuple[Path, ...], p12_path: Path, password_env: str, pem: bool) -> None:
    """Sign each FILE as detached CMS; writes FILE.p7s beside it.

    The same as ``openssl cms -sign -binary -in FILE -signer CERT -inkey KEY
    -certfile CHAIN -outform DER -out FILE.p7s``, and for SM2 keys too. Upload
    the .p7s with the file (tender documents) or on the publish form
    (announcements, clarifications).
    """


    password = os.environ.get(password_env, "")
    try:
        key, cert, chain = load_pkcs12(p12_path.read_bytes(), password.encode() or None)
    except ValueError as exc:
        raise click.ClickException(f"cannot read {p12_path} / 无法读取证书文件: {exc}") from exc
    for path in files:
        with path.open("rb") as f:
            der = cms.sign(f, cert=cert, key=key, chain=chain)
        out = path.with_name(path.name + ".p7s")
        if pem:

            body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
            out.write_text(f"-----BEGIN CMS-----\n{body}\n-----END CMS-----\n")
        else:
            out.write_bytes(der)
        click.echo(f"{out} ({len(der)} bytes)")
