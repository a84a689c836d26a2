"""What the tool's commands share: where the platform is and who is calling, reading a
PKCS#12 file, and turning the platform's refusals into messages (Chinese and English)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from cryptography import x509

from client.login import load_pkcs12, login_with_pkcs12
from client.platform import PlatformError
from core.errors import DomainError

T = TypeVar("T")
P12 = click.Path(exists=True, dir_okay=False, path_type=Path)


def run(work: Awaitable[T]) -> T:
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except PlatformError as exc:
        raise click.ClickException(str(exc)) from None
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message} / {exc.message_en}") from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the platform / 无法连接平台: {exc}") from None


def pkcs12(path: Path, password_env: str) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    password = os.environ.get(password_env, "")
    try:
        return load_pkcs12(path.read_bytes(), password.encode() or None)
    except ValueError as exc:
        raise click.ClickException(f"cannot read {path} / 无法读取证书文件: {exc}") from exc


def load_cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def connection(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say where the platform is and who is calling."""
    f = click.option("--url", envvar="TENDERHALL_URL", required=True,
                     help="The platform, e.g. https://ggzy.example.cn (or $TENDERHALL_URL).")(f)
    f = click.option("--login", default=None, help="Sign in with this login and a password.")(f)
    f = click.option("--login-password-env", default="TENDERHALL_PASSWORD", show_default=True,
                     help="Environment variable holding the login's password.")(f)
    f = click.option("--api-key-env", default="TENDERHALL_API_KEY", show_default=True,
                     help="Environment variable holding an API key (used when set).")(f)
    return click.option("--login-p12", type=P12, default=None,
                        help="Sign in with this certificate (bound to your account).")(f)


async def client_for(opts: dict[str, Any]) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=opts["url"], timeout=httpx.Timeout(60, connect=10))
    key = os.environ.get(opts["api_key_env"] or "", "")
    if key:
        http.headers["authorization"] = f"Bearer {key}"
    elif opts.get("login_p12"):
        password = os.environ.get("P12_PASSWORD", "")
        await login_with_pkcs12(http, opts["login_p12"].read_bytes(), password.encode() or None)
    elif opts.get("login"):
        r = await http.post("/api/auth/login", json={
            "login": opts["login"], "password": os.environ.get(opts["login_password_env"], "")})
        if r.status_code != 200:
            await http.aclose()
            raise click.ClickException(f"sign-in refused / 登录失败: {r.text[:200]}")
    else:
        await http.aclose()
        raise click.ClickException("say who you are: --login, --login-p12 or an API key in "
                                   "$TENDERHALL_API_KEY / 请指定登录方式")
    return http


def conn_opts(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in ("url", "login", "login_password_env", "api_key_env",
                                       "login_p12")}
