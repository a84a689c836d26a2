"""Organizations, people and roles: the rules.

An organization is known by its unified social credit code, checked against
GB 32100-2015 before the database sees it. Only an administrator registers
organizations and people for now; self-registration with a certificate comes
with certificate login.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import audit, uscc
from core.auth import Principal, check_password, hash_password
from core.errors import BadCredentials, InvalidInput, NotFound
from core.identity import queries as q


async def create_organization(conn: asyncpg.Connection, actor: audit.Actor, *, credit_code: str,
                              name: str, kind: str, region: str = "") -> dict[str, Any]:
    code = uscc.validate(credit_code)
    row = dict(await conn.fetchrow(q.INSERT_ORGANIZATION, code, name.strip(), kind, region))
    await audit.record(conn, actor, "organization.create", "organization", row["id"],
                       {"credit_code": code, "name": row["name"], "kind": kind})
    return row


async def get_organization(conn: asyncpg.Connection, principal: Principal,
                           organization_id: UUID) -> dict[str, Any]:
    if not principal.has("supervisor"):
        principal.require_org(organization_id)
    row = await conn.fetchrow(q.GET_ORGANIZATION, organization_id)
    if row is None:
        raise NotFound()
    return dict(row)


async def list_members(conn: asyncpg.Connection, principal: Principal,
                       organization_id: UUID) -> list[dict[str, Any]]:
    principal.require_org(organization_id)
    return [dict(r) for r in await conn.fetch(q.LIST_MEMBERS, organization_id)]


async def create_user(conn: asyncpg.Connection, actor: audit.Actor, *, login: str, name: str,
                      roles: list[str], password: str | None = None,
                      organization_id: UUID | None = None, city: str = "",
                      email: str | None = None, phone: str | None = None) -> UUID:
    if organization_id is None and set(roles) & {"tenderer", "agency", "bidder", "insurer"}:
        raise InvalidInput({"field": "organization_id"},
                           message="该角色必须属于一个单位",
                           message_en="These roles need an organization")
    pw_hash = await hash_password(password) if password else None
    user_id: UUID = await conn.fetchval(q.INSERT_USER, login, name.strip(), organization_id,
                                        city, email, phone, pw_hash)
    for role in dict.fromkeys(roles):
        await conn.execute(q.INSERT_ROLE, user_id, role)
    await audit.record(conn, actor, "user.create", "user", user_id,
                       {"login": login, "roles": sorted(set(roles)),
                        "organization_id": organization_id})
    return user_id


async def get_user(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(q.GET_USER, user_id)
    if row is None:
        raise NotFound()
    return dict(row)


async def authenticate(conn: asyncpg.Connection, *, login: str, password: str) -> UUID:
    row = await conn.fetchrow(q.FIND_LOGIN, login.strip().lower())
    ok = await check_password(row["password_hash"] if row else None, password)
    if row is None or not ok or not row["is_active"]:
        raise BadCredentials()
    user_id: UUID = row["id"]
    return user_id
