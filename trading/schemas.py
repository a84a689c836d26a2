"""Wire formats for tenders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec

Procedure = Annotated[str, msgspec.Meta(pattern=r"^(open|invited|gp_open|gp_invited|gp_competitive_negotiation|gp_competitive_consultation|gp_single_source|gp_inquiry)$")]  # noqa: E501


class TenderIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{4,40}$")]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    region: Annotated[str, msgspec.Meta(max_length=100)] = ""
    procedure: Procedure = "open"
    budget: Decimal | None = None
    agency_org_id: UUID | None = None


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


class TenderPage(msgspec.Struct):
    items: list[TenderOut]
    total: int
    page: int
    page_size: int
