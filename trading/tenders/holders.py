"""Who obtained the documents, and who may learn it (T7).

Before the bid deadline nobody learns the names or the number of the
organizations that obtained the documents: not the tenderer, not the agency,
not a supervisor. Knowing who might bid is what collusion and bid rigging
start from, and the tenderer's side is where the law expects the pressure.
The platform alone reaches the holders, with clarifications (T3).

From the deadline on, the staff in charge of the tender learn how many
organizations obtained the documents, and supervisors also learn which.
"Reached" is the clock and the state together: the deadline has passed and
the tender has left ``published`` (a paused tender has not reached it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from core import clock
from core.auth import Principal
from core.errors import NotFound
from trading.tenders import service
from trading.tenders.errors import HoldersSealed
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import tenders as tender_sql

Disclosure = Literal["names", "count"]


def sealed(tender: dict[str, Any], now: datetime) -> bool:
    return (tender["status"] in ("draft", "published") or tender["bid_deadline"] is None
            or now < tender["bid_deadline"])


def level(principal: Principal, tender: dict[str, Any]) -> Disclosure | None:
    """What ``principal`` may learn once the deadline is reached, or None (nothing)."""
    if principal.has("supervisor"):
        return "names"
    if service.in_charge(principal, tender):
        return "count"
    return None


async def disclosure(conn: asyncpg.Connection, principal: Principal,
                     tender: dict[str, Any]) -> Disclosure:
    """The level for ``principal`` now; NotFound for those with none, HoldersSealed before
    the deadline for the others."""
    allowed = level(principal, tender)
    if allowed is None:
        raise NotFound()
    if sealed(tender, await clock.db_now(conn)):
        raise HoldersSealed({"disclosed_from": tender["bid_deadline"].isoformat()
                             if tender["bid_deadline"] else None})
    return allowed


async def view(conn: asyncpg.Connection, principal: Principal,
               tender_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    if row is None:
        raise NotFound()
    tender = dict(row)
    allowed = await disclosure(conn, principal, tender)
    rows = [dict(r) for r in await conn.fetch(document_sql.HOLDERS, tender_id)]
    return {"count": len(rows), "holders": rows if allowed == "names" else None}


async def page_view(conn: asyncpg.Connection, principal: Principal,
                    tender: dict[str, Any]) -> dict[str, Any] | None:
    """For a page: the view when it may be shown, None while sealed (the page says why)."""
    allowed = level(principal, tender)
    if allowed is None or sealed(tender, await clock.db_now(conn)):
        return None
    rows = [dict(r) for r in await conn.fetch(document_sql.HOLDERS, tender["id"])]
    return {"count": len(rows), "holders": rows if allowed == "names" else None}
