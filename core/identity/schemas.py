"""Wire formats for organizations, people, logins and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

Login = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
OrgKind = Annotated[str, msgspec.Meta(pattern=r"^(platform|trading_centre|tenderer|agency|bidder|insurer|bank|supervision|expert_affiliation)$")]  # noqa: E501
Role = Annotated[str, msgspec.Meta(pattern=r"^(admin|tenderer|agency|bidder|expert|site_operator|supervisor|insurer)$")]  # noqa: E501


class OrganizationIn(msgspec.Struct, forbid_unknown_fields=True):
    credit_code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    name: Name
    kind: OrgKind
    region: Annotated[str, msgspec.Meta(max_length=100)] = ""


class OrganizationOut(msgspec.Struct):
    id: UUID
    credit_code: str
    name: str
    kind: str
    region: str
    created_at: datetime


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Login
    name: Name
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=8)]
    password: Password | None = None
    organization_id: UUID | None = None
    city: Annotated[str, msgspec.Meta(max_length=50)] = ""
    email: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class UserOut(msgspec.Struct):
    id: UUID
    login: str
    name: str
    organization_id: UUID | None
    roles: list[str]
    city: str = ""


class MemberOut(msgspec.Struct):
    id: UUID
    login: str
    name: str
    city: str
    roles: list[str]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    # days until the key expires; the deployment's default when absent, never past its
    # maximum (API_KEY_DAYS, API_KEY_MAX_DAYS)
    days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class ApiKeyInfo(msgspec.Struct):
    """A key as its owner lists it: never the secret, which was shown once."""

    id: UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyOut(msgspec.Struct):
    id: UUID
    name: str
    key: str
    prefix: str
    created_at: datetime
    expires_at: datetime
