"""Clarifications and amendments (澄清/修改): signed, delivered to every holder, T3.

The agency drafts a clarification, attaches signed files if the documents
change, fetches the bytes to sign and publishes with its signature. At
publication, rule T3: if fewer than 15 days would remain before the bid
deadline, the deadline (which is also the opening) moves so that 15 days
remain, keeping its time of day. The move is audited, announced in the
clarification itself, and queued as an event for the issuers of the bid
guarantees (G5). Every holder's bidders get a notification whose read time
is the read receipt; organizations that obtain the documents later get the
published clarifications at that moment.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, clock, jobs
from core.auth import Principal
from core.errors import NotFound
from signing.cms import pem_to_der
from trading.tenders import delivery, documents, notices, releases, rules, schedule, service
from trading.tenders.errors import (
    DeadlineEarlier,
    DeadlinePassed,
    DraftExists,
    InvalidTransition,
)
from trading.tenders.jobs import opening_postponed, render_notice_pdf
from trading.tenders.queries import clarifications as clarification_sql
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql


async def _published_tender(conn: asyncpg.Connection, principal: Principal,
                            tender_id: UUID) -> dict[str, Any]:
    tender = await service.locked_for(conn, principal, tender_id)
    if tender["status"] != "published":
        raise InvalidTransition({"status": tender["status"]},
                                message="只有已发布、未截止的项目可以澄清",
                                message_en="Only a published tender before its deadline "
                                                   "can be clarified")
    # the chronograph closes bidding within a minute of the deadline; the clock decides first
    if await clock.db_now(conn) >= tender["bid_deadline"]:
        raise DeadlinePassed({"bid_deadline": tender["bid_deadline"].isoformat()})
    return tender


async def draft(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                tender_id: UUID, *, title: str, body: str,
                requested_bid_deadline: datetime | None) -> dict[str, Any]:
    tender = await _published_tender(conn, principal, tender_id)
    if requested_bid_deadline is not None and requested_bid_deadline < tender["bid_deadline"]:
        raise DeadlineEarlier({"bid_deadline": tender["bid_deadline"].isoformat()})
    row = await conn.fetchrow(clarification_sql.INSERT_DRAFT, tender_id, title.strip(),
                              body.strip(), requested_bid_deadline, principal.user_id)
    if row is None:
        raise DraftExists()
    await audit.record(conn, actor, "clarification.draft", "tender", tender_id,
                       {"notice": str(row["id"]), "number": row["number"]})
    return dict(row)


async def get_notice(conn: asyncpg.Connection, tender_id: UUID, notice_id: UUID, *,
                     draft_ok: bool) -> dict[str, Any]:
    row = await conn.fetchrow(notice_sql.GET_NOTICE, tender_id, notice_id)
    if row is None or (row["status"] == "draft" and not draft_ok):
        raise NotFound()
    return dict(row)


async def content(conn: asyncpg.Connection, principal: Principal, tender_id: UUID,
                  notice_id: UUID) -> bytes:
    """The bytes the agency signs: the clarification and its attachments' hashes."""
    tender = await service.for_staff(conn, principal, tender_id)
    notice = await get_notice(conn, tender_id, notice_id, draft_ok=True)
    if notice["status"] == "published":
        signed: bytes = (await conn.fetchrow(notice_sql.GET_NOTICE_BY_NUMBER, tender_id,
                                             notice["number"]))["content"]
        return signed
    docs = await documents.listing_for_notice(conn, tender_id, notice_id)
    return notices.clarification(tender, notice, docs)


async def remove_draft(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                       tender_id: UUID, notice_id: UUID) -> None:
    await service.locked_for(conn, principal, tender_id)
    notice = await get_notice(conn, tender_id, notice_id, draft_ok=True)
    if notice["status"] != "draft":
        raise InvalidTransition({"status": notice["status"]})
    await conn.execute(clarification_sql.DELETE_DRAFT_DOCUMENTS, notice_id)
    await conn.execute(clarification_sql.DELETE_DRAFT, notice_id)
    await audit.record(conn, actor, "clarification.remove", "tender", tender_id,
                       {"notice": str(notice_id)})


async def publish(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  tender_id: UUID, notice_id: UUID, *, signature: bytes) -> dict[str, Any]:
    tender = await _published_tender(conn, principal, tender_id)
    notice = await get_notice(conn, tender_id, notice_id, draft_ok=True)
    if notice["status"] != "draft":
        raise InvalidTransition({"status": notice["status"]},
                                message="该澄清已发布", message_en="Already published")
    docs = await documents.listing_for_notice(conn, tender_id, notice_id)
    signed = notices.clarification(tender, notice, docs)
    verified = await notices.verify_for_tender(conn, tender, signature, signed)
    now = await clock.db_now(conn)
    old = tender["bid_deadline"]
    # a deadline requested in the draft never brings the current one forward (a resumed
    # objection pause may have moved it past the request since)
    requested = notice["requested_bid_deadline"]
    new = rules.deadline_after_clarification(max(requested, old) if requested else old, now)
    # a deadline that stays is no change: the notice keeps the deadline it was published
    # under and no new one, so nothing reads it (or publishes it) as a move from X to X
    row = await conn.fetchrow(
        clarification_sql.PUBLISH, notice_id, signed, hashlib.sha256(signed).digest(),
        pem_to_der(signature), verified.subject, notices.cert_sha256(verified),
        old, new if new != old else None)
    await conn.execute(document_sql.FREEZE_DOCUMENTS, tender_id, notice_id)
    if new != old:
        await conn.execute(clarification_sql.MOVE_DEADLINE, tender_id, new)
        await audit.record(conn, actor, "tender.deadline_moved", "tender", tender_id, {
            "from": old.isoformat(), "to": new.isoformat(), "notice": str(notice_id),
            "rule": "T3" if notice["requested_bid_deadline"] is None
            or new != notice["requested_bid_deadline"] else "amendment"})
        await jobs.enqueue(conn, opening_postponed, f"postponed:{tender_id}:{notice_id}",
                           tender_id=str(tender_id), old=old.isoformat(), new=new.isoformat())
    await schedule.schedule_next(conn, tender_id)
    await audit.record(conn, actor, "clarification.publish", "tender", tender_id, {
        "notice": str(notice_id), "number": notice["number"], "signer": verified.subject,
        "sha256": hashlib.sha256(signed).hexdigest()})
    await delivery.deliver(conn, tender, dict(row), organization_id=None)
    await jobs.enqueue(conn, render_notice_pdf, f"notice-pdf:{notice_id}",
                       notice_id=str(notice_id))
    await releases.record(conn, tender_id, "tenderAmendment")
    return dict(row)


async def deliveries(conn: asyncpg.Connection, principal: Principal, tender_id: UUID,
                     notice_id: UUID) -> dict[str, Any]:
    """Who got the clarification and who has read it (the read receipts)."""
    await service.for_staff(conn, principal, tender_id)
    notice = await get_notice(conn, tender_id, notice_id, draft_ok=False)
    rows = [dict(r) for r in await conn.fetch(clarification_sql.DELIVERIES, f"notice:{notice_id}")]
    expected = len(await conn.fetch(document_sql.HOLDER_USERS, tender_id, None))
    return {"notice_id": notice["id"], "expected": expected, "delivered": len(rows),
            "read": sum(1 for r in rows if r["read_at"] is not None), "recipients": rows}

