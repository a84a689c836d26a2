"""Messages from issuers to the platform: checked in the order docs/issuer-api.md gives,
stored, answered with a signed acknowledgement, and answered the same way again on a replay.

Order (G6: the signature before anything else): the envelope's shape; the signature over the
canonical bytes with path and revocation; the clock window; the caller is an enabled issuer;
the message's sender is the caller and its receiver the platform; the signer's certificate
is one bound to the caller's organization for signing; the type is one the platform takes.
Then the message id: new, the message is stored and handled; already stored with the same
bytes, the stored answer is returned and nothing changes; stored with other bytes, refused.
A refused message leaves nothing behind (the request's transaction rolls back) but the
refusal in the log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.serialization import Encoding

from core import audit, clock
from core.auth import Principal
from core.settings import Settings
from signing import identity, seal
from signing.trust import load_trust_store
from trading.bonds import envelope, errors, issuers, lifecycle
from trading.bonds import queries as q

Handler = Callable[[asyncpg.Connection, dict[str, Any], envelope.Parsed],
                   Awaitable[dict[str, Any]]]


async def _hello(conn: asyncpg.Connection, issuer: dict[str, Any],
                 parsed: envelope.Parsed) -> dict[str, Any]:
    """A connectivity check an issuer sends once it is set up: signed both ways."""
    return {"status": "ok", "issuer": issuer["name"]}


# message type -> what the platform does with it; each stage of bid security adds its own
HANDLERS: dict[str, Handler] = {
    "issuer.hello": _hello, "guarantee.review": lifecycle.review,
    "guarantee.paid": lifecycle.paid, "guarantee.issued": lifecycle.issued}


def platform_identity(settings: Settings) -> tuple[str, list[Any], Any]:
    """The platform's credit code (the trading centre its seal names), certificates and key."""
    try:
        certs, key = seal.load_seal(settings)
    except seal.NoPlatformSeal:
        raise errors.PlatformIdentityMissing() from None
    code = identity.credit_code(certs[0])
    if code is None:
        raise errors.PlatformIdentityMissing(
            {"reason": "the platform certificate names no credit code"})
    return code, certs, key


async def receive(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  settings: Settings, body: Any) -> dict[str, Any]:
    """Check, store and handle one message; the platform's signed answer (an envelope)."""
    parsed = envelope.parse(body)
    now = await clock.db_now(conn)
    verified = await envelope.verify(parsed, trust=await load_trust_store(conn), now=now)
    issuer = await issuers.issuer_of(conn, principal)
    code, certs, key = platform_identity(settings)
    if parsed.sender != issuer["credit_code"] or parsed.receiver != code:
        raise errors.SenderMismatch({"sender": parsed.sender, "receiver": parsed.receiver,
                                     "expected_sender": issuer["credit_code"],
                                     "expected_receiver": code})
    signer_sha = hashlib.sha256(verified.signer.public_bytes(Encoding.DER)).digest()
    if not await conn.fetchval(q.SIGNER_BOUND, issuer["organization_id"], signer_sha):
        raise errors.SignerUnknown({"certificate": verified.subject})
    handler = HANDLERS.get(parsed.type)
    if handler is None:
        raise errors.MessageTypeUnknown({"type": parsed.type, "taken": sorted(HANDLERS)})

    stored = await conn.fetchval(
        q.INSERT_MESSAGE, "in", issuer["organization_id"], parsed.id, parsed.type,
        parsed.in_reply_to, parsed.sent_at, parsed.canonical, parsed.signature, verified.subject)
    if stored is None:
        return await _replayed(conn, issuer, parsed)
    result = await handler(conn, issuer, parsed)
    answer = envelope.seal(envelope.message(
        type="platform.ack", sender=code, receiver=parsed.sender, id=uuid.uuid4(), sent_at=now,
        in_reply_to=parsed.id, body={
            # G6: the answer echoes the request's nonce (its id) and its time
            "request": {"id": str(parsed.id), "type": parsed.type,
                        "sent_at": parsed.message["sent_at"]},
            "result": result}), cert=certs[0], key=key, chain=certs[1:])
    await conn.execute(q.SET_ANSWER, stored, envelope.canonical(answer["message"]),
                       base64.b64decode(answer["signature"]))
    await audit.record(conn, actor, "issuer_message.receive", "organization",
                       issuer["organization_id"], {
                           "message": str(parsed.id), "type": parsed.type,
                           "sha256": hashlib.sha256(parsed.canonical).hexdigest()})
    return answer


async def _replayed(conn: asyncpg.Connection, issuer: dict[str, Any],
                    parsed: envelope.Parsed) -> dict[str, Any]:
    """The same message again gets the same answer; another one under its id, a refusal."""
    row = await conn.fetchrow(q.GET_MESSAGE, "in", issuer["organization_id"], parsed.id)
    if row["canonical"] != parsed.canonical:
        raise errors.MessageIdReused({"id": str(parsed.id)})
    return {"message": json.loads(row["answer_canonical"]),
            "signature": base64.b64encode(row["answer_signature"]).decode()}
