"""The signing package's wire structs (msgspec): trust store administration and login."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from core.errors import InvalidInput


class CAIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    certificate_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    revocation_mode: str = "hard-fail"
    crl_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    ocsp_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class CAOut(msgspec.Struct):
    id: UUID
    name: str
    subject: str
    is_root: bool
    revocation_mode: str
    crl_url: str | None
    ocsp_url: str | None = None
    crl_fetched_at: datetime | None = None
    crl_next_update: datetime | None = None
    crl_error: str | None = None
    enabled: bool = True


class CRLRefreshOut(msgspec.Struct):
    fetched: int
    failed: int


class CertificateIn(msgspec.Struct, forbid_unknown_fields=True):
    certificate_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    purpose: str


class ChallengeOut(msgspec.Struct):
    nonce: str
    expires_in: int


class CertLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: Annotated[str, msgspec.Meta(max_length=200)]
    signature: Annotated[str, msgspec.Meta(max_length=100000)]


def signature_bytes(text: str) -> bytes:
    """A detached signature as a form or JSON field carries it: PEM text, or base64 DER."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput({"field": "signature"}, message="签名须为 base64 编码的 DER 或 PEM 文本",
                           message_en="The signature is base64 DER or PEM text") from None
