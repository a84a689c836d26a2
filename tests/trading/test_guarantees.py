"""A bidder applies for a guarantee; the application reaches the issuer as a signed message.

The issuer's gateway is a real HTTP server in a thread that answers as an issuer does: an
``issuer.ack`` of the message, signed with the issuer's bound certificate. It is down first
(the delivery fails and is queued again with backoff, nothing lost), then up (the answer is
checked and kept); a repeated delivery carries the same idempotency key, and a delivery
already answered sends nothing. Nothing of the application is the tenderer's to see.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from litestar import Litestar

from core import clock
from core.settings import Settings
from tests.conftest import PASSWORD, PKI, PLATFORM_CODE, Client, World, login
from tests.trading.conftest import Lot, Tenderer
from tests.trading.issuer_world import Insurer, make_insurer, openssl_verifies
from tests.trading.test_bids import move_deadline
from tests.trading.test_opening_lots import bids_from, deadline_passes
from trading.bonds import envelope, moves
from trading.bonds.jobs import deliver_issuer_message
from trading.tenders.queries import tenders as tender_sql


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
    openssl_verifies(pki, row["signature"], row["canonical"], "out")

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


async def _applied(scene: dict[str, Any], client: Client) -> dict[str, Any]:
    r = await client.post(f"/api/tenders/{scene['tender']['id']}/lots/1/guarantees",
                          json={"product_id": scene["product"]})
    assert r.status_code == 201, r.text
    g: dict[str, Any] = r.json()
    await login(client, scene["insurer"].login)
    return g


def _terms(g: dict[str, Any], conn_terms: dict[str, Any], **change: Any) -> dict[str, Any]:
    body = {"order": g["id"], "number": "BHBX2026000123", "verification_code": "7Q4K-92XD",
            "amount": g["amount"], "valid_until": g["valid_until"],
            "beneficiary": {"credit_code": conn_terms["beneficiary"]},
            "bidder": {"credit_code": conn_terms["bidder"]},
            "project": {"code": "T-BOND-1", "lot": 1},
            "pdf": "JVBERi0xLjcKJSBzaWduZWQ="}  # "%PDF-1.7\n% signed"
    body.update(change)
    return body


async def _send(client: Client, insurer: Insurer, type: str, body: dict[str, Any]) -> Any:
    return await client.post("/api/issuer/v1/messages",
                             json=insurer.envelope(type=type, body=body))


async def test_review_payment_issuance_and_the_public_check(
        scene: dict[str, Any], client: Client, conn: asyncpg.Connection) -> None:
    insurer = scene["insurer"]
    g = await _applied(scene, client)
    terms = {"beneficiary": await conn.fetchval("SELECT beneficiary_code FROM guarantees"),
             "bidder": await conn.fetchval("SELECT bidder_code FROM guarantees")}
    # out of turn: paid before the review
    r = await _send(client, insurer, "guarantee.paid", {"order": g["id"]})
    assert r.status_code == 409 and r.json()["code"] == "guarantee_out_of_turn", r.text
    r = await _send(client, insurer, "guarantee.review", {"order": g["id"], "decision": "maybe"})
    assert r.status_code == 400 and r.json()["code"] == "issuer_message_malformed"
    r = await _send(client, insurer, "guarantee.review",
                    {"order": g["id"], "decision": "accepted", "premium": "320.00"})
    assert r.status_code == 200, r.text
    assert r.json()["message"]["body"]["result"] == {"order": g["id"], "status": "accepted"}
    r = await _send(client, insurer, "guarantee.paid", {"order": g["id"]})
    assert r.json()["message"]["body"]["result"]["status"] == "paid", r.text
    r = await _send(client, insurer, "guarantee.issued", _terms(g, terms))
    assert r.status_code == 200, r.text
    assert r.json()["message"]["body"]["result"] == {
        "order": g["id"], "status": "issued", "problems": []}
    row = await conn.fetchrow("SELECT status, premium, pdf, issued_message FROM guarantees")
    assert (row["status"], str(row["premium"])) == ("issued", "320.00")
    assert row["pdf"].startswith(b"%PDF-") and row["issued_message"] is not None

    # 保函验真: anyone with number and code; the tender and the bidder withheld before the deadline
    client.cookies.clear()
    r = await client.get("/api/guarantees/verify",
                         params={"number": "BHBX2026000123", "code": "7Q4K-92XD"})
    assert r.status_code == 200, r.text
    checked = r.json()
    assert (checked["status"], checked["in_force"], checked["amount"]) == (
        "issued", True, "20000.00")
    assert (checked["tender_code"], checked["bidder"]) == (None, None)
    r = await client.get("/api/guarantees/verify",
                         params={"number": "BHBX2026000123", "code": "0000-0000"})
    assert r.status_code == 404 and r.json()["code"] == "guarantee_not_found"
    await move_deadline(conn, scene["tender"]["id"], -1)
    checked = (await client.get("/api/guarantees/verify",
                                params={"number": "BHBX2026000123", "code": "7Q4K-92XD"})).json()
    assert (checked["tender_code"], checked["lot_number"], checked["bidder"]) == (
        "T-BOND-1", 1, "保函测试投标单位")


async def test_issued_terms_that_do_not_meet_the_lot_are_kept_with_their_codes(
        scene: dict[str, Any], client: Client, conn: asyncpg.Connection, world: World) -> None:
    insurer = scene["insurer"]
    g = await _applied(scene, client)
    for type, body in (("guarantee.review", {"decision": "accepted", "premium": "300.00"}),
                       ("guarantee.paid", {})):
        assert (await _send(client, insurer, type, {"order": g["id"], **body})).status_code == 200
    terms = {"beneficiary": "91510100MA0000000X", "bidder": "91510100MA0000001X"}
    short = (datetime.fromisoformat(g["valid_until"]) - timedelta(days=1)).isoformat()
    r = await _send(client, insurer, "guarantee.issued", _terms(
        g, terms, amount="19999.99", valid_until=short, project={"code": "T-OTHER", "lot": 1}))
    assert r.status_code == 200, r.text
    assert r.json()["message"]["body"]["result"]["problems"] == [
        "beneficiary_mismatch", "bidder_mismatch", "amount_too_low", "validity_too_short",
        "project_mismatch"]
    assert await conn.fetchval("SELECT problems FROM guarantees") == [
        "beneficiary_mismatch", "bidder_mismatch", "amount_too_low", "validity_too_short",
        "project_mismatch"]


async def test_a_message_about_another_issuers_order_is_refused(
        scene: dict[str, Any], client: Client, conn: asyncpg.Connection, world: World,
        pki: PKI) -> None:
    g = await _applied(scene, client)
    other = await make_insurer(client, conn, world, pki)
    r = await _send(client, other, "guarantee.review",
                    {"order": g["id"], "decision": "rejected", "reason": "不是我的"})
    assert r.status_code == 422 and r.json()["code"] == "guarantee_unknown", r.text
    await login(client, scene["insurer"].login)
    r = await _send(client, scene["insurer"], "guarantee.review",
                    {"order": g["id"], "decision": "rejected", "reason": "超出承保额度"})
    assert r.json()["message"]["body"]["result"]["status"] == "rejected", r.text
    row = await conn.fetchrow("SELECT status, status_reason FROM guarantees")
    assert tuple(row) == ("rejected", "超出承保额度")
    # a rejected application leaves room for another one
    await login(client, scene["bidder"])
    r = await client.post(f"/api/tenders/{scene['tender']['id']}/lots/1/guarantees",
                          json={"product_id": scene["product"]})
    assert r.status_code == 201, r.text


async def test_a_moved_opening_is_told_once_to_the_issuer_of_a_live_guarantee(
        scene: dict[str, Any], client: Client, conn: asyncpg.Connection,
        settings: Settings) -> None:
    g = await _applied(scene, client)
    tender_id = scene["tender"]["id"]
    old = await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1", tender_id)
    new = old + timedelta(days=3)
    # what the tender's own job records when a clarification or a pause moves the deadline
    await conn.execute(tender_sql.INSERT_OPENING_POSTPONED, UUID(tender_id),
                       {"old_bid_deadline": old.isoformat(), "new_bid_deadline": new.isoformat()})
    assert await moves.push_moves(conn, settings) == 1
    assert await moves.push_moves(conn, settings) == 0  # told once
    row = await conn.fetchrow("SELECT canonical FROM issuer_messages "
                              "WHERE type = 'guarantee.deadline_moved'")
    msg = json.loads(row["canonical"])
    assert msg["receiver"] == scene["insurer"].code
    assert msg["body"]["order"] == g["id"]
    assert datetime.fromisoformat(msg["body"]["new_bid_deadline"]) == new
    assert datetime.fromisoformat(msg["body"]["valid_until_required"]) == new + timedelta(days=90)
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE job_key = $1",
                               f"issuer-message:{msg['id']}") == 1


async def test_the_hall_shows_each_bids_security_from_the_deadline(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    tender_id, lot_id = lot.tender["id"], lot.tender["lots"][0]["id"]
    insurer = await make_insurer(client, conn, world, pki)
    product = await conn.fetchval("SELECT id FROM issuer_products WHERE issuer_id = $1",
                                  insurer.org)
    await login(client, lot.bidder.login)
    r = await client.post(f"/api/tenders/{tender_id}/lots/1/guarantees",
                          json={"product_id": str(product)})
    assert r.status_code == 201, r.text
    g = r.json()
    await login(client, insurer.login)
    terms = {"beneficiary": await conn.fetchval("SELECT beneficiary_code FROM guarantees"),
             "bidder": lot.bidder.credit_code}
    for type, body in (("guarantee.review", {"decision": "accepted", "premium": "300.00"}),
                       ("guarantee.paid", {})):
        assert (await _send(client, insurer, type, {"order": g["id"], **body})).status_code == 200
    project = {"code": lot.tender["code"], "lot": 1}
    r = await _send(client, insurer, "guarantee.issued", _terms(g, terms, project=project))
    assert r.json()["message"]["body"]["result"]["problems"] == [], r.text
    await login(client, lot.bidder.login)
    await bids_from(lot, client, conn, world, pki, 3)
    # before the deadline the hall names no bid, so no security either
    assert (await client.get(f"/api/lots/{lot_id}/hall")).json()["bids"] == []
    await deadline_passes(conn, tender_id)
    lines = {b["bidder"]: b["security"]
             for b in (await client.get(f"/api/lots/{lot_id}/hall")).json()["bids"]}
    assert lines.pop(lot.bidder.name) == {
        "form": "guarantee_insurance", "issuer": "测试保险股份有限公司",
        "number": "BHBX2026000123", "amount": "20000.00", "status": "issued", "problems": [],
        "verified": True}
    assert list(lines.values()) == [None, None]


async def test_guessing_verification_codes_is_stopped(app: Litestar, world: World) -> None:
    """From one address, wrong pairs count like wrong passwords; the lock is its own."""
    limits = app.state.settings.login
    address = f"198.51.100.{secrets.randbelow(250) + 1}"  # an address of this test's own
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as guesser:
        params = {"number": "BHBX2026999999", "code": "0000-0000"}
        for _ in range(limits.max_failures):
            r = await guesser.get("/api/guarantees/verify", params=params)
            assert r.json()["code"] == "guarantee_not_found"
        r = await guesser.get("/api/guarantees/verify", params=params)
        assert r.status_code == 429 and r.json()["code"] == "guarantee_verify_locked", r.text
        assert 0 < int(r.headers["retry-after"]) <= limits.lock_minutes * 60
        # signing in from that address is not locked by it
        name = await world.user("bidder", await world.org())
        r = await guesser.post("/api/auth/login", json={"login": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
