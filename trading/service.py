"""Tenders: the part the foundation needs (drafts, publication, the public list).

The schedule, the rules T1-T5 and the documents come with the tender
capability; this keeps the same table and adds to it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, money
from core.auth import Principal
from core.errors import Conflict, InvalidInput, NotFound
from trading import queries as q

STATUSES = ("published", "bidding_closed", "opened", "evaluating", "awarded", "failed",
            "cancelled")


async def create_tender(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor, *,
                        code: str, title: str, region: str, procedure: str,
                        budget: Decimal | None, agency_org_id: UUID | None) -> dict[str, Any]:
    principal.require("tenderer", "agency")
    if principal.organization_id is None:
        raise InvalidInput({"field": "organization"}, message="当前用户不属于任何单位",
                           message_en="You do not belong to an organization")
    if budget is not None:
        budget = money.amount(budget, "budget")
    if agency_org_id is not None:
        kind = await conn.fetchval("SELECT kind FROM organizations WHERE id = $1", agency_org_id)
        if kind != "agency":
            raise InvalidInput({"field": "agency_org_id"}, message="代理机构不存在或不是代理机构",
                               message_en="agency_org_id is not a tendering agency")
    tender_id = await conn.fetchval(q.INSERT_TENDER, code, title.strip(), region, procedure,
                                    principal.organization_id, agency_org_id, budget)
    await audit.record(conn, actor, "tender.create", "tender", tender_id,
                       {"code": code, "title": title, "budget": budget})
    return await get_tender(conn, principal, tender_id)


async def get_tender(conn: asyncpg.Connection, principal: Principal | None,
                     tender_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(q.GET_TENDER, tender_id)
    if row is None:
        raise NotFound()
    tender = dict(row)
    # A draft belongs to its owner and agency only; others see nothing.
    if tender["status"] == "draft" and not _is_party(principal, tender):
        raise NotFound()
    return tender


def _in_charge(principal: Principal | None, tender: dict[str, Any]) -> bool:
    """The tenderer's or the agency's staff who run tenders."""
    return principal is not None and principal.has("tenderer", "agency") and (
        principal.owns(tender["owner_org_id"]) or principal.owns(tender["agency_org_id"]))


def _is_party(principal: Principal | None, tender: dict[str, Any]) -> bool:
    """Who may see a draft: those in charge, and administrators."""
    return _in_charge(principal, tender) or (principal is not None and principal.has("admin"))


async def publish(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  tender_id: UUID) -> dict[str, Any]:
    tender = await get_tender(conn, principal, tender_id)
    if not _in_charge(principal, tender):
        raise NotFound()
    if await conn.fetchval(q.PUBLISH, tender_id) is None:
        raise Conflict({"status": tender["status"]}, message="只有草稿状态的项目可以发布",
                       message_en="Only a draft can be published")
    await audit.record(conn, actor, "tender.publish", "tender", tender_id)
    return await get_tender(conn, principal, tender_id)


async def list_public(conn: asyncpg.Connection, *, keyword: str | None, region: str | None,
                      status: str | None, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    if status is not None and status not in STATUSES:
        raise InvalidInput({"field": "status", "allowed": list(STATUSES)},
                           message="状态筛选值无效", message_en="Unknown status filter")
    rows = await conn.fetch(q.LIST_PUBLIC, keyword or None, region or None, status,
                            page_size, (page - 1) * page_size)
    total = rows[0]["total"] if rows else 0
    return [dict(r) for r in rows], total


async def list_own(conn: asyncpg.Connection, principal: Principal) -> list[dict[str, Any]]:
    if principal.organization_id is None:
        return []
    return [dict(r) for r in await conn.fetch(q.LIST_OWN, principal.organization_id)]
