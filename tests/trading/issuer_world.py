"""An insurer set up as a trading centre sets one up, for the bid-security tests: registered
and enabled by the administrator, with one product, its person (role insurer) holding a
bound signing certificate from CA 1 (trusted by the caller)."""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, clock
from signing import login as login_service
from signing.ca import Issued
from tests.conftest import PKI, PLATFORM_CODE, Client, World, login
from trading.bonds import envelope

SYSTEM = audit.Actor(None, "system", None, "test")


class Insurer:
    def __init__(self, org: UUID, code: str, login_name: str, signer: Issued) -> None:
        self.org, self.code, self.login, self.signer = org, code, login_name, signer

    def envelope(self, *, type: str = "issuer.hello", body: dict[str, Any] | None = None,
                 id: UUID | None = None, sent_at_shift: timedelta = timedelta(0),
                 receiver: str = PLATFORM_CODE, signer: Issued | None = None) -> dict[str, Any]:
        signer = signer or self.signer
        msg = envelope.message(type=type, sender=self.code, receiver=receiver, body=body or {},
                               sent_at=datetime.now(clock.SHANGHAI) + sent_at_shift,
                               id=id or uuid.uuid4())
        return envelope.seal(msg, cert=signer.cert, key=signer.key, chain=signer.chain)


async def make_insurer(client: Client, conn: asyncpg.Connection, world: World,
                       pki: PKI) -> Insurer:
    """Registered by an administrator (signed in here first); the client ends signed in as
    the insurer's person."""
    await login(client, await world.user("admin"))
    org = await world.org("insurer", "测试保险股份有限公司")
    code = await conn.fetchval("SELECT credit_code FROM organizations WHERE id = $1", org)
    person = await world.user("insurer", org)
    user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", person)
    signer = pki.ca1.issue(cn="保险接口签名", org="测试保险股份有限公司", credit_code=code,
                           purpose="signing")
    await login_service.bind_certificate(conn, SYSTEM, user_id=user_id, purpose="signing",
                                         certificate=signer.cert_pem())
    r = await client.post("/api/issuers/", json={"organization_id": str(org),
                                                 "gateway_url": "http://127.0.0.1:9/gateway"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/issuers/{org}/products", json={
        "form": "guarantee_insurance", "name": "投标保证保险", "premium_rate": "0.0015",
        "minimum_premium": "300.00", "maximum_amount": "800000.00"})
    assert r.status_code == 201, r.text
    await login(client, person)
    return Insurer(org, code, person, signer)


def openssl_verifies(pki: PKI, signature: bytes, content: bytes, name: str = "msg") -> None:
    """A detached CMS signature over ``content`` checks with plain openssl against CA 1."""
    out = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(pki.write(f"{name}.p7s", signature)),
         "-content", str(pki.write(f"{name}.json", content)),
         "-CAfile", str(pki.root_file(pki.ca1)), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
