"""Bidders for the sealed-bid tests: certificates, holders, sealing and the upload protocol."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import zipfile
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from cryptography import x509

from bidformat import price, sealing
from signing import cms
from signing.ca import DevCA, Issued
from tests.conftest import World, login

MIB = 1024 * 1024


@dataclass
class Bidder:
    login: str
    org_id: Any
    name: str
    credit_code: str
    signer: Issued
    enc: Issued

    def sign(self, data: bytes) -> bytes:
        return cms.sign(data, cert=self.signer.cert, key=self.signer.key,
                        chain=self.signer.chain)


async def make_bidder(conn: asyncpg.Connection, world: World, ca: DevCA,
                      name: str | None = None) -> Bidder:
    name = name or f"投标测试单位{secrets.token_hex(2)}"
    org = await world.org("bidder", name)
    code = await conn.fetchval("SELECT credit_code FROM organizations WHERE id = $1", org)
    user = await world.user("bidder", org)
    signer = ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="signing")
    enc = ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="encryption")
    return Bidder(user, org, name, code, signer, enc)


async def obtain(client: httpx.AsyncClient, bidder: Bidder, tender: dict[str, Any]) -> None:
    """Obtain the documents (the organization becomes a holder), then download the first."""
    await login(client, bidder.login)
    r = await client.post(f"/api/tenders/{tender['id']}/documents/obtain")
    assert r.status_code == 200, r.text
    docs = (await client.get(f"/api/tenders/{tender['id']}/documents")).json()
    r = await client.get(f"/api/tenders/{tender['id']}/documents/{docs[0]['id']}")
    assert r.status_code == 200, r.text


async def opening_cert(client: httpx.AsyncClient, tender: dict[str, Any],
                       lot: int = 1) -> x509.Certificate:
    lot_id = next(x["id"] for x in tender["lots"] if x["number"] == lot)
    r = await client.get(f"/api/tenders/{tender['id']}/lots/{lot_id}/opening-certificate")
    assert r.status_code == 200, r.text
    return x509.load_pem_x509_certificate(r.content)


def bid_zip(tender: dict[str, Any], bidder: Bidder, *, lot: int = 1, total: str = "980000.00",
            padding: int = 0) -> bytes:
    sheet = price.example(tender["code"], lot, bidder.name, bidder.credit_code, total)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("price.json", price.dump(sheet))
        z.writestr("商务标.txt", f"{bidder.name} 商务标正文".encode())
        if padding:
            z.writestr("技术标.bin", secrets.token_bytes(padding), compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def seal(content: bytes, bidder: Bidder, recipients: list[x509.Certificate]) -> bytes:
    out = io.BytesIO()
    sealing.seal_file(io.BytesIO(content), out, cert=bidder.signer.cert, key=bidder.signer.key,
                      chain=bidder.signer.chain, recipients=recipients)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def upload(client: httpx.AsyncClient, tender: dict[str, Any], p7m: bytes, *, lot: int = 1,
                 key: str | None = None, part_size: int = 5 * MIB,
                 device: dict[str, Any] | None = None,
                 creator: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start and send every part; the upload's progress (asserting each step worked)."""
    r = await client.post(f"/api/tenders/{tender['id']}/lots/{lot}/bid-uploads", json={
        "size": len(p7m), "idempotency_key": key or secrets.token_urlsafe(12),
        "sha256": hashlib.sha256(p7m).hexdigest(), "part_size": part_size,
        "device": device, "creator": creator})
    assert r.status_code in (200, 201), r.text
    up: dict[str, Any] = r.json()
    for n in range(up["parts_done"] + 1, up["parts"] + 1):
        body = p7m[(n - 1) * part_size:n * part_size]
        r = await client.put(f"/api/bid-uploads/{up['id']}/parts/{n}", content=body)
        assert r.status_code == 200, r.text
        up = r.json()
    return up


async def submit(client: httpx.AsyncClient, tender: dict[str, Any], bidder: Bidder, p7m: bytes,
                 *, lot: int = 1, signature: bytes | None = None,
                 key: str | None = None) -> httpx.Response:
    up = await upload(client, tender, p7m, lot=lot, key=key)
    sig = signature if signature is not None else bidder.sign(p7m)
    return await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                             json={"signature": b64(sig)})
