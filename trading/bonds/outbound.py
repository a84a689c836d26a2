"""Messages from the platform to issuers: signed and stored in the transaction that decides
them, delivered after commit through the outbox (gateway.py says how, and what a crash or
an outage does)."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from core import clock, jobs
from core.settings import Settings
from trading.bonds import envelope, inbox
from trading.bonds import queries as q
from trading.bonds.jobs import deliver_issuer_message


async def send(conn: asyncpg.Connection, settings: Settings, *, issuer_id: UUID,
               issuer_code: str, type: str, body: dict[str, Any],
               in_reply_to: UUID | None = None) -> UUID:
    """Sign and store a message for an issuer, and queue its delivery; its id."""
    code, certs, key = inbox.platform_identity(settings)
    message_id = uuid.uuid4()
    now = (await clock.db_now(conn)).astimezone(clock.SHANGHAI)
    sent = envelope.seal(envelope.message(
        type=type, sender=code, receiver=issuer_code, body=body, id=message_id,
        in_reply_to=in_reply_to, sent_at=now), cert=certs[0], key=key, chain=certs[1:])
    await conn.execute(
        q.INSERT_MESSAGE, "out", issuer_id, message_id, type, in_reply_to, now,
        envelope.canonical(sent["message"]),
        base64.b64decode(sent["signature"]), certs[0].subject.rfc4514_string())
    await jobs.enqueue(conn, deliver_issuer_message, f"issuer-message:{message_id}",
                       message_id=str(message_id))
    return message_id
