"""The timestamp authority behind its Protocol: the HTTP client against a real platform
server's authority, the choice made by settings, and the chains the platform serves."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from app import create_app
from core.settings import Settings, SettingsError
from signing import tsa
from tests.conftest import Client
from tests.e2e import servers
from tests.signing.conftest import PKI
from tests.signing.test_tsa import openssl
from trading.bids import receipts

DATA = "投标文件回执 receipt".encode() * 50


@pytest.fixture(scope="module")
def platform(settings: Settings) -> Iterator[servers.Server]:
    """A platform process with its built-in authority, as another deployment would reach it."""
    server = servers.start(settings)
    yield server
    server.stop()


def root_bundle(pki: PKI) -> str:
    return str(pki.write("ca1-root.pem", pki.ca1.root.public_bytes(Encoding.PEM)))


async def test_http_authority_tokens_verify_with_openssl(platform: servers.Server, pki: PKI,
                                                         settings: Settings) -> None:
    authority = tsa.from_settings(url=f"{platform.url}/tsa")
    assert isinstance(authority, tsa.HttpAuthority)
    digest = hashlib.sha256(DATA).digest()
    token = await tsa.stamp(authority, digest)
    stamped = await tsa.verify_token(token, trust=pki.trust(), content=DATA)
    local = tsa.from_settings(cert_file=settings.tsa_cert_file, key_file=settings.tsa_key_file)
    assert isinstance(local, tsa.LocalAuthority) and stamped.authority == local.cert

    async with httpx.AsyncClient() as http:
        chain = (await http.get(f"{platform.url}/api/signing/chains/tsa")).content
    out = openssl("ts", "-verify", "-data", str(pki.write("tsa-http.bin", DATA)),
                  "-in", str(pki.write("tsa-http.tst", token)), "-token_in",
                  "-CAfile", root_bundle(pki), "-untrusted", str(pki.write("tsa-chain.pem", chain)))
    assert out.returncode == 0 and b"Verification: OK" in out.stdout, out.stderr


async def test_receipts_are_stamped_by_a_remote_authority(platform: servers.Server, pki: PKI,
                                                          settings: Settings) -> None:
    """TSA_URL set: the receipt's token comes from the remote authority, over HTTP."""
    remote = replace(settings, tsa_url=f"{platform.url}/tsa", tsa_key_file="")
    authority = tsa.from_settings(url=remote.tsa_url, cert_file=remote.tsa_cert_file,
                                  key_file=remote.tsa_key_file)
    assert isinstance(authority, tsa.HttpAuthority)
    receipt = await receipts.issue(remote, authority, {"type": "test_receipt", "n": 1})
    out = openssl("ts", "-verify", "-data", str(pki.write("r.p7s", receipt.p7s)),
                  "-in", str(pki.write("r.tst", receipt.tst)), "-token_in",
                  "-CAfile", root_bundle(pki),
                  "-untrusted", str(pki.write("r-chain.pem", b"".join(
                      c.public_bytes(Encoding.PEM) for c in authority.chain()))))
    assert out.returncode == 0, out.stderr


async def test_an_unreachable_or_wrong_authority_is_unavailable(platform: servers.Server) -> None:
    digest = hashlib.sha256(DATA).digest()
    for url in (f"{platform.url}/no-such-authority", "http://127.0.0.1:9/tsa",
                f"{platform.url}/healthz"):
        with pytest.raises(tsa.TimestampUnavailable):
            await tsa.stamp(tsa.HttpAuthority(url, timeout=5), digest)


def test_tsa_url_is_read_and_checked(settings: Settings) -> None:
    env = {"DATABASE_URL": "postgresql:///x", "REDIS_URL": "redis://127.0.0.1/0",
           "S3_ENDPOINT": "127.0.0.1:1", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b",
           "SESSION_SECRET": "s" * 32, "SHARE_HOLD_KEY": "h" * 32}
    assert Settings.from_env({**env, "TSA_URL": "https://tsa.example/tsr"}).tsa_url == \
        "https://tsa.example/tsr"
    with pytest.raises(SettingsError, match="TSA_URL"):
        Settings.from_env({**env, "TSA_URL": "tsa.example"})
    assert Settings.from_env({**env, "DEV_CA_DIR": "/srv/ca"}).dev_ca_dir == "/srv/ca"
    assert tsa.from_settings() is None


async def test_seal_chain_served_verifies_a_receipt_with_openssl(
        client: Client, pki: PKI, settings: Settings) -> None:
    r = await client.get("/api/signing/chains/seal")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/pem-certificate-chain")
    assert r.content.startswith(b"-----BEGIN CERTIFICATE-----")
    authority = tsa.from_settings(cert_file=settings.tsa_cert_file, key_file=settings.tsa_key_file)
    receipt = await receipts.issue(settings, authority, {"type": "test_receipt", "n": 2})
    # -nointern: only the certificates served here, none carried in the signature
    out = openssl("cms", "-verify", "-binary", "-inform", "DER",
                  "-in", str(pki.write("seal.p7s", receipt.p7s)), "-nointern",
                  "-certfile", str(pki.write("seal-chain.pem", r.content)),
                  "-CAfile", root_bundle(pki), "-purpose", "any",
                  "-out", str(pki.dir / "seal.json"))
    assert out.returncode == 0, out.stderr
    assert (pki.dir / "seal.json").read_bytes() == receipt.content
    assert (await client.get("/api/signing/chains/tsa")).content.startswith(b"-----BEGIN")
    assert (await client.get("/api/signing/chains/other")).status_code == 404


def test_development_ca_routes_exist_only_with_a_development_ca(settings: Settings) -> None:
    def paths(app_settings: Settings) -> set[str]:
        return {route.path for route in create_app(app_settings).routes}

    assert "/ca/{name:str}/crl.der" in paths(settings)
    production = paths(replace(settings, dev_ca_dir=""))
    assert not any(path.startswith("/ca/") for path in production)
    assert "/api/signing/chains/{which:str}" in production
