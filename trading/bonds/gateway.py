"""Delivering the platform's messages to issuers' gateways, and checking their answers.

Ordering and crash semantics. ``outbound.send`` writes the message (its canonical bytes and
signature) and an outbox row in the caller's transaction: the message exists exactly when
the change that caused it does. The job reads the stored message, posts it to the gateway
with no transaction open and no connection held (an issuer may take seconds, or be down),
then records the issuer's answer in a transaction of its own. A delivery repeated after a
crash sends the same bytes with the same ``Idempotency-Key`` (the message id), so the issuer
answers as before; an answer already recorded ends the job at once. A gateway that is down,
answers with an error, or answers with anything but the issuer's own signed acknowledgement
of this very message fails the job, which the outbox runs again after 10 s, 20 s, 40 s ...
up to an hour: an outage loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from core import clock
from core.errors import DomainError
from signing.trust import load_trust_store
from trading.bonds import envelope
from trading.bonds import queries as q

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class DeliveryFailed(RuntimeError):
    """The issuer's gateway did not take the message (the outbox retries it)."""


async def post(row: dict[str, Any]) -> dict[str, Any]:
    """Send a stored message to its issuer's gateway; the answer's JSON (not yet checked)."""
    body = {"message": json.loads(row["canonical"]),
            "signature": base64.b64encode(row["signature"]).decode()}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            r = await http.post(row["gateway_url"], json=body,
                                headers={"Idempotency-Key": str(row["message_id"])})
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"gateway unreachable: {type(exc).__name__}: {exc}") from None
    if r.status_code != 200:
        raise DeliveryFailed(f"gateway answered {r.status_code}: {r.text[:300]}")
    try:
        answer: dict[str, Any] = r.json()
    except ValueError:
        raise DeliveryFailed("gateway answered no JSON") from None
    return answer


async def record_answer(conn: asyncpg.Connection, row: dict[str, Any],
                        answer: dict[str, Any]) -> None:
    """Check the issuer's answer, as any message from it, and keep it with the message."""
    try:
        parsed = envelope.parse(answer)
        verified = await envelope.verify(parsed, trust=await load_trust_store(conn),
                                         now=await clock.db_now(conn))
    except DomainError as exc:
        raise DeliveryFailed(f"the gateway's answer is refused: {exc.code}") from None
    if (parsed.sender != row["issuer_code"] or parsed.in_reply_to != row["message_id"]
            or parsed.type != "issuer.ack"):
        raise DeliveryFailed("the gateway's answer is not the issuer's acknowledgement of it")
    signer_sha = hashlib.sha256(verified.signer.public_bytes(Encoding.DER)).digest()
    if not await conn.fetchval(q.SIGNER_BOUND, row["issuer_id"], signer_sha):
        raise DeliveryFailed(f"the answer's signer is not bound to the issuer: {verified.subject}")
    await conn.execute(q.SET_ANSWER, row["id"], parsed.canonical, parsed.signature)


async def out_message(conn: asyncpg.Connection, message_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(q.OUT_MESSAGE, UUID(message_id))
    return dict(row) if row else None
