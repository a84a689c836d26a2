"""Guarantee issuers and the signed envelope of their messages (docs/issuer-api.md).

The registry: only an insurer's or a bank's organization becomes an issuer, once; a bidder
sees the enabled ones and their products, without their gateways; a suspension needs a
reason and takes the issuer off the list. The envelope: a message signed over its RFC 8785
bytes by a certificate bound to the issuer is stored and answered with the platform's signed
acknowledgement echoing its id and time; the same message again gets the same answer and
stores nothing new; every other case is refused with its own code and stores nothing; a
stored message verifies with plain ``openssl cms -verify``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from core import audit
from signing.errors import EnvelopeError
from signing.trust import load_trust_store
from tests.conftest import PKI, PLATFORM_CODE, Client, World, login
from tests.signing.test_cert_login import trust_ca1
from tests.trading.issuer_world import Insurer, make_insurer, openssl_verifies
from trading.bonds import envelope, issuers

SYSTEM = audit.Actor(None, "system", None, "test")


@pytest.fixture
async def insurer(client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
                  monkeypatch: pytest.MonkeyPatch) -> Insurer:
    """CA 1 trusted; an insurer registered with a product; the client signed in as it."""
    await login(client, await world.user("admin"))
    await trust_ca1(client, conn, pki, monkeypatch)
    return await make_insurer(client, conn, world, pki)


async def _count(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM issuer_messages")
    return n


async def test_a_signed_message_is_stored_and_answered_signed(
        client: Client, conn: asyncpg.Connection, insurer: Insurer, pki: PKI) -> None:
    sent = insurer.envelope()
    r = await client.post("/api/issuer/v1/messages", json=sent)
    assert r.status_code == 200, r.text
    answer = r.json()
    # the answer is the platform's, signed, and echoes the request's id and time (G6)
    parsed = envelope.parse(answer)
    verified = await envelope.verify(parsed, trust=await load_trust_store(conn),
                                     now=datetime.now(UTC))
    assert "天衡平台" in verified.subject
    assert parsed.sender == PLATFORM_CODE and parsed.receiver == insurer.code
    assert parsed.in_reply_to == UUID(sent["message"]["id"])
    assert answer["message"]["body"]["request"] == {
        "id": sent["message"]["id"], "type": "issuer.hello",
        "sent_at": sent["message"]["sent_at"]}
    assert answer["message"]["body"]["result"]["status"] == "ok"

    # the same message again: the same answer, nothing new stored
    again = await client.post("/api/issuer/v1/messages", json=sent)
    assert again.status_code == 200 and again.json() == answer
    assert await _count(conn) == 1
    # another message under the same id: refused
    reused = insurer.envelope(id=UUID(sent["message"]["id"]), body={"other": "x"})
    r = await client.post("/api/issuer/v1/messages", json=reused)
    assert r.status_code == 409 and r.json()["code"] == "issuer_message_id_reused", r.text

    # what is stored checks with plain openssl: the exact bytes and the detached signature
    row = await conn.fetchrow("SELECT canonical, signature FROM issuer_messages")
    assert json.loads(row["canonical"]) == sent["message"]
    openssl_verifies(pki, row["signature"], row["canonical"], "msg")


async def test_each_bad_message_is_refused_with_its_code_and_stores_nothing(
        client: Client, conn: asyncpg.Connection, insurer: Insurer, pki: PKI) -> None:
    forged = insurer.envelope(body={"amount": "100.00"})
    forged["message"]["body"]["amount"] = "1000000.00"  # changed after signing
    stranger = pki.ca1.issue(cn="未绑定证书", org="测试保险股份有限公司",
                             credit_code=insurer.code, purpose="signing")
    cases: list[tuple[Any, int, str]] = [
        (forged, 422, "issuer_signature_invalid"),
        ({**insurer.envelope(), "signature": "bm90IGEgc2lnbmF0dXJl"}, 422,
         "issuer_signature_invalid"),
        (insurer.envelope(sent_at_shift=timedelta(minutes=-10)), 422, "issuer_message_stale"),
        (insurer.envelope(signer=stranger), 403, "issuer_signer_unknown"),
        (insurer.envelope(receiver=insurer.code), 403, "issuer_sender_mismatch"),
        (insurer.envelope(type="guarantee.unheard_of"), 422, "issuer_message_type_unknown"),
        ({"message": {}, "signature": "x"}, 400, "issuer_message_malformed"),
        ({"message": insurer.envelope()["message"]}, 400, "issuer_message_malformed"),
        ({**insurer.envelope(), "signature": "***"}, 400, "issuer_message_malformed"),
    ]
    version = insurer.envelope()
    version["message"]["version"] = "9"
    cases.append((version, 400, "issuer_message_version"))
    floats = insurer.envelope()
    floats["message"]["body"] = {"amount": 12.5}
    cases.append((floats, 400, "issuer_message_malformed"))
    for body, status, code in cases:
        r = await client.post("/api/issuer/v1/messages", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), (code, r.text)
    assert await _count(conn) == 0


async def test_only_an_enabled_issuer_speaks(client: Client, conn: asyncpg.Connection,
                                            insurer: Insurer, world: World) -> None:
    await login(client, await world.user("admin"))
    r = await client.post(f"/api/issuers/{insurer.org}/status", json={"enabled": False})
    assert r.status_code == 400  # a suspension says why
    r = await client.post(f"/api/issuers/{insurer.org}/status",
                          json={"enabled": False, "reason": "偿付能力不达标，暂停接入"})
    assert r.status_code == 200 and r.json()["status"] == "suspended", r.text
    await login(client, insurer.login)
    r = await client.post("/api/issuer/v1/messages", json=insurer.envelope())
    assert r.status_code == 403 and r.json()["code"] == "issuer_suspended"
    # a bidder is offered no suspended issuer
    await login(client, await world.user("bidder", await world.org("bidder")))
    listed = (await client.get("/api/issuers/")).json()
    assert insurer.org not in {UUID(i["organization_id"]) for i in listed}
    # someone who is no issuer cannot use the endpoint
    r = await client.post("/api/issuer/v1/messages", json=insurer.envelope())
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert await _count(conn) == 0


async def test_the_registry(client: Client, conn: asyncpg.Connection, insurer: Insurer,
                            world: World) -> None:
    await login(client, await world.user("admin"))
    r = await client.post("/api/issuers/", json={"organization_id": str(insurer.org),
                                                 "gateway_url": "http://127.0.0.1:9/x"})
    assert r.status_code == 409 and r.json()["code"] == "issuer_exists"
    agency = await world.org("agency")
    r = await client.post("/api/issuers/", json={"organization_id": str(agency),
                                                 "gateway_url": "http://127.0.0.1:9/x"})
    assert r.status_code == 422 and r.json()["code"] == "issuer_kind"
    r = await client.post("/api/issuers/", json={"organization_id": str(uuid.uuid4()),
                                                 "gateway_url": "http://127.0.0.1:9/x"})
    assert r.status_code == 404
    r = await client.post(f"/api/issuers/{insurer.org}/products", json={
        "form": "guarantee_insurance", "name": "投标保证保险", "premium_rate": "0.002"})
    assert r.status_code == 409 and r.json()["code"] == "issuer_product_exists"
    r = await client.post(f"/api/issuers/{insurer.org}/products", json={
        "form": "cash", "name": "现金", "premium_rate": "0.002"})
    assert r.status_code == 400
    admin_view = [i for i in (await client.get("/api/issuers/")).json()
                  if i["organization_id"] == str(insurer.org)]
    assert admin_view[0]["gateway_url"] == "http://127.0.0.1:9/gateway"
    # a bidder sees the issuer and its product with the premium rule, not the gateway
    await login(client, await world.user("bidder", await world.org("bidder")))
    mine = [i for i in (await client.get("/api/issuers/")).json()
            if i["organization_id"] == str(insurer.org)]
    assert mine[0]["gateway_url"] is None and mine[0]["kind"] == "insurer"
    assert [(p["name"], p["premium_rate"], p["minimum_premium"]) for p in mine[0]["products"]
            ] == [("投标保证保险", "0.001500", "300.00")]
    # nothing of the registry is a bidder's to change
    r = await client.post(f"/api/issuers/{insurer.org}/status",
                          json={"enabled": False, "reason": "想停就停"})
    assert r.status_code == 403


@pytest.mark.parametrize(("amount", "rate", "minimum", "expected"), [
    ("200000.00", "0.0015", "300.00", "300.00"),      # below the minimum
    ("800000.00", "0.0015", "300.00", "1200.00"),
    ("333333.33", "0.0015", "0", "500.00"),           # 499.999995 rounds half up
    ("123456.78", "0.0012", "0", "148.15"),           # 148.148136
    ("100.01", "0.005", "0", "0.50"),                 # 0.50005
])
def test_premium_to_the_cent(amount: str, rate: str, minimum: str, expected: str) -> None:
    product = {"premium_rate": Decimal(rate), "minimum_premium": Decimal(minimum)}
    assert issuers.premium(product, Decimal(amount)) == Decimal(expected)


def test_a_sensitive_field_opens_for_its_receiver_only(pki: PKI) -> None:
    receiver = pki.ca1.issue(cn="接收方加密", purpose="encryption")
    other = pki.ca1.issue(cn="他人加密", purpose="encryption")
    field = envelope.encrypt_value({"id_number": "510100199001011234"}, receiver.cert)
    assert "510100" not in json.dumps(field)
    assert envelope.decrypt_value(field, receiver.cert, receiver.key) == {
        "id_number": "510100199001011234"}
    with pytest.raises(EnvelopeError):
        envelope.decrypt_value(field, other.cert, other.key)
    # the field is a CMS envelope openssl reads too
    out = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER"],
                         input=base64.b64decode(field["encrypted"]), capture_output=True,
                         check=False, timeout=60)
    assert out.returncode == 0 and b"recipientInfos" in out.stdout, out.stderr
