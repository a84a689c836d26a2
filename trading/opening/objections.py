"""After the reading: each bidder confirms the record or objects, the host answers (S7).

Confirmations and objections are taken from the moment a lot is read until
its ``confirm_until``; an answer may come later, but until every objection is
answered the lot stays open and cannot go to evaluation. Each objection and
each answer is audited, shown in the hall, and appended to a new issue of
the record. Once the period is over with nothing left unanswered, the lot's
opening is closed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import audit
from core.auth import Principal
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from trading.opening import hall, presence, view
from trading.opening import jobs as opening_jobs
from trading.opening import queries as q

TEXT_MAX = 2000


class NotReadYet(Conflict):
    code = "opening_not_read"
    message = "唱标尚未完成，暂不能确认或提出异议"
    message_en = "The prices have not all been read yet: nothing to confirm or object to"


class PeriodClosed(Conflict):
    code = "objection_period_closed"
    message = "开标记录确认和异议的时限已过"
    message_en = "The time to confirm or object to the opening record is over"


class AlreadyAnswered(Conflict):
    code = "objection_answered"
    message = "该异议已答复，答复不能修改"
    message_en = "This objection has been answered; an answer is never changed"


class NotYetClosed(Conflict):
    code = "opening_not_closed"
    message = "开标尚未结束（确认异议时限未过或仍有异议未答复），不能进入评标"
    message_en = ("The opening is not over (the objection period is running or an objection "
                  "is unanswered): evaluation cannot start")


def _text(value: str, field: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= TEXT_MAX:
        raise InvalidInput({"field": field, "max_length": TEXT_MAX},
                           message=f"内容应为 1 至 {TEXT_MAX} 个字符",
                           message_en=f"The text is 1 to {TEXT_MAX} characters")
    return text


async def _as_bidder(conn: asyncpg.Connection, principal: Principal,
                     lot_id: UUID) -> dict[str, Any]:
    """The lot's opening, for a bidder with a bid in it while the period runs."""
    lot = await view.lot_of(conn, lot_id)
    if await presence.role_in(conn, principal, lot) != "bidder" or not await conn.fetchval(
            q.MY_BID_IN_LOT, lot_id, principal.organization_id):
        raise Forbidden({"reason": "no_bid_in_lot"}, message="只有本标段的投标人可以确认或提出异议",
                        message_en="Only a bidder of this lot confirms or objects")
    opening = await conn.fetchrow(q.LOT_OPENING_LOCKED, lot_id)
    if opening is None or opening["status"] not in ("read", "closed"):
        raise NotReadYet({"status": opening["status"] if opening else "not_started"})
    now = await conn.fetchval(q.CLOCK)
    if opening["status"] == "closed" or now >= opening["confirm_until"]:
        raise PeriodClosed({"confirm_until": opening["confirm_until"].isoformat()})
    return dict(opening)


async def confirm(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  *, lot_id: UUID) -> dict[str, Any]:
    """The bidder confirms the record (once; again answers the same)."""
    await _as_bidder(conn, principal, lot_id)
    at = await conn.fetchval(q.INSERT_CONFIRMATION, lot_id, principal.organization_id,
                             principal.user_id)
    if at is not None:
        await audit.record(conn, actor, "opening.confirmed", "lot", lot_id)
        bidder = await conn.fetchval(q.ORG_NAME, principal.organization_id)
        await hall.emit(conn, lot_id, "opening.confirmed", {"bidder": bidder})
    return {"lot_id": lot_id, "confirmed": True}


async def raise_objection(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                          *, lot_id: UUID, text: str) -> dict[str, Any]:
    body = _text(text, "text")
    await _as_bidder(conn, principal, lot_id)
    row = dict(await conn.fetchrow(q.INSERT_OBJECTION, lot_id, principal.organization_id,
                                   principal.user_id, body))
    await audit.record(conn, actor, "opening.objection", "lot", lot_id,
                       {"objection": str(row["id"]), "text": body})
    bidder = await conn.fetchval(q.ORG_NAME, principal.organization_id)
    event = await hall.emit(conn, lot_id, "objection.raised",
                            {"id": str(row["id"]), "bidder": bidder, "text": body})
    await opening_jobs.request_record(conn, lot_id, event.seq)
    return row


async def answer(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                 *, lot_id: UUID, objection_id: UUID,
                 text: str) -> dict[str, Any]:
    """The host answers an objection, once; the lot closes if that was the last one due."""
    body = _text(text, "text")
    lot = await view.lot_of(conn, lot_id)
    if await presence.role_in(conn, principal, lot) not in ("host", "officer"):
        raise Forbidden({"reason": "host_only"}, message="只有主持人可以答复异议",
                        message_en="Only the host answers objections")
    await conn.fetchrow(q.LOT_OPENING_LOCKED, lot_id)
    row = await conn.fetchrow(q.ANSWER_OBJECTION, objection_id, lot_id, body, principal.user_id)
    if row is None:
        if not await conn.fetchval(q.OBJECTION_EXISTS, objection_id, lot_id):
            raise NotFound()
        raise AlreadyAnswered()
    await audit.record(conn, actor, "opening.objection_answered", "lot", lot_id,
                       {"objection": str(objection_id), "answer": body})
    event = await hall.emit(conn, lot_id, "objection.answered",
                            {"id": str(objection_id), "answer": body, "by": principal.name})
    await opening_jobs.request_record(conn, lot_id, event.seq)
    await close_if_due(conn, lot_id)
    return dict(row)


async def close_if_due(conn: asyncpg.Connection, lot_id: UUID) -> bool:
    """Close the lot's opening once its period is over and every objection is answered."""
    row = await conn.fetchrow(q.CLOSE_OPENING, lot_id)
    if row is None:
        return False
    await audit.record(conn, audit.SYSTEM, "lot.opening_closed", "lot", lot_id)
    event = await hall.emit(conn, lot_id, "opening.closed", {})
    await opening_jobs.request_record(conn, lot_id, event.seq)
    return True


async def close_due(conn: asyncpg.Connection, tender_id: UUID) -> int:
    """Every read lot of the tender whose period is over with nothing left unanswered."""
    closed = 0
    for r in await conn.fetch(q.READ_LOTS, tender_id):
        closed += await close_if_due(conn, r["lot_id"])
    return closed


async def ready_for_evaluation(conn: asyncpg.Connection, lot_id: UUID) -> None:
    """Evaluation starts only on a closed opening (S7: no unanswered objection)."""
    status = await conn.fetchval(q.LOT_STATUS, lot_id)
    if status != "closed":
        raise NotYetClosed({"status": status})
