"""A tenderer that signs: CA 1 trusted, a signing certificate for the organization, and three
opening officers with encryption certificates bound, inside the test's transaction."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography import x509

from signing import cms
from signing import login as login_service
from signing.ca import Issued
from tests.conftest import PKI, SYSTEM, Client, World, login, tender_body
from tests.signing.test_cert_login import trust_ca1
from tests.trading.bidding import Bidder, bid_zip, make_bidder, obtain, opening_cert, seal


@dataclass
class Tenderer:
    client: Client
    conn: asyncpg.Connection
    org_id: UUID
    login: str
    signer: Issued
    officers: list[tuple[UUID, Issued]]

    def sign(self, data: bytes) -> str:
        return base64.b64encode(cms.sign(data, cert=self.signer.cert, key=self.signer.key,
                                         chain=self.signer.chain)).decode()

    async def act(self) -> None:
        await login(self.client, self.login)

    async def draft(self, code: str, **overrides: Any) -> dict[str, Any]:
        overrides.setdefault("officer_ids", [str(u) for u, _ in self.officers])
        r = await self.client.post("/api/tenders/", json=tender_body(code, **overrides))
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def upload(self, tender_id: str, name: str, data: bytes, *,
                     signature: str | None = None, notice_id: str | None = None) -> Any:
        sig = base64.b64decode(signature) if signature is not None else base64.b64decode(
            self.sign(data))
        path = (f"/api/tenders/{tender_id}/clarifications/{notice_id}/documents" if notice_id
                else f"/api/tenders/{tender_id}/documents")
        return await self.client.post(path, files={
            "file": (name, data, "application/pdf"),
            "signature": (name + ".p7s", sig, "application/pkcs7-signature")})

    async def publish(self, tender_id: str) -> Any:
        content = (await self.client.get(f"/api/tenders/{tender_id}/announcement")).content
        return await self.client.post(f"/api/tenders/{tender_id}/publish",
                                      json={"signature": self.sign(content)})

    async def published(self, code: str, **overrides: Any) -> dict[str, Any]:
        """A draft with one signed document, published."""
        tender = await self.draft(code, **overrides)
        r = await self.upload(tender["id"], "招标文件.pdf", f"{code} 招标文件正文".encode())
        assert r.status_code == 201, r.text
        r = await self.publish(tender["id"])
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def answer(self, tender_id: str, objection_id: str, text: str) -> Any:
        """Answer an objection as the staff do: fetch the bytes for the text, sign, send."""
        base = f"/api/tenders/{tender_id}/objections/{objection_id}/answer"
        r = await self.client.post(f"{base}/content", json={"answer": text})
        assert r.status_code == 200, r.text
        return await self.client.post(base, json={"answer": text, "signature": self.sign(r.content)})

    async def clarify(self, tender_id: str, title: str = "关于技术参数的澄清",
                      body: str = "第三章技术参数第5条更正如下。", **extra: Any) -> Any:
        r = await self.client.post(f"/api/tenders/{tender_id}/clarifications",
                                   json={"title": title, "body": body, **extra})
        assert r.status_code == 201, r.text
        notice = r.json()
        content = (await self.client.get(
            f"/api/tenders/{tender_id}/clarifications/{notice['id']}/content")).content
        return await self.client.post(
            f"/api/tenders/{tender_id}/clarifications/{notice['id']}/publish",
            json={"signature": self.sign(content)})


@pytest.fixture
async def tenderer(client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
                   monkeypatch: pytest.MonkeyPatch) -> Tenderer:
    await login(client, await world.user("admin"))
    await trust_ca1(client, conn, pki, monkeypatch)
    org = await world.org("tenderer", "测试招标人")
    code = await conn.fetchval("SELECT credit_code FROM organizations WHERE id = $1", org)
    name = await world.user("tenderer", org)
    signer = pki.ca1.issue(cn="招标人经办人", org="测试招标人", credit_code=code,
                           purpose="signing")
    officers = []
    for i in range(3):
        officer = await world.user("tenderer", org, login=f"officer{i}{org.hex[:6]}")
        user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", officer)
        issued = pki.ca1.issue(cn=f"开标人{i + 1}", org="测试招标人", credit_code=code,
                               purpose="encryption")
        await login_service.bind_certificate(conn, SYSTEM, user_id=user_id,
                                             certificate=issued.cert_pem(), purpose="encryption")
        officers.append((user_id, issued))
    await login(client, name)
    return Tenderer(client, conn, org, name, signer, officers)


@dataclass
class Lot:
    """A published tender's first lot, a bidder holding the documents, the opening certificate."""

    tender: dict[str, Any]
    bidder: Bidder
    opening: x509.Certificate

    def sealed(self, padding: int = 0, bidder: Bidder | None = None, **kw: Any) -> bytes:
        who = bidder or self.bidder
        return seal(bid_zip(self.tender, who, padding=padding, **kw), who,
                    [who.enc.cert, self.opening])


@pytest.fixture
async def lot(tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
              pki: PKI) -> Lot:
    start = datetime.now(UTC) - timedelta(hours=1)
    tender = await tenderer.published("BID-T-0001", documents_from=start.isoformat())
    bidder = await make_bidder(conn, world, pki.ca1)
    await obtain(client, bidder, tender)
    return Lot(tender, bidder, await opening_cert(client, tender))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
