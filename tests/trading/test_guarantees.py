"""A bidder applies for a guarantee; the application reaches the issuer as a signed message.

The issuer's gateway is a real HTTP server in a thread that answers as an issuer does: an
``issuer.ack`` of the message, signed with the issuer's bound certificate. It is down first
(the delivery fails and is queued again with backoff, nothing lost), then up (the answer is
checked and kept); a repeated delivery carries the same idempotency key, and a delivery
already answered sends nothing. Nothing of the application is the tenderer's to see.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from core import clock
from tests.conftest import PKI, PLATFORM_CODE, Client, World, login
from tests.trading.conftest import Tenderer
from tests.trading.issuer_world import Insurer, make_insurer
from tests.trading.test_bids import move_deadline
from trading.bonds import envelope
from trading.bonds.jobs import deliver_issuer_message


class Gateway:
    """An issuer's gateway: keeps what it received, answers as ``mode`` says."""

    def __init__(self, insurer: Insurer) -> None:
        self.insurer = insurer
        self.mode = "down"
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.received.append((self.headers.get("Idempotency-Key"), body))
                if gateway.mode == "down":
                    self.send_response(503)
                    self.end_headers()
                    return
                msg = body["message"]
                answer = envelope.seal(envelope.message(
                    type="issuer.ack", sender=insurer.code, receiver=msg["sender"],
                    id=UUID(int=len(gateway.received)), in_reply_to=UUID(msg["id"]),
                    sent_at=datetime.now(clock.SHANGHAI), body={"received": msg["type"]}),
                    cert=insurer.signer.cert, key=insurer.signer.key, chain=insurer.signer.chain)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Borrowed:
    """A pool that hands out the test's own connection, so the job runs in its transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def acquire(self) -> Borrowed:
        return self

    async def __aenter__(self) -> asyncpg.Connection:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def fetchval(self, *args: Any) -> Any:
        return await self.conn.fetchval(*args)


@pytest.fixture
async def scene(tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
                pki: PKI) -> dict[str, Any]:
    tender = await tenderer.published("T-BOND-1")
    await move_deadline(conn, tender["id"], 20 * 86400)
    insurer = await make_insurer(client, conn, world, pki)
    bidder_org = await world.org("bidder", "保函测试投标单位")
    bidder = await world.user("bidder", bidder_org)
    await login(client, bidder)
    r = await client.post(f"/api/tenders/{tender['id']}/documents/obtain")
    assert r.status_code in (200, 201), r.text
    listed = [i for i in (await client.get("/api/issuers/")).json()
              if i["organization_id"] == str(insurer.org)]
    return {"tender": tender, "insurer": insurer, "bidder": bidder, "bidder_org": bidder_org,
            "product": listed[0]["products"][0]["id"]}


@pytest.fixture
def gateway(scene: dict[str, Any]) -> Iterator[Gateway]:
    g = Gateway(scene["insurer"])
    yield g
    g.close()


async def test_an_application_reaches_the_issuer_signed_and_nothing_is_lost(
        scene: dict[str, Any], gateway: Gateway, client: Client, conn: asyncpg.Connection,
        pki: PKI, world: World, tenderer: Tenderer) -> None:
    await conn.execute("UPDATE issuers SET gateway_url = $2 WHERE organization_id = $1",
                       scene["insurer"].org, gateway.url)
    tender = scene["tender"]
    r = await client.post(f"/api/tenders/{tender['id']}/lots/1/guarantees",
                          json={"product_id": scene["product"]})
    assert r.status_code == 201, r.text
    g = r.json()
    # 20,000.00 x 0.0015 = 30.00, below the product's minimum premium of 300.00
    assert (g["amount"], g["premium"], g["status"]) == ("20000.00", "300.00", "applied")
    deadline = await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1", tender["id"])
    # cover from the deadline for the bid validity (90 days by default, G10)
    assert datetime.fromisoformat(g["valid_until"]) == deadline + timedelta(days=90)
    again = await client.post(f"/api/tenders/{tender['id']}/lots/1/guarantees",
                              json={"product_id": scene["product"]})
    assert again.status_code == 409 and again.json()["code"] == "guarantee_exists"
    assert [x["id"] for x in (await client.get("/api/guarantees/mine")).json()] == [g["id"]]

    # the message stored for the issuer: G1's fields, signed by the platform, openssl agrees
    row = await conn.fetchrow("SELECT * FROM issuer_messages WHERE direction = 'out'")
    msg = json.loads(row["canonical"])
    assert (msg["type"], msg["sender"], msg["receiver"]) == (
        "guarantee.application", PLATFORM_CODE, scene["insurer"].code)
    body = msg["body"]
    assert body["order"] == g["id"] and body["amount"] == "20000.00"
    assert body["project"]["code"] == "T-BOND-1" and body["project"]["lot"] == 1
    assert body["bidder"]["name"] == "保函测试投标单位"
    assert body["beneficiary"]["credit_code"] == await conn.fetchval(
        "SELECT credit_code FROM organizations WHERE id = $1", tenderer.org_id)
    out = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(pki.write("out.p7s", row["signature"])),
         "-content", str(pki.write("out.json", row["canonical"])),
         "-CAfile", str(pki.root_file(pki.ca1)), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr.decode()

    # the gateway is down: the delivery fails, is recorded, and waits for its retry
    outbox = await conn.fetchrow("SELECT id FROM outbox WHERE job_key = $1",
                                 f"issuer-message:{msg['id']}")
    ctx = {"db_pool": Borrowed(conn)}
    with pytest.raises(RuntimeError, match="503"):
        await deliver_issuer_message(ctx, outbox["id"])
    state = await conn.fetchrow(
        "SELECT done_at, last_error, available_at > now() AS later FROM outbox WHERE id = $1",
        outbox["id"])
    assert state["done_at"] is None and "503" in state["last_error"] and state["later"]
    # back up: delivered, the issuer's signed acknowledgement checked and kept
    gateway.mode = "ok"
    await deliver_issuer_message(ctx, outbox["id"])
    answered = await conn.fetchrow("SELECT answer_canonical FROM issuer_messages WHERE id = $1",
                                   row["id"])
    assert json.loads(answered["answer_canonical"])["in_reply_to"] == msg["id"]
    # a delivery repeated after that sends nothing; every attempt had the same key
    await deliver_issuer_message(ctx, outbox["id"])
    assert [key for key, _ in gateway.received] == [msg["id"], msg["id"]]
    assert all(b["message"] == msg for _, b in gateway.received)

    # nothing of it is the tenderer's to see, nor another bidder's
    await tenderer.act()
    assert (await client.get("/api/guarantees/mine")).status_code == 403
    await login(client, await world.user("bidder", await world.org("bidder")))
    assert (await client.get("/api/guarantees/mine")).json() == []


async def test_an_answer_not_signed_by_the_issuer_is_not_taken(
        scene: dict[str, Any], gateway: Gateway, client: Client, conn: asyncpg.Connection,
        pki: PKI) -> None:
    await conn.execute("UPDATE issuers SET gateway_url = $2 WHERE organization_id = $1",
                       scene["insurer"].org, gateway.url)
    # the gateway signs with a certificate of the insurer's that is not bound on the platform
    scene["insurer"].signer = pki.ca1.issue(cn="未绑定", org="测试保险股份有限公司",
                                            credit_code=scene["insurer"].code, purpose="signing")
    gateway.mode = "ok"
    r = await client.post(f"/api/tenders/{scene['tender']['id']}/lots/1/guarantees",
                          json={"product_id": scene["product"]})
    assert r.status_code == 201, r.text
    outbox = await conn.fetchval("SELECT id FROM outbox WHERE job_key LIKE 'issuer-message:%'")
    with pytest.raises(RuntimeError, match="not bound"):
        await deliver_issuer_message({"db_pool": Borrowed(conn)}, outbox)
    assert await conn.fetchval("SELECT answer_canonical FROM issuer_messages") is None


async def test_applications_refused(scene: dict[str, Any], client: Client,
                                    conn: asyncpg.Connection, world: World) -> None:
    tender, product = scene["tender"], scene["product"]
    url = f"/api/tenders/{tender['id']}/lots/1/guarantees"
    cases: list[tuple[str, int, str]] = []
    # a bidder that has not obtained the documents
    await login(client, await world.user("bidder", await world.org("bidder")))
    r = await client.post(url, json={"product_id": product})
    cases.append(("not a holder", r.status_code, r.json()["code"]))
    await login(client, scene["bidder"])
    r = await client.post(url, json={"product_id": "00000000-0000-0000-0000-000000000000"})
    cases.append(("no such product", r.status_code, r.json()["code"]))
    await conn.execute("UPDATE lots SET security_amount = 900000 WHERE tender_id = $1",
                       tender["id"])
    r = await client.post(url, json={"product_id": product})
    cases.append(("above the product's limit", r.status_code, r.json()["code"]))
    await conn.execute("UPDATE lots SET security_amount = 0 WHERE tender_id = $1", tender["id"])
    r = await client.post(url, json={"product_id": product})
    cases.append(("no security asked", r.status_code, r.json()["code"]))
    await conn.execute("UPDATE lots SET security_amount = 20000 WHERE tender_id = $1",
                       tender["id"])
    await conn.execute("UPDATE issuers SET status = 'suspended', status_reason = '测试暂停' "
                       "WHERE organization_id = $1", scene["insurer"].org)
    r = await client.post(url, json={"product_id": product})
    cases.append(("suspended issuer", r.status_code, r.json()["code"]))
    await conn.execute("UPDATE issuers SET status = 'enabled', status_reason = NULL "
                       "WHERE organization_id = $1", scene["insurer"].org)
    await move_deadline(conn, tender["id"], -1)
    r = await client.post(url, json={"product_id": product})
    cases.append(("after the deadline", r.status_code, r.json()["code"]))
    assert cases == [
        ("not a holder", 403, "documents_not_obtained"),
        ("no such product", 422, "issuer_product_unavailable"),
        ("above the product's limit", 422, "issuer_product_limit"),
        ("no security asked", 422, "security_not_required"),
        ("suspended issuer", 403, "issuer_suspended"),
        ("after the deadline", 409, "bid_deadline_passed"),
    ]
    assert await conn.fetchval("SELECT count(*) FROM guarantees") == 0
    assert await conn.fetchval("SELECT count(*) FROM issuer_messages") == 0
