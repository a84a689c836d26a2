"""Wire formats for tenders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec

Procedure = Annotated[str, msgspec.Meta(pattern=r"^(open|invited|gp_open|gp_invited|gp_competitive_negotiation|gp_competitive_consultation|gp_single_source|gp_inquiry)$")]  # noqa: E501
Sector = Annotated[str, msgspec.Meta(pattern=r"^(construction|goods|services)$")]
SecurityForm = Annotated[str, msgspec.Meta(
    pattern=r"^(deposit|bank_guarantee|guarantee_insurance|e_guarantee)$")]
Money = Decimal  # checked by core.money.amount (msgspec has no bounds on Decimal)


class LotIn(msgspec.Struct, forbid_unknown_fields=True):
    number: Annotated[int, msgspec.Meta(ge=1, le=99)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    budget: Money
    security_amount: Money = Decimal(0)
    ceiling_price: Money | None = None


class LotOut(msgspec.Struct):
    id: UUID
    number: int
    title: str
    budget: Decimal
    security_amount: Decimal
    ceiling_price: Decimal | None
    security_cap: Decimal
    opening_cert_sha256: str | None = None


class OfficerOut(msgspec.Struct):
    user_id: UUID
    position: int
    login: str
    name: str
    has_encryption_cert: bool


class TenderIn(msgspec.Struct, forbid_unknown_fields=True):
    """A draft: everything may be left out until publication, which needs the schedule."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{4,40}$")]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    region: Annotated[str, msgspec.Meta(max_length=100)] = ""
    procedure: Procedure = "open"
    sector: Sector = "construction"
    budget: Money | None = None
    ceiling_price: Money | None = None
    agency_org_id: UUID | None = None
    min_bids: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    has_prequalification: bool = False
    security_cap_percent: Decimal = Decimal(2)  # (0, 2], T5
    security_cap_amount: Money | None = None
    security_forms: list[SecurityForm] = msgspec.field(
        default_factory=lambda: ["deposit", "bank_guarantee", "guarantee_insurance",
                                 "e_guarantee"])
    documents_from: datetime | None = None
    documents_until: datetime | None = None
    clarification_deadline: datetime | None = None
    bid_deadline: datetime | None = None
    bid_validity_days: Annotated[int, msgspec.Meta(ge=30, le=365)] = 90
    evaluation_method: Annotated[str, msgspec.Meta(
        pattern=r"^(comprehensive|lowest_price)$")] = "comprehensive"
    weights: dict[str, Annotated[int, msgspec.Meta(ge=0, le=100)]] = msgspec.field(
        default_factory=lambda: {"price": 60, "technical": 30, "commercial": 10})
    decryption_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 30
    # S7: minutes after the prices are read for bidders to confirm the record or object
    objection_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 30
    decrypt_failure: Annotated[str, msgspec.Meta(pattern=r"^(withdrawn|officers)$")] = "officers"
    officers_n: Annotated[int, msgspec.Meta(ge=2, le=15)] = 3
    officers_k: Annotated[int, msgspec.Meta(ge=2, le=15)] = 2
    officer_ids: list[UUID] = msgspec.field(default_factory=list)
    lots: list[LotIn] = msgspec.field(default_factory=list)


class TenderUpdate(TenderIn, forbid_unknown_fields=True):
    version: int = 0  # the version the editor saw; a stale one gets 409


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=2000)]


class RetenderIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{4,40}$")]


