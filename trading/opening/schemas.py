"""The opening's wire: msgspec structs of its HTTP routes (routes.py, hall_routes.py,
record_routes.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec


class OpenIn(msgspec.Struct, forbid_unknown_fields=True):
    content_key: str  # base64: unwrapped by the bidder from its own recipient entry


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    share: str  # base64: the officer's share, unsealed on the officer's own machine


class SealedShareOut(msgspec.Struct):
    lot_id: UUID
    index: int
    k: int
    n: int
    envelope: str  # base64 CMS envelope to the officer's encryption certificate
    submitted_at: datetime | None
    used_at: datetime | None


class ShareOut(msgspec.Struct):
    lot_id: UUID
    index: int
    have: int
    need: int
    status: str


class OpenedOut(msgspec.Struct):
    bid_id: UUID
    opened_by: str
    opened_at: datetime
    inner_signer: str
    total_price: Decimal
    price_sheet: dict[str, Any]
    files: list[str]


class SignInIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: str | None = None  # from POST /api/auth/cert/challenge
    signature: str | None = None  # base64 CMS over the nonce, by the login certificate


class SignInOut(msgspec.Struct):
    lot_id: UUID
    role: str
    count: int
    certificate: str | None


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class MessageOut(msgspec.Struct):
    seq: int
    at: datetime


class TextIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class ObjectionOut(msgspec.Struct):
    id: UUID
    lot_id: UUID
    text: str
    raised_at: datetime
    answer: str | None
    answered_at: datetime | None
