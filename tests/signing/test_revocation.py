"""Revocation under the administrator's hand: a CA disabled, enabled or removed counts at
once; CRLs refreshed on demand; a CRL past its nextUpdate fetched again before it is used."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms
from signing.ca import DevCA, Issued
from tests.conftest import Client, World, login
from tests.signing.conftest import PKI
from tests.signing.test_cert_login import bidder_with_certificate, bind, bind_response


class CRLServer:
    """A CA's CRL distribution point of the test's own: serves the CA's current CRL over
    real HTTP, counts requests, and can be stopped (the CA's server is down)."""

    def __init__(self, ca: DevCA) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = ca.crl_der()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/crl.der"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)


@pytest.fixture
def crl_server(pki: PKI) -> Iterator[CRLServer]:
    server = CRLServer(pki.ca1)
    yield server
    server.stop()


async def trust_with_crl_server(client: Client, ca: DevCA, server: CRLServer) -> UUID:
    """CA root and issuing CA through the API, the issuing CA's CRL from ``server``;
    returns the issuing CA's id. The caller is signed in as an administrator."""
    for name, cert, crl in (("root", ca.root, None), ("issuing", ca.issuing, server.url)):
        r = await client.post("/api/trust/cas/", json={
            "name": f"{ca.dir.name} {name}", "certificate_pem": cert.public_bytes(
                Encoding.PEM).decode(), "crl_url": crl})
        assert r.status_code == 201, r.text
    return UUID(r.json()["id"])


async def cert_login(client: Client, issued: Issued) -> httpx.Response:
    client.cookies.clear()
    nonce_b64 = (await client.post("/api/auth/cert/challenge")).json()["nonce"]
    sig = cms.sign(base64.b64decode(nonce_b64), cert=issued.cert, key=issued.key)
    return await client.post("/api/auth/cert/login", json={
        "nonce": nonce_b64, "signature": base64.b64encode(sig).decode()})


async def test_revoked_certificate_is_refused_at_once_after_a_forced_refresh(
        client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        crl_server: CRLServer) -> None:
    admin = await world.user("admin")
    await login(client, admin)
    issuing = await trust_with_crl_server(client, pki.ca1, crl_server)
    r = await client.post("/api/trust/cas/refresh-crls")
    assert r.status_code == 200 and r.json() == {"fetched": 1, "failed": 0}, r.text
    name, issued = await bidder_with_certificate(client, conn, world, pki.ca1)
    assert await bind(client, conn, name, issued) == 201
    assert (await cert_login(client, issued)).status_code == 200

    pki.ca1.revoke(issued.cert.serial_number)
    # what the platform holds does not know yet: until the next refresh it is accepted
    assert (await cert_login(client, issued)).status_code == 200
    await login(client, admin)
    r = await client.post(f"/api/trust/cas/{issuing}/refresh-crl")
    assert r.status_code == 200 and r.json() == {"fetched": 1, "failed": 0}, r.text
    refused = await cert_login(client, issued)
    assert refused.status_code == 422 and refused.json()["code"] == "certificate_revoked"
    await login(client, admin)
    r = await bind_response(client, conn, name, issued, "signing")
    assert r.status_code == 422 and r.json()["code"] == "certificate_revoked"
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = "
                               "'trust.refresh_crls' AND object_id = $1", str(issuing)) == 1
    # only administrators refresh; an unknown CA is not found
    assert (await client.post(f"/api/trust/cas/{UUID(int=1)}/refresh-crl")).status_code == 404
    await login(client, await world.user("supervisor"))
    assert (await client.post("/api/trust/cas/refresh-crls")).status_code == 403


async def test_disabled_or_removed_ca_stops_validating_at_once(
        client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        crl_server: CRLServer) -> None:
    admin = await world.user("admin")
    await login(client, admin)
    issuing = await trust_with_crl_server(client, pki.ca1, crl_server)
    assert (await client.post("/api/trust/cas/refresh-crls")).status_code == 200
    name, issued = await bidder_with_certificate(client, conn, world, pki.ca1)
    assert await bind(client, conn, name, issued) == 201
    assert (await cert_login(client, issued)).status_code == 200  # validated, and remembered

    await login(client, admin)
    r = await client.post(f"/api/trust/cas/{issuing}/disable")
    assert r.status_code == 200 and r.json()["enabled"] is False
    refused = await cert_login(client, issued)
    assert refused.status_code == 422 and refused.json()["code"] == "certificate_unknown_issuer"

    await login(client, admin)
    assert (await client.post(f"/api/trust/cas/{issuing}/enable")).json()["enabled"] is True
    assert (await cert_login(client, issued)).status_code == 200

    await login(client, admin)
    assert (await client.delete(f"/api/trust/cas/{issuing}")).status_code == 204
    assert all(ca["id"] != str(issuing) for ca in (await client.get("/api/trust/cas/")).json())
    refused = await cert_login(client, issued)
    assert refused.status_code == 422 and refused.json()["code"] == "certificate_unknown_issuer"

    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_log WHERE object_id = $1 ORDER BY id", str(issuing))]
    assert actions[-3:] == ["trust.disable", "trust.enable", "trust.remove_ca"]
    await login(client, admin)
    assert (await client.delete(f"/api/trust/cas/{issuing}")).status_code == 404
    await login(client, await world.user("bidder", await world.org()))
    assert (await client.post(f"/api/trust/cas/{issuing}/disable")).status_code == 403


async def test_a_crl_past_its_next_update_is_fetched_again_before_it_is_used(
        client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        crl_server: CRLServer) -> None:
    admin = await world.user("admin")
    await login(client, admin)
    issuing = await trust_with_crl_server(client, pki.ca1, crl_server)
    assert (await client.post("/api/trust/cas/refresh-crls")).status_code == 200
    name, revoked = await bidder_with_certificate(client, conn, world, pki.ca1)
    good_user, good = await bidder_with_certificate(client, conn, world, pki.ca1)
    assert await bind(client, conn, name, revoked) == 201
    assert await bind(client, conn, good_user, good) == 201
    pki.ca1.revoke(revoked.cert.serial_number)

    # the stored CRL's nextUpdate has passed: it is fetched again, and knows the revocation
    await conn.execute("UPDATE trust_cas SET crl_next_update = now() - interval '1 minute' "
                       "WHERE id = $1", issuing)
    before = crl_server.hits
    refused = await cert_login(client, revoked)
    assert refused.status_code == 422 and refused.json()["code"] == "certificate_revoked"
    assert crl_server.hits == before + 1
    assert (await cert_login(client, good)).status_code == 200
    assert await conn.fetchval("SELECT crl_next_update > now() FROM trust_cas WHERE id = $1",
                               issuing)

    # stale again and the distribution point is down: hard-fail refuses, with its own code
    await conn.execute("UPDATE trust_cas SET crl_next_update = now() - interval '1 minute' "
                       "WHERE id = $1", issuing)
    crl_server.stop()
    unavailable = await cert_login(client, good)
    assert unavailable.status_code == 503, unavailable.text
    assert unavailable.json()["code"] == "certificate_revocation_unavailable"
    # a CA trusted in soft-fail mode is judged on what the platform has
    await conn.execute("UPDATE trust_cas SET revocation_mode = 'soft-fail' WHERE id = $1",
                       issuing)
    assert (await cert_login(client, good)).status_code == 200