class TenderOut(msgspec.Struct):
    id: UUID
    code: str
    title: str
    region: str
    procedure: str
    status: str
    owner_org_id: UUID
    owner_name: str
    budget: Decimal | None
    published_at: datetime | None
    created_at: datetime
    agency_org_id: UUID | None = None
    sector: str = "construction"
    ceiling_price: Decimal | None = None
    min_bids: int = 3
    has_prequalification: bool = False
    security_forms: list[str] = msgspec.field(default_factory=list)
    documents_from: datetime | None = None
    documents_until: datetime | None = None
    clarification_deadline: datetime | None = None
    bid_deadline: datetime | None = None
    bid_validity_days: int = 90
    evaluation_method: str = "comprehensive"
    weights: dict[str, Any] = msgspec.field(default_factory=dict)
    decryption_minutes: int = 30
    decrypt_failure: str = "officers"
    objection_minutes: int = 30
    officers_n: int = 3
    officers_k: int = 2
    next_due_at: datetime | None = None
    next_due_kind: str | None = None
    paused_since: datetime | None = None
    cancel_reason: str | None = None
    previous_tender_id: UUID | None = None
    version: int = 1
    lots: list[LotOut] = msgspec.field(default_factory=list)
    officers: list[OfficerOut] = msgspec.field(default_factory=list)


class TenderPage(msgspec.Struct):
    items: list[TenderOut]
    total: int
    page: int
    page_size: int


class SignatureIn(msgspec.Struct, forbid_unknown_fields=True):
    """A detached CMS signature: base64 of the DER, or the PEM text."""

    signature: Annotated[str, msgspec.Meta(min_length=16, max_length=200_000)]


class DocumentOut(msgspec.Struct):
    id: UUID
    name: str
    content_type: str
    size: int
    sha256: str
    signer_subject: str
    frozen: bool
    created_at: datetime
    notice_id: UUID | None = None


class NoticeOut(msgspec.Struct):
    id: UUID
    number: int
    kind: str
    status: str
    title: str
    body: str
    created_at: datetime
    published_at: datetime | None = None
    requested_bid_deadline: datetime | None = None
    old_bid_deadline: datetime | None = None
    new_bid_deadline: datetime | None = None
    signer_subject: str | None = None
    content_sha256: str | None = None
    pdf_sha256: str | None = None
    has_pdf: bool = False


class ClarificationIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=2, max_length=300)]
    body: Annotated[str, msgspec.Meta(min_length=2, max_length=20000)]
    bid_deadline: datetime | None = None  # an amendment that extends the deadline itself


class HolderOut(msgspec.Struct):
    organization_id: UUID
    name: str
    credit_code: str
    obtained_at: datetime
    downloads: int


class ObtainedOut(msgspec.Struct):
    """Your organization holds the tender's documents since ``obtained_at``."""

    tender_id: UUID
    obtained_at: datetime


class HoldersOut(msgspec.Struct):
    """From the bid deadline on (T7): the number for the staff in charge, the names too for
    supervisors (``holders`` is null for the others)."""

    count: int
    holders: list[HolderOut] | None


class RecipientOut(msgspec.Struct):
    user_id: UUID
    login: str
    name: str
    organization: str | None
    delivered_at: datetime
    read_at: datetime | None


class DeliveriesOut(msgspec.Struct):
    notice_id: UUID
    expected: int
    delivered: int
    read: int
    recipients: list[RecipientOut]


class ObjectionIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=5, max_length=20000)]


class AnswerContentIn(msgspec.Struct, forbid_unknown_fields=True):
    """The answer's text, to get the exact bytes to sign for it."""

    answer: Annotated[str, msgspec.Meta(min_length=2, max_length=20000)]


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    """The answer's text and the organization's detached CMS signature over the bytes
    ``POST .../answer/content`` returned for that text (base64 of the DER, or PEM)."""

    answer: Annotated[str, msgspec.Meta(min_length=2, max_length=20000)]
    signature: Annotated[str, msgspec.Meta(min_length=16, max_length=200_000)]


class ObjectionOut(msgspec.Struct):
    id: UUID
    # who objected: null for the staff until the bid deadline (T7)
    organization_id: UUID | None
    body: str
    submitted_at: datetime
    answer_due_at: datetime
    organization: str | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    # who signed the answer (RFC 4514) and the SHA-256 of the signed bytes (answer.json)
    answer_signer: str | None = None
    answer_sha256: str | None = None
    # the answer came, or is still missing, after answer_due_at
    overdue: bool = False
