"""Tender pages: the public list and announcement, the bidder's documents, the staff's tender pages.

Pages read through the same services as the API and change nothing
themselves: their forms post to the JSON API (static/forms.js), so a page
and a machine client get the same rules and the same error codes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Protocol, runtime_checkable
from uuid import UUID

import asyncpg
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from core import clock
from core.clock import SHANGHAI
from core.deps import Conn, MaybeUser
from core.errors import InvalidInput, NotFound
from core.pages import login_redirect, page_context
from trading.tenders import (
    clarifications,
    documents,
    holders,
    notices,
    objections,
    portal,
    presentation,
    service,
)
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql
from trading.tenders.queries import officers as officer_sql
from trading.tenders.queries import tenders as tender_sql

PAGE_SIZE = 20
SECTION_SIZE = 10
STAFF_ROLES = ("tenderer", "agency")
Req = Request[Any, Any, Any]


@runtime_checkable
class BidSections(Protocol):
    """What a tender's pages show about its bids (a bidder's own, the counts after the
    deadline). Bids come after tenders, so the bids package provides it and the application
    hands it to these pages as the ``bid_sections`` dependency (``app.py``)."""

    async def __call__(self, conn: asyncpg.Connection, principal: Any, tender: dict[str, Any],
                       *, holder: bool) -> dict[str, Any]: ...


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput({"field": field}, message="日期格式应为 YYYY-MM-DD",
                           message_en="Dates are written YYYY-MM-DD") from None


@get("/", include_in_schema=False)
async def tender_list(
    request: Req, conn: Conn, principal: MaybeUser,
    q_: Annotated[str | None, QueryParameter(name="q", max_length=100)] = None,
    region: Annotated[str | None, QueryParameter(max_length=100)] = None,
    procedure: Annotated[str | None, QueryParameter(max_length=40)] = None,
    status: Annotated[str | None, QueryParameter(max_length=30)] = None,
    from_: Annotated[str | None, QueryParameter(name="published_from", max_length=10)] = None,
    to: Annotated[str | None, QueryParameter(name="published_to", max_length=10)] = None,
    page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
    changes_page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
    openings_page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
) -> Template:
    """The portal: a section per notice type (tender notices, amendments and clarifications,
    opening records), each with its own pager; every filter of the API applies to all of
    them (the state filter to tender notices only) and is kept in the pagers' links.

    A form sends its empty fields too (``published_from=``): empty means no filter here.
    """
    published_from, published_to = _day(from_, "published_from"), _day(to, "published_to")
    filters = {"q": q_ or "", "region": region or "", "procedure": procedure or "",
               "status": status or "",
               "published_from": published_from.isoformat() if published_from else "",
               "published_to": published_to.isoformat() if published_to else ""}
    rows, total = await service.list_public(
        conn, keyword=q_, region=region, status=status or None, page=page, page_size=PAGE_SIZE,
        procedure=procedure or None, published_from=published_from, published_to=published_to)
    sections: dict[str, dict[str, Any]] = {}
    for name, at in (("changes", changes_page), ("openings", openings_page)):
        items, count = await portal.list_section(
            conn, name, keyword=q_, region=region, procedure=procedure or None,
            published_from=published_from, published_to=published_to, page=at,
            page_size=SECTION_SIZE)
        sections[name] = {"rows": items, "total": count, "page": at,
                          "pages": max(1, -(-count // SECTION_SIZE))}
    query = {k: v for k, v in filters.items() if v}
    pages = {"page": page, "changes_page": changes_page, "openings_page": openings_page}
    return Template("tenders/list.html", context=page_context(
        request, principal, tenders=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), filters=filters, sections=sections,
        query=query, at={k: v for k, v in pages.items() if v > 1},
        regions=await service.public_regions(conn), procedures=service.PROCEDURES,
        statuses=service.STATUSES))


@get("/tenders/{tender_id:uuid}", include_in_schema=False)
async def announcement_page(request: Req, conn: Conn, principal: MaybeUser,
                            tender_id: FromPath[UUID],
                            bid_sections: NamedDependency[BidSections]) -> Template:
    """The announcement: schedule, lots, signed notices and documents, and how to verify them."""
    tender = await service.get_tender(conn, principal, tender_id)
    staff = service.in_charge(principal, tender)
    docs = await documents.listing(conn, tender_id, published_only=True)
    published = [dict(r) for r in await conn.fetch(notice_sql.NOTICES, tender_id, True)]
    holder = False
    mine: list[dict[str, Any]] = []
    if principal is not None and principal.has("bidder") and principal.organization_id:
        holder = bool(await conn.fetchval(document_sql.IS_HOLDER, tender_id, principal.organization_id))
        if tender["status"] != "draft":
            mine = await objections.listing(conn, principal, tender_id)
    now = await clock.db_now(conn)
    bids = await bid_sections(conn, principal, tender, holder=holder)
    return Template("tenders/announcement.html", context=page_context(
        request, principal, tender=tender, staff=staff, documents=docs, notices=published,
        holder=holder, objections=mine, now=now, **bids,
        parties=await notices.parties(conn, tender),
        amounts=presentation.amounts(tender, tender["lots"]),
        base_url=str(request.base_url).rstrip("/"),
        obtainable=tender["status"] == "published" and tender["documents_from"] is not None
        and tender["documents_from"] <= now <= tender["documents_until"]))


async def _form_choices(conn: asyncpg.Connection, orgs: list[UUID | None]) -> dict[str, Any]:
    return {
        "candidates": [dict(r) for r in await conn.fetch(officer_sql.OFFICER_CANDIDATES,
                                                         [o for o in orgs if o])],
        "agencies": [dict(r) for r in await conn.fetch(tender_sql.AGENCIES)],
        "procedures": service.PROCEDURES,
    }


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def _default_schedule(now: datetime) -> dict[str, str]:
    """A schedule that meets T1 and T2 as it stands: documents from now for 7 days, the
    deadline at 09:30 on day 22."""
    start = now.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    deadline = (start + timedelta(days=22)).replace(hour=9, minute=30)
    return {"documents_from": _local(start), "documents_until": _local(start + timedelta(days=7)),
            "clarification_deadline": _local(deadline - timedelta(days=15)),
            "bid_deadline": _local(deadline)}


@get("/workspace/new", include_in_schema=False)
async def new_tender_page(request: Req, conn: Conn,
                          principal: MaybeUser) -> Template | Redirect:
    if principal is None:
        return login_redirect(request)
    principal.require(*STAFF_ROLES)
    now = await clock.db_now(conn)
    return Template("tenders/edit.html", context=page_context(
        request, principal, tender=None, schedule=_default_schedule(now),
        **await _form_choices(conn, [principal.organization_id])))


@get("/workspace/tenders/{tender_id:uuid}", include_in_schema=False)
async def manage_page(request: Req, conn: Conn, principal: MaybeUser,
                      tender_id: FromPath[UUID],
                      bid_sections: NamedDependency[BidSections]) -> Template | Redirect:
    """Everything the staff in charge do with one tender, by state."""
    if principal is None:
        return login_redirect(request)
    tender = await service.get_tender(conn, principal, tender_id)
    if not service.in_charge(principal, tender):
        raise NotFound()
    notices = [dict(r) for r in await conn.fetch(notice_sql.NOTICES, tender_id, False)]
    # T7: who obtained the documents (and so who received a clarification) stays sealed
    # until the deadline; then the staff see numbers only
    holder_view = await holders.page_view(conn, principal, tender)
    deliveries = {n["id"]: await clarifications.deliveries(conn, principal, tender_id, n["id"])
                  for n in notices if n["kind"] != "tender" and n["status"] == "published"
                  } if holder_view is not None else {}
    docs = await documents.listing(conn, tender_id, published_only=False)
    context: dict[str, Any] = {}
    if tender["status"] == "draft":
        context = await _form_choices(conn, [tender["owner_org_id"], tender["agency_org_id"]])
        context["schedule"] = {k: _local(tender[k]) if tender[k] else ""
                               for k in ("documents_from", "documents_until",
                                         "clarification_deadline", "bid_deadline")}
    context |= await bid_sections(conn, principal, tender, holder=False)
    return Template("tenders/manage.html", context=page_context(
        request, principal, tender=tender, notices=notices, deliveries=deliveries,
        documents=docs, holders=holder_view,
        objections=await objections.listing(conn, principal, tender_id),
        draft_notice=next((n for n in notices if n["status"] == "draft"), None), **context))


ROUTES = [tender_list, announcement_page, new_tender_page, manage_page]
