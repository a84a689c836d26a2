"""Tenders from draft to publication, cancellation and re-tendering.

A draft is edited freely by the tenderer's or agency's staff (with a version
check, so two editors do not overwrite each other). The rules T1, T2, T5 and
the weights are checked on every save once the part they need is filled in,
and all of them at publication; T6 and the order of the schedule are
constraints in PostgreSQL. After publication the schedule changes only
through clarifications and amendments (T3).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, clock, money
from core.auth import Principal
from core.errors import InvalidInput, NotFound
from trading.tenders import releases, rules
from trading.tenders.errors import BadWeights, IncompleteSchedule, InvalidTransition, NoLots, StaleVersion
from trading.tenders.queries import officers as officer_sql
from trading.tenders.queries import tenders as tender_sql

STATUSES = ("published", "bidding_closed", "opened", "evaluating", "awarded", "failed",
            "cancelled")
# Cancellation is possible at any state before the award.
PROCEDURES = ("open", "invited", "gp_open", "gp_invited", "gp_competitive_negotiation",
              "gp_competitive_consultation", "gp_single_source", "gp_inquiry")
CANCELLABLE = ("draft", "published", "bidding_closed", "opened", "evaluating")
WEIGHT_KEYS = frozenset({"price", "technical", "commercial"})
# E6: a government procurement's price weight is at least 30% (goods) or 10% (services)
GP_MIN_PRICE_WEIGHT = {"goods": 30, "services": 10}


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """Amounts to the fen, names trimmed; the checks a msgspec schema cannot express."""
    out = dict(data)
    out["title"] = out["title"].strip()
    for field in ("budget", "ceiling_price", "security_cap_amount"):
        if out.get(field) is not None:
            out[field] = money.amount(Decimal(out[field]), field)
    if set(out["weights"]) - WEIGHT_KEYS or sum(out["weights"].values()) != 100:
        raise BadWeights({"weights": out["weights"]})
    minimum = GP_MIN_PRICE_WEIGHT.get(out["sector"])
    if (rules.is_government(out["procedure"]) and minimum is not None
            and out["evaluation_method"] == "comprehensive"
            and out["weights"].get("price", 0) < minimum):
        raise BadWeights({"price_weight_minimum": minimum},
                         message=f"政府采购价格分权重不得低于{minimum}%",
                         message_en=f"Government procurement: the price weight is at least {minimum}%")
    cap = Decimal(out["security_cap_percent"])
    if not (cap.is_finite() and 0 < cap <= 2):
        raise rules.SecurityTooHigh({"field": "security_cap_percent", "maximum": "2"})
    out["security_cap_percent"] = cap
    if out["officers_k"] > out["officers_n"]:
        raise InvalidInput({"field": "officers_k"}, message="开标密钥门限 k 不能大于 n",
                           message_en="officers_k cannot exceed officers_n")
    out["security_forms"] = sorted(set(out["security_forms"]))
    officers = out.get("officer_ids") or []
    if len(set(officers)) != len(officers) or len(officers) > out["officers_n"]:
        raise InvalidInput({"field": "officer_ids", "officers_n": out["officers_n"]},
                           message="开标人重复或多于设定人数 n",
                           message_en="Opening officers repeat or outnumber officers_n")
    out["officer_ids"] = officers
    lots = []
    for lot in out.pop("lots", []):
        lots.append({**lot, "title": lot["title"].strip(),
                     "budget": money.amount(Decimal(lot["budget"]), "lots.budget"),
                     "security_amount": money.amount(Decimal(lot["security_amount"]),
                                                     "lots.security_amount", allow_zero=True),
                     "ceiling_price": None if lot.get("ceiling_price") is None else
                     money.amount(Decimal(lot["ceiling_price"]), "lots.ceiling_price")})
    if len({lot["number"] for lot in lots}) != len(lots):
        raise InvalidInput({"field": "lots.number"}, message="标段编号重复",
                           message_en="Lot numbers must be unique")
    out["lots"] = lots
    return out


async def _check_agency(conn: asyncpg.Connection, agency_org_id: UUID | None) -> None:
    if agency_org_id is None:
        return
    kind = await conn.fetchval(tender_sql.ORGANIZATION_KIND, agency_org_id)
    if kind != "agency":
        raise InvalidInput({"field": "agency_org_id"}, message="代理机构不存在或不是代理机构",
                           message_en="agency_org_id is not a tendering agency")


async def check_rules(conn: asyncpg.Connection, tender: dict[str, Any],
                      lots: list[dict[str, Any]], *, publishing: bool) -> None:
    """T1, T2 (when the schedule is set) and T5 (for the lots there are)."""
    s = tender
    if s["documents_from"] and s["documents_until"] and s["bid_deadline"]:
        schedule = rules.Schedule(s["documents_from"], s["documents_until"], s["bid_deadline"],
                                  s["clarification_deadline"])
        start, end = (clock.local_date(schedule.documents_from),
                      clock.local_date(schedule.documents_until))
        calendar = await clock.load_calendar(conn, start, end + timedelta(days=1))
        rules.check_schedule(schedule, government=rules.is_government(s["procedure"]),
                             calendar=calendar)
    elif publishing:
        raise IncompleteSchedule()
    if publishing and not lots:
        raise NoLots()
    rules.check_security(
        [rules.LotSecurity(lot["number"], lot["budget"], lot["security_amount"]) for lot in lots],
        sector=s["sector"], cap_percent=s["security_cap_percent"],
        cap_amount=s["security_cap_amount"])


async def _save_officers(conn: asyncpg.Connection, tender_id: UUID, orgs: list[UUID | None],
                         officers: list[UUID]) -> None:
    """Officers are staff of the tenderer or the agency (a trading centre's staff later)."""
    found = await conn.fetch(officer_sql.ELIGIBLE_OFFICERS, officers, orgs)
    if len(found) != len(officers):
        raise InvalidInput({"field": "officer_ids"}, message="开标人须为招标人或代理机构的在职人员",
                           message_en="Opening officers are active staff of the tenderer or "
                                      "the agency")
    await conn.execute(officer_sql.DELETE_OFFICERS, tender_id)
    await conn.executemany(officer_sql.INSERT_OFFICER,
                           [(tender_id, user_id, i) for i, user_id in enumerate(officers, start=1)])


async def _save_lots(conn: asyncpg.Connection, tender_id: UUID,
                     lots: list[dict[str, Any]]) -> None:
    await conn.execute(tender_sql.DELETE_LOTS, tender_id)
    await conn.executemany(tender_sql.INSERT_LOT, [
        (tender_id, lot["number"], lot["title"], lot["budget"], lot["security_amount"],
         lot["ceiling_price"]) for lot in lots])


async def create_tender(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor, *,
                        data: dict[str, Any],
                        previous_tender_id: UUID | None = None) -> dict[str, Any]:
    principal.require("tenderer", "agency")
    if principal.organization_id is None:
        raise InvalidInput({"field": "organization"}, message="当前用户不属于任何单位",
                           message_en="You do not belong to an organization")
    clean = _clean(data)
    await _check_agency(conn, clean["agency_org_id"])
    await check_rules(conn, clean, clean["lots"], publishing=False)
    tender_id = await conn.fetchval(tender_sql.INSERT_TENDER, principal.organization_id,
                                    previous_tender_id, *(clean[c] for c in tender_sql.EDITABLE))
    await _save_lots(conn, tender_id, clean["lots"])
    await _save_officers(conn, tender_id, [principal.organization_id, clean["agency_org_id"]],
                         clean["officer_ids"])
    await audit.record(conn, actor, "tender.create", "tender", tender_id,
                       {"code": clean["code"], "title": clean["title"],
                        "budget": clean["budget"], "previous": previous_tender_id})
    return await get_tender(conn, principal, tender_id)


async def update_draft(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                       tender_id: UUID, *, version: int, data: dict[str, Any]) -> dict[str, Any]:
    tender = await locked_for(conn, principal, tender_id)
    if tender["status"] != "draft":
        raise InvalidTransition({"status": tender["status"]},
                                message="已发布的项目只能通过澄清或修改公告变更",
                                message_en="A published tender changes only through "
                                           "clarifications and amendments")
    if version != tender["version"]:
        raise StaleVersion({"version": tender["version"]})
    clean = _clean(data)
    await _check_agency(conn, clean["agency_org_id"])
    await check_rules(conn, clean, clean["lots"], publishing=False)
    await conn.fetchval(tender_sql.UPDATE_DRAFT, tender_id, version,
                        *(clean[c] for c in tender_sql.EDITABLE))
    await _save_lots(conn, tender_id, clean["lots"])
    await _save_officers(conn, tender_id, [tender["owner_org_id"], clean["agency_org_id"]],
                         clean["officer_ids"])
    await audit.record(conn, actor, "tender.update", "tender", tender_id,
                       {"version": version + 1})
    return await get_tender(conn, principal, tender_id)


async def get_tender(conn: asyncpg.Connection, principal: Principal | None,
                     tender_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    if row is None:
        raise NotFound()
    tender = dict(row)
    # A draft (cancelled ones too) belongs to its owner and agency only; others see nothing.
    if tender["published_at"] is None and not _is_party(principal, tender):
        raise NotFound()
    tender["lots"] = [
        {**dict(r), "security_cap": rules.security_cap(
            r["budget"], sector=tender["sector"], cap_percent=tender["security_cap_percent"],
            cap_amount=tender["security_cap_amount"])}
        for r in await conn.fetch(tender_sql.LOTS, tender_id)]
    tender["officers"] = ([{k: r[k] for k in ("user_id", "position", "login", "name")}
                           | {"has_encryption_cert": r["encryption_cert"] is not None}
                           for r in await conn.fetch(officer_sql.OFFICERS, tender_id)]
                          if in_charge(principal, tender) else [])
    return tender


async def locked_for(conn: asyncpg.Connection, principal: Principal,
                     tender_id: UUID) -> dict[str, Any]:
    """The tender row locked for a change by the staff in charge of it."""
    row = await conn.fetchrow(tender_sql.LOCK_TENDER, tender_id)
    if row is None or not in_charge(principal, dict(row)):
        raise NotFound()
    return dict(row)


async def for_staff(conn: asyncpg.Connection, principal: Principal,
                    tender_id: UUID) -> dict[str, Any]:
    """The tender row, for the staff in charge of it (others: not found)."""
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    if row is None or not in_charge(principal, dict(row)):
        raise NotFound()
    return dict(row)


def in_charge(principal: Principal | None, tender: dict[str, Any]) -> bool:
    """The tenderer's or the agency's staff who run tenders."""
    return principal is not None and principal.has("tenderer", "agency") and (
        principal.owns(tender["owner_org_id"]) or principal.owns(tender["agency_org_id"]))


def _is_party(principal: Principal | None, tender: dict[str, Any]) -> bool:
    """Who may see a draft: those in charge, and administrators."""
    return in_charge(principal, tender) or (principal is not None and principal.has("admin"))


async def cancel(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                 tender_id: UUID, *, reason: str) -> dict[str, Any]:
    tender = await locked_for(conn, principal, tender_id)
    if await conn.fetchval(tender_sql.CANCEL, tender_id, reason.strip(), list(CANCELLABLE)) is None:
        raise InvalidTransition({"status": tender["status"]},
                                message="项目已定标、流标或终止，不能再终止",
                                message_en="An awarded, failed or cancelled tender cannot be "
                                           "cancelled")
    await audit.record(conn, actor, "tender.cancel", "tender", tender_id,
                       {"reason": reason.strip(), "from": tender["status"]})
    if tender["status"] != "draft":  # a draft was never released
        await releases.record(conn, tender_id, "tenderCancellation")
    return await get_tender(conn, principal, tender_id)


async def fail(conn: asyncpg.Connection, actor: audit.Actor, tender_id: UUID, *,
               reason: str, from_status: str = "bidding_closed") -> None:
    """流标: the opening found too few bids (S5) or the evaluation rejected them all."""
    if await conn.fetchval(tender_sql.SET_STATUS, tender_id, from_status, "failed") is None:
        raise InvalidTransition({"expected": from_status})
    await conn.execute(tender_sql.SET_DUE, tender_id, None, None)
    await audit.record(conn, actor, "tender.fail", "tender", tender_id, {"reason": reason})


async def retender(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                   tender_id: UUID, *, code: str) -> dict[str, Any]:
    """A failed tender tendered again: a new draft with the same terms, linked to the old one.

    The schedule is left empty (the old one is in the past); the lots are copied.
    """
    old = await locked_for(conn, principal, tender_id)
    if old["status"] != "failed":
        raise InvalidTransition({"status": old["status"]}, message="只有流标的项目可以重新招标",
                                message_en="Only a failed tender can be tendered again")
    data = {c: old[c] for c in tender_sql.EDITABLE}
    data.update(code=code, documents_from=None, documents_until=None,
                clarification_deadline=None, bid_deadline=None, lots=[],
                officer_ids=[r["user_id"] for r in await conn.fetch(officer_sql.OFFICERS, tender_id)])
    new = await create_tender(conn, principal, actor, data=data, previous_tender_id=tender_id)
    await conn.execute(tender_sql.COPY_LOTS, tender_id, new["id"])
    return await get_tender(conn, principal, new["id"])


async def list_public(conn: asyncpg.Connection, *, keyword: str | None, region: str | None,
                      status: str | None, page: int, page_size: int, procedure: str | None = None,
                      published_from: date | None = None, published_to: date | None = None,
                      ) -> tuple[list[dict[str, Any]], int]:
    """One page of non-draft tenders, newest first; dates are days in Asia/Shanghai, inclusive."""
    if status is not None and status not in STATUSES:
        raise InvalidInput({"field": "status", "allowed": list(STATUSES)},
                           message="状态筛选值无效", message_en="Unknown status filter")
    if procedure is not None and procedure not in PROCEDURES:
        raise InvalidInput({"field": "procedure", "allowed": list(PROCEDURES)},
                           message="采购方式筛选值无效", message_en="Unknown procedure filter")
    if published_from and published_to and published_from > published_to:
        raise InvalidInput({"field": "published_to"}, message="结束日期早于开始日期",
                           message_en="The end date is before the start date")
    since = clock.day_start(published_from) if published_from else None
    until = clock.day_start(published_to + timedelta(days=1)) if published_to else None
    statement, args = tender_sql.list_public(
        {"keyword": keyword or None, "region": region or None, "status": status,
         "procedure": procedure, "since": since, "until": until},
        limit=page_size, offset=(page - 1) * page_size)
    rows = await conn.fetch(statement, *args)
    total = rows[0]["total"] if rows else 0
    return [dict(r) for r in rows], total


async def public_regions(conn: asyncpg.Connection) -> list[str]:
    return [r["region"] for r in await conn.fetch(tender_sql.PUBLIC_REGIONS)]


async def list_own(conn: asyncpg.Connection, principal: Principal) -> list[dict[str, Any]]:
    if principal.organization_id is None:
        return []
    return [dict(r) for r in await conn.fetch(tender_sql.LIST_OWN, principal.organization_id)]
