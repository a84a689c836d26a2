"""The signed envelope of issuer messages (signing/signed_json.py), with its failures as
the platform's error codes (docs/issuer-api.md): a bad shape 400, another version 400, a
signature that does not hold 422 with the signing check's own code, a stale time 422."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signing import cms
from signing import signed_json as sj
from signing.errors import SignatureError
from signing.pathval import TrustStore
from signing.signed_json import Parsed, decrypt_value, encrypt_value, message, seal
from trading.bonds import errors

__all__ = ["Parsed", "canonical", "decrypt_value", "encrypt_value", "message", "parse", "seal",
           "verify"]


def canonical(value: Any) -> bytes:
    try:
        return sj.canonical(value)
    except sj.FormatError as exc:
        raise errors.MessageMalformed(exc.detail) from None


def parse(envelope: Any) -> Parsed:
    try:
        return sj.parse(envelope)
    except sj.UnsupportedVersion as exc:
        raise errors.MessageVersion(exc.detail) from None
    except sj.FormatError as exc:
        raise errors.MessageMalformed(exc.detail) from None


async def verify(parsed: Parsed, *, trust: TrustStore, now: datetime) -> cms.Verified:
    try:
        return await sj.verify(parsed, trust=trust, now=now)
    except SignatureError as exc:
        raise errors.MessageSignatureInvalid({"reason": exc.code, "detail": exc.detail}) from None
    except sj.Stale as exc:
        raise errors.MessageStale(exc.detail) from None
