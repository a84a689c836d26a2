"""A published tender and many bidders, committed, for tests against real server processes.

Bidders sign in with API keys (no password hashing for hundreds of them);
each has a signing and an encryption certificate from a CA of the test's own,
trusted for the duration and disabled after.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core import audit
from core.auth import create_api_key
from core.identity import service as identity
from core.settings import Settings
from core.storage import open_store
from signing import cms, trust
from signing import login as login_service
from signing.ca import DevCA
from tests.conftest import PASSWORD, committed, credit_code, past, tender_body
from tests.trading.bidding import Bidder
from trading.bids.uploads import BUCKET

SYSTEM = audit.Actor(None, "system", None, "e2e")
# One TLS context for the bidders' clients: httpx otherwise builds one for each client it makes,
# loading the CA bundle (30 ms of CPU), and the deadline race makes six hundred clients. The
# servers answer plain HTTP, so it verifies nothing either way.
TLS = httpx.create_ssl_context()


@dataclass
class LiveBidder:
    bidder: Bidder
    api_key: str

    def client(self, url: str, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {self.api_key}"},
                                 timeout=60, verify=TLS, **kw)


@dataclass
class BidWorld:
    tender: dict[str, Any]
    opening: x509.Certificate
    ca: DevCA
    staff: str
    bidders: list[LiveBidder] = field(default_factory=list)
    ca_ids: list[UUID] = field(default_factory=list)


async def _trust(conn: asyncpg.Connection, ca: DevCA, label: str) -> list[UUID]:
    ids = []
    for name, cert in ((f"{label} root", ca.root), (f"{label} issuing", ca.issuing)):
        row = await trust.add_ca(conn, SYSTEM, name=name, certificate=cert.public_bytes(Encoding.PEM))
        ids.append(row["id"])
    await conn.execute("UPDATE trust_cas SET crl_der = $2 WHERE id = $1", ids[1], ca.crl_der())
    return ids


async def add_bidders(conn: asyncpg.Connection, settings: Settings, world: BidWorld, url: str,
                      count: int, *, obtain: bool = True) -> list[LiveBidder]:
    added = []
    for _ in range(count):
        tag = secrets.token_hex(4)
        code = credit_code()
        name = f"实时投标单位{tag}"
        async with conn.transaction():
            org = await identity.create_organization(conn, SYSTEM, credit_code=code, name=name,
                                                     kind="bidder")
            login = f"live-{tag}"
            user = await identity.create_user(conn, SYSTEM, login=login, name="投标经办",
                                              roles=["bidder"], organization_id=org["id"])
            _, key = await create_api_key(conn, secret_key=settings.web.session_secret,
                                          user_id=user, name="bid tool", days=1)
        signer = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="signing")
        enc = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="encryption")
        added.append(LiveBidder(Bidder(login, org["id"], name, code, signer, enc), key))
    if obtain:
        doc = None
        for live in added:
            async with live.client(url) as http:
                if doc is None:
                    doc = (await http.get(f"/api/tenders/{world.tender['id']}/documents")).json()[0]
                r = await http.post(f"/api/tenders/{world.tender['id']}/documents/obtain")
                r.raise_for_status()
                r = await http.get(f"/api/tenders/{world.tender['id']}/documents/{doc['id']}")
                r.raise_for_status()
    world.bidders.extend(added)
    return added


async def build(settings: Settings, url: str, tmp: Path, *, bidders: int) -> BidWorld:
    """A CA, a tenderer with a signer and three officers, a published tender, ``bidders``."""
    suffix = secrets.token_hex(3)
    ca = DevCA(tmp / f"ca-{suffix}")
    ca.init(f"投标测试CA{suffix}", crl_url="http://127.0.0.1:9/crl.der", key_type="p256",
            now=past(30))
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            ca_ids = await _trust(conn, ca, f"bids {suffix}")
            code = credit_code("tenderer")
            org = await identity.create_organization(conn, SYSTEM, credit_code=code,
                                                     name=f"招标人{suffix}", kind="tenderer")
            staff = f"bidstaff-{suffix}"
            await identity.create_user(conn, SYSTEM, login=staff, name="王经办", roles=["tenderer"],
                                       password=PASSWORD, organization_id=org["id"])
            officers = []
            for i in range(3):
                user = await identity.create_user(
                    conn, SYSTEM, login=f"bidofficer{i}-{suffix}", name=f"开标人{i + 1}",
                    roles=["tenderer"], organization_id=org["id"])
                issued = ca.issue(cn=f"开标人{i + 1}", org=org["name"], credit_code=code,
                                  purpose="encryption")
                await login_service.bind_certificate(conn, SYSTEM, user_id=user,
                                                     certificate=issued.cert_pem(),
                                                     purpose="encryption")
                officers.append(str(user))
        signer = ca.issue(cn="王经办", org=org["name"], credit_code=code, purpose="signing")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            r = await http.post("/api/auth/login", json={"login": staff, "password": PASSWORD})
            r.raise_for_status()
            start = datetime.now(UTC) - timedelta(hours=1)
            r = await http.post("/api/tenders/", json=tender_body(
                f"LIVE-{suffix}", "实时投标测试项目", officer_ids=officers,
                documents_from=start.isoformat()))
            r.raise_for_status()
            tender, opening = await publish(http, r.json(), signer, "live bids")
        world = BidWorld(tender, opening, ca, staff, ca_ids=ca_ids)
        await add_bidders(conn, settings, world, url, bidders)
        return world
    finally:
        await conn.close()


async def set_deadline(settings: Settings, tender_id: str, at: datetime) -> None:
    conn = await committed(settings.database.url)
    try:
        await conn.execute("""
            UPDATE tenders SET documents_from = $2::timestamptz - interval '30 days',
                clarification_deadline = NULL, documents_until = $2, bid_deadline = $2
            WHERE id = $1""", tender_id, at)
    finally:
        await conn.close()


async def db_now(settings: Settings) -> datetime:
    conn = await committed(settings.database.url)
    try:
        now: datetime = await conn.fetchval("SELECT clock_timestamp()")
        return now
    finally:
        await conn.close()


async def stored_bid(settings: Settings, bid_id: str) -> bytes:
    """The bytes the platform stored for a bid, from the object store."""
    conn = await committed(settings.database.url)
    try:
        key = await conn.fetchval("SELECT object_key FROM bids WHERE id = $1", bid_id)
    finally:
        await conn.close()
    store = open_store(settings.storage)
    try:
        data: bytes = await store.get_bytes(BUCKET, key)
        return data
    finally:
        await store.aclose()


async def retire(settings: Settings, world: BidWorld) -> None:
    conn = await committed(settings.database.url)
    try:
        await conn.execute("UPDATE trust_cas SET enabled = false WHERE id = ANY($1)",
                           world.ca_ids)
    finally:
        await conn.close()


async def publish(http: httpx.AsyncClient, tender: dict[str, Any], signer: Any,
                  label: str) -> tuple[dict[str, Any], x509.Certificate]:
    """Upload one signed document, sign the announcement and publish, as the staff member
    signed in on ``http``; the published tender and its first lot's opening certificate."""
    doc = f"招标文件正文 ({label})".encode()
    sig = cms.sign(doc, cert=signer.cert, key=signer.key, chain=signer.chain)
    r = await http.post(f"/api/tenders/{tender['id']}/documents", files={
        "file": ("招标文件.pdf", doc, "application/pdf"),
        "signature": ("招标文件.pdf.p7s", sig, "application/pkcs7-signature")})
    r.raise_for_status()
    content = (await http.get(f"/api/tenders/{tender['id']}/announcement")).content
    signature = cms.sign(content, cert=signer.cert, key=signer.key, chain=signer.chain)
    r = await http.post(f"/api/tenders/{tender['id']}/publish",
                        json={"signature": base64.b64encode(signature).decode()})
    r.raise_for_status()
    tender = r.json()
    lot_id = tender["lots"][0]["id"]
    r = await http.get(f"/api/tenders/{tender['id']}/lots/{lot_id}/opening-certificate")
    return tender, x509.load_pem_x509_certificate(r.content)
