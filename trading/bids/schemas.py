"""Wire formats for bid uploads and bids."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from bidformat.device import CreatorIn, DeviceIn

IdempotencyKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{8,100}$")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class UploadIn(msgspec.Struct, forbid_unknown_fields=True):
    """Start (or, with the same key, find again) the upload of one ``bid.p7m``."""

    size: Annotated[int, msgspec.Meta(ge=1, le=5 * 1024**3)]
    idempotency_key: IdempotencyKey
    part_size: Annotated[int, msgspec.Meta(ge=5 * 1024**2, le=64 * 1024**2)] = 16 * 1024**2
    sha256: Sha256Hex | None = None
    device: DeviceIn | None = None
    creator: CreatorIn | None = None


class UploadOut(msgspec.Struct):
    id: UUID
    tender_id: UUID
    lot_id: UUID
    size: int
    part_size: int
    parts: int
    parts_done: int
    bytes_done: int
    status: str
    bid_id: UUID | None
    created_at: datetime


class FinalizeIn(msgspec.Struct, forbid_unknown_fields=True):
    """``bid.p7m.p7s``: the detached CMS signature over the uploaded bytes (base64 DER or PEM)."""

    signature: Annotated[str, msgspec.Meta(min_length=16, max_length=200_000)]


class Recipient(msgspec.Struct):
    issuer: str
    serial: str


class BidOut(msgspec.Struct):
    id: UUID
    tender_id: UUID
    tender_code: str
    tender_title: str
    lot_id: UUID
    lot_number: int
    lot_title: str
    bidder_name: str
    status: str
    size: int
    p7m_sha256: str
    p7s_sha256: str
    signer_subject: str
    envelope_kind: str
    content_cipher: str
    recipients: list[Recipient]
    received_at: datetime
    bid_deadline: datetime
    replaces: UUID | None
    superseded_by: UUID | None
    superseded_at: datetime | None
    withdrawn_at: datetime | None
    has_receipt_pdf: bool


class LotCountOut(msgspec.Struct):
    lot_id: UUID
    number: int
    bids: int


def bid_out(row: dict[str, Any]) -> BidOut:
    fields = {k: row[k] for k in BidOut.__struct_fields__ if k in row}
    fields["p7m_sha256"] = bytes(row["p7m_sha256"]).hex()
    fields["p7s_sha256"] = bytes(row["p7s_sha256"]).hex()
    fields["recipients"] = [Recipient(r["issuer"], r["serial"]) for r in row["recipients"]]
    fields["has_receipt_pdf"] = row.get("receipt_pdf_key") is not None
    return BidOut(**fields)


def upload_out(row: dict[str, Any]) -> UploadOut:
    fields = {k: row[k] for k in UploadOut.__struct_fields__ if k in row}
    return UploadOut(**fields)
