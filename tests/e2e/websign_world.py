"""A published tender for the browser signing tests: every person signs in with a password and
holds PKCS#12 files (login, signing, encryption) of the key type the test asks for.

Committed, like bid_world's: the app under test runs in its own process.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from cryptography import x509

from core.identity import service as identity
from core.settings import Settings
from signing import login as login_service
from signing.ca import DevCA, Issued, KeyType
from tests.conftest import PASSWORD, committed, credit_code, past, tender_body
from tests.e2e import bid_world
from tests.trading.bidding import Bidder, bid_zip, seal, submit

P12_PASSWORD = "网签-p12-密码"
SYSTEM = bid_world.SYSTEM


@dataclass
class Person:
    login: str
    user_id: UUID
    name: str
    org_name: str
    code: str
    key_type: KeyType
    org_id: UUID | None
    certs: dict[str, Issued] = field(default_factory=dict)  # purpose -> issued

    def p12(self, purpose: str) -> bytes:
        return self.certs[purpose].pkcs12(P12_PASSWORD.encode(), purpose)

    def bidder(self) -> Bidder:
        return Bidder(self.login, self.org_id, self.org_name, self.code, self.certs["signing"],
                      self.certs["encryption"])


@dataclass
class SignWorld:
    ca: DevCA
    ca_ids: list[UUID]
    tender: dict[str, Any]
    opening: x509.Certificate
    staff: Person
    officers: list[Person]
    bidders: list[Person] = field(default_factory=list)
    bids: list[dict[str, Any]] = field(default_factory=list)
    sealed: list[bytes] = field(default_factory=list)

    @property
    def lot_id(self) -> str:
        return str(self.tender["lots"][0]["id"])


async def person(conn: asyncpg.Connection, ca: DevCA, *, role: str, org_id: UUID | None,
                 org_name: str, code: str, name: str, key_type: KeyType,
                 purposes: tuple[str, ...]) -> Person:
    login = f"websign-{secrets.token_hex(4)}"
    async with conn.transaction():
        user = await identity.create_user(conn, SYSTEM, login=login, name=name, roles=[role],
                                          password=PASSWORD, organization_id=org_id)
        p = Person(login, user, name, org_name, code, key_type, org_id)
        for purpose in purposes:
            issued = ca.issue(cn=f"{org_name}{name}", org=org_name, credit_code=code,
                              purpose=purpose, key_type=key_type)  # type: ignore[arg-type]
            p.certs[purpose] = issued
            if purpose in ("login", "encryption"):
                await login_service.bind_certificate(conn, SYSTEM, user_id=user,
                                                     certificate=issued.cert_pem(),
                                                     purpose=purpose)
    return p


async def bidder(conn: asyncpg.Connection, world: SignWorld, key_type: KeyType) -> Person:
    code = credit_code()
    name = f"网签投标单位{secrets.token_hex(3)}"
    async with conn.transaction():
        org = await identity.create_organization(conn, SYSTEM, credit_code=code, name=name,
                                                 kind="bidder")
    p = await person(conn, world.ca, role="bidder", org_id=org["id"], org_name=name, code=code,
                     name="经办人", key_type=key_type,
                     purposes=("login", "signing", "encryption"))
    world.bidders.append(p)
    return p


async def trusted_ca(settings: Settings, tmp: Path) -> tuple[DevCA, list[UUID]]:
    suffix = secrets.token_hex(3)
    ca = DevCA(tmp / f"ca-{suffix}")
    ca.init(f"网签测试CA{suffix}", crl_url="http://127.0.0.1:9/crl.der", key_type="p256",
            now=past(30))
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            return ca, await bid_world._trust(conn, ca, f"websign {suffix}")
    finally:
        await conn.close()


async def agency(settings: Settings, ca: DevCA, *, staff_key: KeyType = "p256",
                 officer_keys: tuple[KeyType, ...] = ("rsa2048", "p256", "p256"),
                 ) -> tuple[Person, list[Person]]:
    """An agency's staff member (login and signing certificates) and its opening officers."""
    conn = await committed(settings.database.url)
    try:
        code = credit_code("tenderer")
        async with conn.transaction():
            org = await identity.create_organization(
                conn, SYSTEM, credit_code=code, name=f"网签招标人{secrets.token_hex(3)}",
                kind="tenderer")
        staff = await person(conn, ca, role="tenderer", org_id=org["id"], org_name=org["name"],
                             code=code, name="王经办", key_type=staff_key,
                             purposes=("login", "signing"))
        officers = [await person(conn, ca, role="tenderer", org_id=org["id"],
                                 org_name=org["name"], code=code, name=f"开标人{i + 1}",
                                 key_type=kt, purposes=("encryption",))
                    for i, kt in enumerate(officer_keys)]
        return staff, officers
    finally:
        await conn.close()


async def draft(http: httpx.AsyncClient, staff: Person, officers: list[Person]) -> dict[str, Any]:
    """A draft tender of ``staff``'s agency, with its officers named and no documents yet."""
    r = await http.post("/api/auth/login", json={"login": staff.login, "password": PASSWORD})
    r.raise_for_status()
    start = datetime.now(UTC) - timedelta(hours=1)
    r = await http.post("/api/tenders/", json=tender_body(
        f"WEBSIGN-{secrets.token_hex(3)}", "网签测试项目",
        officer_ids=[str(o.user_id) for o in officers], documents_from=start.isoformat()))
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


async def build(settings: Settings, url: str, tmp: Path) -> SignWorld:
    """A trusted CA, an agency with a signer and officers, a tender published by the tool."""
    ca, ca_ids = await trusted_ca(settings, tmp)
    staff, officers = await agency(settings, ca)
    signer = staff.certs["signing"]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        tender = await draft(http, staff, officers)
        tender, opening = await bid_world.publish(http, tender, signer, "websign")
    return SignWorld(ca, ca_ids, tender, opening, staff, officers)


async def bid(url: str, world: SignWorld, p: Person, total: str) -> dict[str, Any]:
    """Obtain the documents and send one sealed bid, as the tool would."""
    b = p.bidder()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        r = await http.post("/api/auth/login", json={"login": p.login, "password": PASSWORD})
        r.raise_for_status()
        tender_id = world.tender["id"]
        doc = (await http.get(f"/api/tenders/{tender_id}/documents")).json()[0]
        (await http.post(f"/api/tenders/{tender_id}/documents/obtain")).raise_for_status()
        (await http.get(f"/api/tenders/{tender_id}/documents/{doc['id']}")).raise_for_status()
        p7m = seal(bid_zip(world.tender, b, total=total), b, [b.enc.cert, world.opening])
        r = await submit(http, world.tender, b, p7m)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
    world.bids.append(out)
    world.sealed.append(p7m)
    return out


async def retire(settings: Settings, ca_ids: list[UUID]) -> None:
    conn = await committed(settings.database.url)
    try:
        await conn.execute("UPDATE trust_cas SET enabled = false WHERE id = ANY($1)", ca_ids)
    finally:
        await conn.close()
