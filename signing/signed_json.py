"""Signed JSON messages: the envelope every message between the platform and a guarantee issuer
travels in (docs/issuer-api.md, "Envelope"). It lives here, below the domains, so that an
issuer's own software (the reference issuer) shares it without importing the platform.

    {"message": {"version": "1", "id": <uuid>, "type": "guarantee.application",
                 "sent_at": <ISO 8601 with offset>, "sender": <credit code>,
                 "receiver": <credit code>, "in_reply_to": <uuid> | null, "body": {...}},
     "signature": <base64 of a detached CMS SignedData over the message's RFC 8785 bytes>}

RFC 8785 (JSON Canonicalization Scheme) is what lets either side rebuild the exact bytes
signed from the JSON it received, whatever its JSON library did to spacing and key order;
money travels as decimal strings ("1234.50"), never as JSON numbers, so no float is ever
canonicalized. A sensitive value (an ID number, a bank account) is replaced by
``{"encrypted": <base64 CMS envelope>}`` for the receiver's encryption certificate; the
envelope's plaintext is the RFC 8785 bytes of the value.

Nothing here touches a database or knows the platform's errors: a bad shape raises
``FormatError`` (``UnsupportedVersion`` for another version), a bad signature the signing
error that says why, a time outside the window ``Stale``; who may send (the signer's
binding, replays) is the receiver's to decide (trading/bonds/inbox.py on the platform).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import rfc8785
from cryptography import x509

from signing import cms
from signing import envelope as cms_envelope
from signing.keys import PrivateKey
from signing.pathval import TrustStore

VERSION = "1"
# how far a message's sent_at may be from the receiver's clock
WINDOW = timedelta(minutes=5)
FIELDS = ("version", "id", "type", "sent_at", "sender", "receiver", "in_reply_to", "body")
TYPE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


class FormatError(ValueError):
    """The envelope or a value in it is not as the format says; ``detail`` says where."""

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__(str(detail))
        self.detail = detail


class UnsupportedVersion(FormatError):
    """A version of the format this side does not speak."""


class Stale(ValueError):
    """``sent_at`` too far from the receiver's clock."""

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__(str(detail))
        self.detail = detail


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value; a float anywhere is refused (money is a string)."""
    def check(v: Any) -> None:
        if isinstance(v, float):
            raise FormatError({"reason": "a number with a fraction; send it as a string"})
        if isinstance(v, dict):
            for x in v.values():
                check(x)
        elif isinstance(v, list):
            for x in v:
                check(x)
    check(value)
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise FormatError({"reason": str(exc)[:200]}) from None


def message(*, type: str, sender: str, receiver: str, body: dict[str, Any], sent_at: datetime,
            id: UUID, in_reply_to: UUID | None = None) -> dict[str, Any]:
    """A message as it is signed: every field present, times with their offset."""
    return {"version": VERSION, "id": str(id), "type": type,
            "sent_at": sent_at.isoformat(timespec="seconds"), "sender": sender,
            "receiver": receiver, "in_reply_to": str(in_reply_to) if in_reply_to else None,
            "body": body}


def seal(msg: dict[str, Any], *, cert: x509.Certificate, key: PrivateKey,
         chain: list[x509.Certificate] | tuple[x509.Certificate, ...] = ()) -> dict[str, Any]:
    """The envelope of ``msg``, signed (detached CMS over its canonical bytes)."""
    signature = cms.sign(canonical(msg), cert=cert, key=key, chain=chain)
    return {"message": msg, "signature": base64.b64encode(signature).decode()}


def encrypt_value(value: Any, recipient: x509.Certificate) -> dict[str, str]:
    """A sensitive value as the receiver alone can read it."""
    sealed = cms_envelope.seal(canonical(value), [cms_envelope.Recipient(recipient)])
    return {"encrypted": base64.b64encode(sealed).decode()}


def decrypt_value(field: Any, cert: x509.Certificate, key: PrivateKey) -> Any:
    """The value of an ``{"encrypted": ...}`` field, with the receiver's encryption key."""
    if not isinstance(field, dict) or set(field) != {"encrypted"}:
        raise FormatError({"reason": "not an encrypted field"})
    data = _b64(field["encrypted"], "encrypted")
    return json.loads(cms_envelope.open_with_private_key(data, cert, key))


@dataclass(frozen=True)
class Parsed:
    """A message whose shape is right; its signature not yet checked."""

    message: dict[str, Any]
    canonical: bytes
    signature: bytes
    id: UUID
    type: str
    sender: str
    receiver: str
    sent_at: datetime
    in_reply_to: UUID | None


def parse(envelope: Any) -> Parsed:
    """Check the envelope's shape: every field there, of its type; nothing else yet."""
    if not isinstance(envelope, dict) or set(envelope) != {"message", "signature"}:
        raise FormatError({"reason": "expected exactly: message, signature"})
    msg = envelope["message"]
    if not isinstance(msg, dict) or set(msg) != set(FIELDS):
        raise FormatError({"reason": f"message fields are exactly: {', '.join(FIELDS)}"})
    if msg["version"] != VERSION:
        raise UnsupportedVersion({"version": msg["version"], "supported": [VERSION]})
    if not isinstance(msg["type"], str) or not TYPE.match(msg["type"]):
        raise FormatError({"field": "type"})
    for field in ("sender", "receiver"):
        if not isinstance(msg[field], str) or not CODE.match(msg[field]):
            raise FormatError({"field": field, "reason": "an 18-character credit code"})
    if not isinstance(msg["body"], dict):
        raise FormatError({"field": "body"})
    try:
        sent_at = datetime.fromisoformat(msg["sent_at"])
        message_id = UUID(msg["id"])
        in_reply_to = UUID(msg["in_reply_to"]) if msg["in_reply_to"] is not None else None
    except (TypeError, ValueError, AttributeError):
        raise FormatError({"fields": ["id", "sent_at", "in_reply_to"]}) from None
    if sent_at.tzinfo is None:
        raise FormatError({"field": "sent_at", "reason": "a time with its offset"})
    if not isinstance(envelope["signature"], str):
        raise FormatError({"field": "signature"})
    return Parsed(msg, canonical(msg), _b64(envelope["signature"], "signature"), message_id,
                  msg["type"], msg["sender"], msg["receiver"], sent_at, in_reply_to)


async def verify(parsed: Parsed, *, trust: TrustStore, now: datetime) -> cms.Verified:
    """The signature first (G6): over the canonical bytes, by a certificate the trust store
    accepts, unrevoked (a signing error otherwise); then the clock window."""
    verified = await cms.verify(parsed.signature, trust=trust, content=parsed.canonical)
    if abs(now - parsed.sent_at) > WINDOW:
        raise Stale({"sent_at": parsed.sent_at.isoformat(), "now": now.isoformat(),
                                   "window_s": int(WINDOW.total_seconds())})
    return verified


def _b64(text: Any, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise FormatError({"field": field, "reason": "base64"}) from None
