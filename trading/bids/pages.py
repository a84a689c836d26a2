"""Bid pages: the bidder's own bids and receipts, and what other pages show about bids.

Pages read through the bid services and change nothing themselves (the
withdrawal form posts to the JSON API), so they show exactly what the API
would: a bidder sees its own organization's bids and nobody else's; before
the deadline nobody else learns whether anyone bid at all, and after it the
staff in charge and supervisors see a count per lot, never who.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.auth import Principal
from core.deps import Conn, MaybeUser
from core.errors import NotFound
from core.identity import service as identity
from core.pages import login_redirect, page_context
from trading.bids import service, uploads
from trading.tenders import service as tenders

Req = Request[Any, Any, Any]


def _is_bidder(principal: Principal | None) -> bool:
    return principal is not None and principal.has("bidder") and \
        principal.organization_id is not None


def bidding_open(tender: dict[str, Any], now: datetime) -> bool:
    """Whether a bid can still be sent (the API decides again, under its lock, when it arrives)."""
    return tender["status"] == "published" and tender["bid_deadline"] is not None and \
        now < tender["bid_deadline"]


def _by_tender(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bids grouped by tender, the tender with the latest bid first, lots in order within."""
    groups: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        group = groups.setdefault(row["tender_id"], {
            "id": row["tender_id"], "code": row["tender_code"], "title": row["tender_title"],
            "bid_deadline": row["bid_deadline"], "bids": []})
        group["bids"].append(row)
    for group in groups.values():
        group["bids"].sort(key=lambda b: (b["lot_number"], -b["received_at"].timestamp()))
    return list(groups.values())


@get("/bids", include_in_schema=False)
async def my_bids(request: Req, conn: Conn, principal: MaybeUser) -> Template | Redirect:
    """Every bid of the organization, the replaced and withdrawn ones included, with receipts."""
    if principal is None:
        return login_redirect(request)
    context: dict[str, Any] = {"bidder": _is_bidder(principal), "groups": [], "biddable": []}
    if context["bidder"]:
        rows = await service.mine(conn, principal)
        current = {(r["tender_id"], r["lot_number"]): r for r in rows
                   if r["status"] == "submitted"}
        context["groups"] = _by_tender(rows)
        context["biddable"] = [
            b | {"current": current.get((b["tender_id"], b["lot_number"]))}
            for b in await service.biddable(conn, principal)]
    return Template("bids/mine.html", context=page_context(
        request, principal, now=await service.clock(conn),
        base_url=str(request.base_url).rstrip("/"), **context))


@get("/bids/{bid_id:uuid}", include_in_schema=False)
async def bid_page(request: Req, conn: Conn, principal: MaybeUser,
                   bid_id: FromPath[UUID]) -> Template | Redirect:
    """One bid: what the platform received, its receipts, how to check them, and withdrawal."""
    if principal is None:
        return login_redirect(request)
    bid = await service.own_bid(conn, principal, bid_id)
    tender = await tenders.get_tender(conn, principal, bid["tender_id"])
    now = await service.clock(conn)
    return Template("bids/bid.html", context=page_context(
        request, principal, bid=bid, tender=tender, now=now,
        bidding_open=bidding_open(tender, now), base_url=str(request.base_url).rstrip("/")))


@cache
def price_rules() -> dict[str, Any]:
    """The limits of the price sheet as docs/schemas/price.schema.json states them.

    The sealing page checks each field against these before it seals, so the
    page and the schema the tool and the platform use cannot drift apart.
    """
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schemas" /
                         "price.schema.json").read_text(encoding="utf-8"))
    sheet = schema["$defs"]["PriceSheet"]["properties"]

    def bounds(name: str) -> dict[str, Any]:
        for option in sheet[name]["anyOf"]:
            if option["type"] != "null":
                return {k: v for k, v in option.items() if k != "type"}
        return {}

    return {"total_price": sheet["total_price"]["pattern"],
            "duration_days": bounds("duration_days"), "warranty_months": bounds("warranty_months"),
            "quality": bounds("quality"), "discount_note": bounds("discount_note"),
            "item_name": schema["$defs"]["DeclaredItem"]["properties"]["name"],
            "item_value": schema["$defs"]["DeclaredItem"]["properties"]["value"],
            "items": sheet["items"]["maxItems"]}


@get("/tenders/{tender_id:uuid}/lots/{number:int}/seal", include_in_schema=False)
async def seal_page(request: Req, conn: Conn, principal: MaybeUser, tender_id: FromPath[UUID],
                    number: FromPath[int]) -> Template | Redirect:
    """Seal and submit a bid in the page: the files never leave the browser unencrypted.

    The page needs what the tool needs: the lot's opening certificate
    fingerprint, the organization's name and credit code for the price sheet,
    and the limits of the price sheet. Whether the organization obtained the
    documents and the deadline are checked again by the API at each step.
    """
    if principal is None:
        return login_redirect(request)
    tender = await tenders.get_tender(conn, principal, tender_id)
    lot = next((lot for lot in tender["lots"] if lot["number"] == number), None)
    if lot is None:
        raise NotFound()
    now = await service.clock(conn)
    context: dict[str, Any] = {"tender": tender, "lot": lot, "now": now,
                               "bidder": _is_bidder(principal), "obtained": False,
                               "bidding_open": bidding_open(tender, now), "current": None,
                               "price_rules": price_rules()}
    if context["bidder"]:
        context["obtained"] = any(
            b["tender_id"] == tender_id and b["lot_number"] == number
            for b in await service.biddable(conn, principal))
        context["current"] = next(
            (b for b in await service.mine(conn, principal, tender_id)
             if b["lot_number"] == number and b["status"] == "submitted"), None)
        context["organization"] = await identity.get_organization(
            conn, principal, uploads.bidder_org(principal))
        # checked in the page before sealing: a bid over it would be refused after pass 1
        context["max_bid_bytes"] = (await uploads.lot_for(conn, tender_id, number))["max_bid_bytes"]
    return Template("bids/seal.html", context=page_context(
        request, principal, base_url=str(request.base_url).rstrip("/"), **context))


async def tender_context(conn: asyncpg.Connection, principal: Principal | None,
                         tender: dict[str, Any], *, holder: bool) -> dict[str, Any]:
    """What a tender's pages show about bids, to this caller and no one else.

    ``my_bids``: for a bidder holding the documents, its latest bid in each lot
    (None for everyone else). ``bid_counts``: bids per lot for those the counts
    service admits, after the deadline (None otherwise, and for everyone before).
    """
    now = await service.clock(conn)
    context: dict[str, Any] = {"my_bids": None, "bid_counts": None, "bid_now": now,
                               "bidding_open": bidding_open(tender, now)}
    if holder and principal is not None and _is_bidder(principal):
        latest: dict[int, dict[str, Any]] = {}
        for row in await service.mine(conn, principal, tender["id"]):
            latest.setdefault(row["lot_number"], row)  # newest first
        context["my_bids"] = latest
    deadline = tender["bid_deadline"]
    if principal is not None and tender["published_at"] is not None and deadline is not None \
            and now >= deadline and service.may_count(principal, tender):
        context["bid_counts"] = {r["number"]: r["bids"]
                                 for r in await service.counts(conn, principal, tender["id"])}
    return context


ROUTES = [my_bids, bid_page, seal_page]
