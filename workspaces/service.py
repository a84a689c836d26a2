"""What each role's workspace shows, read through the domains' own rules where they have
them (the opening's collusion indicators, the trust store, the calendar, API keys)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.x509.oid import NameOID

from core import auth, calendar_admin, clock
from core.audit import Actor
from core.auth import Principal
from core.errors import NotFound
from signing import queries as signing_sql
from trading.opening import supervision
from trading.tenders import service as tenders
from workspaces import queries as q

LIST_LIMIT = 200
TENDER_LIMIT = 100

# A source of supervision flags for one lot past its deadline: a list of
# {"indicator", "kind", "value", "bidders"}. The opening's C1/C2 come first; the evaluation's
# and the archive's indicators are added here as those packages provide them.
FlagSource = Callable[[asyncpg.Connection, Principal, UUID], Awaitable[list[dict[str, Any]]]]


async def opening_flags(conn: asyncpg.Connection, principal: Principal,
                        lot_id: UUID) -> list[dict[str, Any]]:
    """C1 (shared address or device) and C2 (shared machine code) from the opening."""
    flags: list[dict[str, Any]] = (await supervision.supervision(conn, principal, lot_id))["flags"]
    return flags


FLAG_SOURCES: tuple[FlagSource, ...] = (opening_flags,)


def readable_subject(subject: str) -> str:
    """A certificate's subject as people read it: the organization, then the person (the
    credit code has its own column); the stored RFC 4514 text when it does not parse."""
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return subject
    parts = [str(a.value) for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)
             for a in name.get_attributes_for_oid(oid)]
    return " · ".join(dict.fromkeys(parts)) or subject


def _with_readable(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{**dict(r), "readable": readable_subject(r["subject"])} for r in rows]


def phase(tender: dict[str, Any], now: datetime) -> str:
    """The step a tender is at, finer than its status while it is published: documents on
    sale, then bidding until the deadline."""
    status: str = tender["status"]
    if status == "published":
        if tender["paused_since"] is not None:
            return "paused"
        if tender["documents_until"] is not None and now < tender["documents_until"]:
            return "documents"
        return "bidding"
    return status


async def supervised(conn: asyncpg.Connection, principal: Principal, *, live: bool,
                     now: datetime) -> list[dict[str, Any]]:
    """Live (or past) tenders with their phase and lots; each lot past its deadline carries
    its flags from every source."""
    principal.require("supervisor")
    rows = [dict(r) for r in await conn.fetch(q.SUPERVISED_TENDERS, live, TENDER_LIMIT)]
    lots: dict[UUID, list[dict[str, Any]]] = {}
    for r in await conn.fetch(q.SUPERVISED_LOTS, [t["id"] for t in rows]):
        lots.setdefault(r["tender_id"], []).append(dict(r))
    for tender in rows:
        tender["phase"] = phase(tender, now)
        tender["lots"] = lots.get(tender["id"], [])
        opened = tender["bid_deadline"] is not None and now >= tender["bid_deadline"]
        for lot in tender["lots"]:
            lot["flags"] = []
            if opened:
                for source in FLAG_SOURCES:
                    lot["flags"] += await source(conn, principal, lot["id"])
    return rows


def week_bounds(now: datetime) -> tuple[datetime, datetime, datetime, datetime]:
    """Today and this week (Monday to Sunday) in Asia/Shanghai, as [start, end) pairs."""
    today = clock.local_date(now)
    monday = today - timedelta(days=today.weekday())
    return (clock.day_start(today), clock.day_start(today + timedelta(days=1)),
            clock.day_start(monday), clock.day_start(monday + timedelta(days=7)))


async def openings(conn: asyncpg.Connection, principal: Principal, *,
                   now: datetime) -> dict[str, Any]:
    """The lots opening today and this week: a lot opens at its tender's bid deadline."""
    principal.require("site_operator")
    day_from, day_to, week_from, week_to = week_bounds(now)
    week = [dict(r) for r in await conn.fetch(q.OPENINGS_BETWEEN, week_from, week_to)]
    today = [r for r in week if day_from <= r["bid_deadline"] < day_to]
    return {"today": today, "week": week, "week_from": week_from,
            "week_to": week_to - timedelta(days=1)}


async def tenderer_desk(conn: asyncpg.Connection, principal: Principal) -> dict[str, Any]:
    """The organization's tenders and what waits for its answer or signature.

    Counts of objections, never who objected: the workspace lists nothing that names a
    potential bidder before the deadline (T7)."""
    org = principal.organization_id
    if org is None:
        return {"tenders": [], "objections": [], "opening_objections": [], "unsigned": [],
                "drafts": []}
    return {
        "tenders": await tenders.list_own(conn, principal),
        "objections": [dict(r) for r in await conn.fetch(q.OPEN_OBJECTIONS, org)],
        "opening_objections": [dict(r) for r in await conn.fetch(q.OPEN_OPENING_OBJECTIONS, org)],
        "unsigned": [dict(r) for r in await conn.fetch(q.UNSIGNED_NOTICES, org)],
        "drafts": [dict(r) for r in await conn.fetch(q.DRAFT_TENDERS, org)],
    }


async def admin_desk(conn: asyncpg.Connection, principal: Principal, *,
                     year: int) -> dict[str, Any]:
    """People, organizations, certificates, API keys, the trust store and the calendar."""
    principal.require("admin")
    days, months = await calendar_admin.year_calendar(conn, year=year)
    return {
        "people": [dict(r) for r in await conn.fetch(q.PEOPLE, LIST_LIMIT)],
        "people_total": await conn.fetchval(q.COUNT_USERS),
        "organizations": [dict(r) for r in await conn.fetch(q.ORGANIZATIONS, LIST_LIMIT)],
        "organizations_total": await conn.fetchval(q.COUNT_ORGANIZATIONS),
        "certificates": _with_readable(await conn.fetch(q.CERTIFICATES, LIST_LIMIT)),
        "api_keys": [dict(r) for r in await conn.fetch(q.API_KEYS, LIST_LIMIT, None)],
        "cas": _with_readable(await conn.fetch(signing_sql.LIST_CAS)),
        "year": year, "days": days, "months": months, "working_days": sum(months),
        "limit": LIST_LIMIT,
    }


async def revoke_any_key(conn: asyncpg.Connection, principal: Principal, actor: Actor, *,
                         key_id: UUID) -> dict[str, Any]:
    """An administrator revokes anyone's key (a leaked one, a person who left): the owner's
    own revocation, done on their behalf and audited under the administrator's name."""
    principal.require("admin")
    owner = await conn.fetchval(q.API_KEY_OWNER, key_id)
    if owner is None:
        raise NotFound()
    return await auth.revoke_api_key(conn, actor, user_id=owner, key_id=key_id)


async def own_desk(conn: asyncpg.Connection, principal: Principal) -> dict[str, Any]:
    """What an expert or an insurer already has: bound certificates and API keys."""
    return {
        "certificates": _with_readable(await conn.fetch(q.MY_CERTIFICATES, principal.user_id)),
        "api_keys": [dict(r) for r in await conn.fetch(q.API_KEYS, LIST_LIMIT,
                                                       principal.user_id)],
    }
