"""``tenderhall agent``: start the local signing agent for a token and the platform's origins."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client.agent.errors import AgentError
from client.agent.origins import DEFAULT_PORT, normalize_origin


def _origin(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> frozenset[str]:
    try:
        return frozenset(normalize_origin(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _mechanism(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not a mechanism number: {value}") from None


@click.command("agent")
@click.option("--module", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The token's PKCS#11 driver, e.g. /usr/lib/softhsm/libsofthsm2.so.")
@click.option("--token", "label", required=True, help="The token's label.")
@click.option("--origin", "origins", required=True, multiple=True, callback=_origin,
              help="A platform origin whose pages may use the agent, e.g. https://ggzy.example.cn "
                   "(repeat for several).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port, printed on start).")
@click.option("--confirm-timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              help="Seconds to wait for the person to confirm a use of a key.")
@click.option("--sm2-sign-mechanism", callback=_mechanism, default=None,
              help="The driver's vendor mechanism for SM2 signing with SM3 (e.g. 0x80000102).")
@click.option("--sm2-decrypt-mechanism", callback=_mechanism, default=None,
              help="The driver's vendor mechanism for SM2 decryption.")
def agent_command(module: str, label: str, origins: frozenset[str], port: int,
                  confirm_timeout: float, sm2_sign_mechanism: int | None,
                  sm2_decrypt_mechanism: int | None) -> None:
    """Let the platform's pages use a USB key (CA锁): 本地签名助手.

    The PIN is asked for here, never in a page. Each pairing of a page and each use of a
    key is confirmed at this terminal. The protocol is in docs/agent.md.
    """
    # The driver binding is loaded by this command only (an optional extra: ``.[agent]``).
    from client.agent.confirm import Terminal, read_pin  # noqa: PLC0415
    from client.agent.server import PROTOCOL, Agent, make_server  # noqa: PLC0415
    from client.agent.token import PinRefused, Token, VendorSM2  # noqa: PLC0415

    try:
        token = Token(module, label, vendor_sm2=VendorSM2(sm2_sign_mechanism,
                                                          sm2_decrypt_mechanism))
        token.login(read_pin())
        entries = token.entries()
    except AgentError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_en}: {exc.detail}") from None
    except PinRefused as exc:
        raise click.ClickException(str(exc)) from None
    terminal = Terminal()
    agent = Agent(token, terminal, origins, port=port, confirm_timeout=confirm_timeout)
    try:
        server = make_server(agent)
    except OSError as exc:
        token.close()
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port} / 端口被占用: {exc}") from None
    terminal.say(f"{PROTOCOL} listening on http://127.0.0.1:{agent.port}")
    terminal.say("为这些网站服务 / serving: " + ", ".join(sorted(origins)))
    for e in entries:
        terminal.say(f"  证书 / certificate: {e.describe()}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        token.close()


@click.group("token")
def token_group() -> None:
    """Put a key pair and its certificates on a PKCS#11 token (SoftHSM2 for development).

    The PIN is read as the agent reads it: typed, or the first line of standard input.
    """


def _token_options(f: Any) -> Any:
    f = click.option("--module", required=True, type=click.Path(exists=True, dir_okay=False),
                     help="The token's PKCS#11 driver.")(f)
    return click.option("--token", "label", required=True, help="The token's label.")(f)


def _key_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("CKA_ID in hex, e.g. 01") from None


@token_group.command("keygen")
@_token_options
@click.option("--id", "key_id", required=True, callback=_key_id, help="CKA_ID in hex, e.g. 01.")
@click.option("--type", "key_type", type=click.Choice(["rsa2048", "p256", "sm2"]),
              default="p256", show_default=True)
@click.option("--subject", required=True, help="The request's subject, e.g. 'CN=张三,O=某公司'.")
@click.option("--csr", "csr_out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the certificate request (PEM) for the CA; for an SM2 key, "
                   "which only a driver with SM2 mechanisms can sign with, its public key.")
def keygen(module: str, label: str, key_id: bytes, key_type: str, subject: str,
           csr_out: Path) -> None:
    """Generate a key pair inside the token and write a request the token signed."""
    from client.agent.confirm import read_pin  # noqa: PLC0415
    from client.agent.provision import (  # noqa: PLC0415
        generate,
        held,
        public_key_info,
        request,
        session,
    )

    with session(module, label, read_pin()) as s:
        private, public = generate(s, key_type, key_id, f"key-{key_id.hex()}")  # type: ignore[arg-type]
        if key_type == "sm2":
            der = public_key_info(public)
            body = base64.encodebytes(der).decode().replace("\n", "")
            lines = [body[i:i + 64] for i in range(0, len(body), 64)]
            csr_out.write_text("\n".join(["-----BEGIN PUBLIC KEY-----", *lines,
                                          "-----END PUBLIC KEY-----", ""]))
        else:
            csr = request(held(private, public), x509.Name.from_rfc4514_string(subject))
            csr_out.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    click.echo(f"key {key_id.hex()} ({key_type}) made in the token: {csr_out}")


@token_group.command("store")
@_token_options
@click.option("--id", "key_id", default=None, callback=_key_id,
              help="The key's CKA_ID (hex); leave out for a CA certificate.")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def store(module: str, label: str, key_id: bytes | None, certificate: Path) -> None:
    """Write a certificate (PEM or DER) to the token, beside its key or as a CA."""
    from client.agent.confirm import read_pin  # noqa: PLC0415
    from client.agent.provision import session, store_certificate  # noqa: PLC0415

    data = certificate.read_bytes()
    cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data \
        else x509.load_der_x509_certificate(data)
    with session(module, label, read_pin()) as s:
        store_certificate(s, cert, key_id=key_id,
                          label=cert.subject.rfc4514_string()[:64])
    click.echo(f"stored {cert.subject.rfc4514_string()}")
