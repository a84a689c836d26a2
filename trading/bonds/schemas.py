"""Wire structs of bid security: issuers and products (the envelope itself is plain JSON,
checked field by field in envelope.py, since its bytes are what is signed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec

Form = Annotated[str, msgspec.Meta(pattern=r"^(guarantee_insurance|bank_guarantee|e_guarantee)$")]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://\S+$", max_length=500)]
Money = Decimal  # checked by core.money.amount (msgspec has no bounds on Decimal)


class IssuerIn(msgspec.Struct, forbid_unknown_fields=True):
    """An insurer's or a bank's organization, made an issuer; where its gateway listens."""

    organization_id: UUID
    gateway_url: Url


class IssuerStatusIn(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool
    # required to suspend: what the issuer and the bidders are told
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=500)] | None = None


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    form: Form
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]
    # premium = max(amount x premium_rate, minimum_premium), to the cent
    premium_rate: Decimal  # above 0, below 0.1, six decimals at most (issuers.add_product)
    minimum_premium: Money = Decimal("0")
    maximum_amount: Money | None = None


class ProductOut(msgspec.Struct):
    id: UUID
    form: str
    name: str
    premium_rate: Decimal
    minimum_premium: Decimal
    maximum_amount: Decimal | None
    active: bool


class IssuerOut(msgspec.Struct):
    organization_id: UUID
    name: str
    credit_code: str
    kind: str
    status: str
    status_reason: str | None
    status_changed_at: datetime
    products: list[ProductOut]
    # the gateway is the administrators' to see
    gateway_url: str | None = None


class GuaranteeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The product chosen (an enabled issuer's); the amount is the lot's security amount."""

    product_id: UUID


class GuaranteeOut(msgspec.Struct):
    id: UUID
    tender_id: UUID
    tender_code: str
    lot_number: int
    issuer_id: UUID
    issuer_name: str
    product_id: UUID
    form: str
    amount: Decimal
    premium: Decimal
    valid_until: datetime
    status: str
    status_reason: str | None
    created_at: datetime


class PublicCheckOut(msgspec.Struct):
    """保函验真: what anyone with the number and the verification code learns."""

    number: str
    issuer: str
    form: str
    amount: Decimal
    valid_until: datetime
    status: str
    in_force: bool
    # the platform's checks of the issued terms that failed ([]: all passed)
    problems: list[str]
    # withheld (null) until the bid deadline (G8)
    tender_code: str | None
    lot_number: int | None
    bidder: str | None
