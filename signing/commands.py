"""``tenderhall ca``: the development CA from the command line."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from core import uscc
from core.errors import InvalidCreditCode
from core.settings import dev_ca_dir
from signing.ca import KEY_TYPES, PURPOSES, CAError, DevCA


def _ca_root() -> Path:
    return Path(dev_ca_dir("var/ca"))


def _ca(name: str) -> DevCA:
    return DevCA(_ca_root() / name)


@click.group()
def ca() -> None:
    """Development certificate authorities (a root and an issuing CA each)."""


@ca.command("init")
@click.argument("name")
@click.option("--title", help="Organization name printed in the CA certificates.")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="p256", show_default=True)
@click.option("--crl-base", default="http://127.0.0.1:8000/ca", show_default=True,
              help="Where the platform serves CRLs; the certificates point there.")
def ca_init(name: str, title: str | None, key_type: str, crl_base: str) -> None:
    """Create CA NAME under $DEV_CA_DIR (var/ca)."""
    try:
        _ca(name).init(title or name, crl_url=f"{crl_base.rstrip('/')}/{name}/crl.der",
                       key_type=key_type)  # type: ignore[arg-type]
    except CAError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"CA {name} created in {_ca_root() / name}")


@ca.command("issue")
@click.argument("name")
@click.option("--cn", required=True, help="The person's or system's name.")
@click.option("--purpose", type=click.Choice(PURPOSES), required=True)
@click.option("--org", help="Organization name.")
@click.option("--credit-code", help="Unified social credit code (written as organizationIdentifier).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="p256", show_default=True)
@click.option("--days", type=int, default=730, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output prefix: writes PREFIX.p12, PREFIX.crt.pem, PREFIX.key.pem.")
@click.option("--password-env", default=None,
              help="Environment variable holding the PKCS#12 password (else asked).")
def ca_issue(name: str, cn: str, purpose: str, org: str | None, credit_code: str | None,
             key_type: str, days: int, out: Path, password_env: str | None) -> None:
    """Issue a certificate and key pair from CA NAME."""

    if credit_code:
        try:
            credit_code = uscc.validate(credit_code)
        except InvalidCreditCode as exc:
            raise click.ClickException(exc.message_en) from exc
    password = (os.environ.get(password_env, "") if password_env
                else getpass.getpass("PKCS#12 password / 密码: "))
    try:
        issued = _ca(name).issue(cn=cn, purpose=purpose, org=org,  # type: ignore[arg-type]
                                 credit_code=credit_code, key_type=key_type,  # type: ignore[arg-type]
                                 days=days)
    except CAError as exc:
        raise click.ClickException(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.p12").write_bytes(issued.pkcs12(password.encode() or None, cn))
    Path(f"{out}.crt.pem").write_bytes(issued.cert_pem())
    key_path = Path(f"{out}.key.pem")
    key_path.write_bytes(issued.key_pem())
    key_path.chmod(0o600)
    click.echo(f"issued serial {issued.cert.serial_number:x} to {issued.cert.subject.rfc4514_string()}")


@ca.command("revoke")
@click.argument("name")
@click.argument("serial")
@click.option("--reason", default="key_compromise", show_default=True,
              type=click.Choice(["unspecified", "key_compromise", "affiliation_changed",
                                 "superseded", "cessation_of_operation", "certificate_hold"]))
def ca_revoke(name: str, serial: str, reason: str) -> None:
    """Revoke certificate SERIAL (hex) and publish a new CRL."""
    try:
        _ca(name).revoke(int(serial, 16), reason=reason)
    except (CAError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {serial}; CRL republished")


@ca.command("crl")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="Also write the DER CRL here.")
def ca_crl(name: str, out: Path | None) -> None:
    """Re-sign and publish CA NAME's CRL (it is valid for 7 days)."""
    try:
        der = _ca(name).write_crl()
    except CAError as exc:
        raise click.ClickException(str(exc)) from exc
    if out:
        out.write_bytes(der)
    click.echo(f"CRL of {name}: {len(der)} bytes")


