"""Objections to the tender documents (异议, T4): filed in time, answered, the tender paused.

A bidder may object until 10 days before the bid deadline. The tenderer or
agency answers within 3 days; until every objection is answered the tender
is paused: the chronograph fires nothing, so the deadline cannot pass while
it waits. On the last answer the tender resumes and the bid deadline moves
later by the paused time, rounded up to whole days so the opening keeps its
time of day; the move is audited, announced to the holders and queued for
the guarantee issuers (G5), like a move under T3.

An answer still missing when its 3 days are up is flagged once by the
chronograph's pass: audited, and announced to the staff in charge and to the
supervisors. The tender stays paused; the flag is for supervision.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, clock, jobs, notify
from core.auth import Principal
from core.errors import NotFound
from signing import cms
from trading.tenders import notices, releases, rules, schedule, service
from trading.tenders.errors import AnswerNotSigned, InvalidTransition
from trading.tenders.jobs import opening_postponed
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import objections as objection_sql
from trading.tenders.queries import tenders as tender_sql

ANSWER_WITHIN = timedelta(days=3)

async def submit(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                 tender_id: UUID, *, body: str) -> dict[str, Any]:
    principal.require("bidder")
    row = await conn.fetchrow(tender_sql.LOCK_TENDER, tender_id)
    if row is None or row["status"] == "draft" or principal.organization_id is None:
        raise NotFound()
    tender = dict(row)
    if tender["status"] != "published":
        raise InvalidTransition({"status": tender["status"]},
                                message="投标截止后不能再对招标文件提出异议",
                                message_en="Objections to the documents end before the "
                                                   "bid deadline")
    rules.check_objection_time(await clock.db_now(conn), tender["bid_deadline"])
    objection = dict(await conn.fetchrow(objection_sql.INSERT_OBJECTION, tender_id,
                                         principal.organization_id, principal.user_id,
                                         body.strip(), ANSWER_WITHIN))
    await conn.execute(objection_sql.PAUSE_TENDER, tender_id)
    await schedule.schedule_next(conn, tender_id)
    await audit.record(conn, actor, "objection.submit", "tender", tender_id,
                       {"objection": str(objection["id"]), "paused": True})
    staff_orgs = [tender["owner_org_id"], tender["agency_org_id"]]
    for staff in await conn.fetch(objection_sql.STAFF, staff_orgs):
        await notify.notify(conn, key=f"objection:{objection['id']}", user_id=staff["id"],
                            ref=f"objection:{objection['id']}",
                            subject=f"【异议】{tender['code']} 收到对招标文件的异议，请于3日内答复",
                            subject_en=f"Objection to the documents of {tender['code']}: "
                                       "answer within 3 days", body=body.strip())
    return objection


async def signed_answer(conn: asyncpg.Connection, principal: Principal, tender_id: UUID,
                        objection_id: UUID) -> tuple[bytes, bytes]:
    """The answer's signed bytes and its detached signature, for whoever may list the
    objection (the staff in charge, the objector's organization)."""
    if not any(o["id"] == objection_id for o in await listing(conn, principal, tender_id)):
        raise NotFound()
    row = await conn.fetchrow(objection_sql.OBJECTION, tender_id, objection_id)
    if row is None or row["answer_signed"] is None:
        raise NotFound()
    return row["answer_signed"], row["answer_signature"]


async def listing(conn: asyncpg.Connection, principal: Principal,
                  tender_id: UUID) -> list[dict[str, Any]]:
    """Staff see every objection; a bidder sees its own organization's.

    Until the bid deadline the staff do not learn who objected: an objector is a holder of
    the documents, and T7 keeps the holders from the tenderer and the agency. The platform
    delivers the answer, so they never need the name; from the deadline on they see it."""
    row = await conn.fetchrow(tender_sql.GET_TENDER, tender_id)
    if row is None:
        raise NotFound()
    if service.in_charge(principal, dict(row)):
        rows = [dict(r) for r in await conn.fetch(objection_sql.OBJECTIONS, tender_id, None)]
        if await clock.db_now(conn) < row["bid_deadline"]:
            for r in rows:
                r["organization"] = r["organization_id"] = None
        return rows
    if principal.organization_id is not None and row["status"] != "draft":
        return [dict(r) for r in await conn.fetch(objection_sql.OBJECTIONS, tender_id,
                                                  principal.organization_id)]
    raise NotFound()


async def _unanswered(conn: asyncpg.Connection, tender_id: UUID,
                      objection_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(objection_sql.OBJECTION, tender_id, objection_id)
    if row is None:
        raise NotFound()
    if row["answered_at"] is not None:
        raise InvalidTransition(message="该异议已答复",
                                message_en="The objection has been answered already")
    return dict(row)


async def answer_content(conn: asyncpg.Connection, principal: Principal, tender_id: UUID,
                         objection_id: UUID, *, text: str) -> bytes:
    """The exact bytes the staff in charge sign to answer with ``text``."""
    tender = await service.for_staff(conn, principal, tender_id)
    objection = await _unanswered(conn, tender_id, objection_id)
    return notices.objection_answer(tender, objection, text)


async def answer(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                 tender_id: UUID, objection_id: UUID, *, text: str,
                 signature: bytes) -> dict[str, Any]:
    """Answer with ``text``, signed (detached CMS) over answer_content's bytes by the
    organization that signs for the tender, as its notice and clarifications are."""
    tender = await service.locked_for(conn, principal, tender_id)
    objection = await _unanswered(conn, tender_id, objection_id)
    signed = notices.objection_answer(tender, objection, text)
    verified = await notices.verify_for_tender(conn, tender, signature, signed,
                                               changed=AnswerNotSigned)
    done = await conn.fetchrow(objection_sql.ANSWER, tender_id, objection_id, text.strip(),
                               principal.user_id, signed, cms.pem_to_der(signature),
                               verified.subject, notices.cert_sha256(verified))
    if done is None:  # a guard: the tender's row lock keeps a second answer out meanwhile
        raise InvalidTransition(message="该异议已答复",
                                message_en="The objection has been answered already")
    await audit.record(conn, actor, "objection.answer", "tender", tender_id, {
        "objection": str(objection_id), "signer": verified.subject,
        "sha256": hashlib.sha256(signed).hexdigest()})
    await notify.notify(conn, key=f"objection-answer:{objection_id}", user_id=done["user_id"],
                        ref=f"objection:{objection_id}",
                        subject=f"【异议答复】{tender['code']} 您的异议已答复",
                        subject_en=f"Your objection to {tender['code']} has been answered",
                        body=text.strip())
    unanswered = await conn.fetchval(objection_sql.UNANSWERED, tender_id)
    if unanswered == 0 and tender["paused_since"] is not None:
        await _resume(conn, actor, tender)
    return {"tender": await service.get_tender(conn, principal, tender_id),
            "objections": await listing(conn, principal, tender_id)}


async def _resume(conn: asyncpg.Connection, actor: audit.Actor, tender: dict[str, Any]) -> None:
    now = await clock.db_now(conn)
    paused = now - tender["paused_since"]
    days = max(1, math.ceil(paused / timedelta(days=1)))
    old = tender["bid_deadline"]
    new = await conn.fetchval(objection_sql.RESUME_TENDER, tender["id"], timedelta(days=days))
    await audit.record(conn, actor, "tender.resume", "tender", tender["id"], {
        "paused_seconds": int(paused.total_seconds())})
    await audit.record(conn, actor, "tender.deadline_moved", "tender", tender["id"], {
        "from": old.isoformat(), "to": new.isoformat(), "rule": "T4"})
    await jobs.enqueue(conn, opening_postponed, f"postponed:{tender['id']}:{new.isoformat()}",
                       tender_id=str(tender["id"]), old=old.isoformat(), new=new.isoformat())
    when = new.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    for u in await conn.fetch(document_sql.HOLDER_USERS, tender["id"], None):
        await notify.notify(conn, key=f"resume:{tender['id']}:{new.isoformat()}",
                            user_id=u["user_id"], ref=f"tender:{tender['id']}",
                            subject=f"【恢复】{tender['code']} 异议已答复，投标截止时间顺延至 {when}",
                            subject_en=f"{tender['code']} resumes after the objection; bid "
                                       f"deadline now {when} (Beijing time)")
    await schedule.schedule_next(conn, tender["id"])
    await releases.record(conn, tender["id"], "tenderUpdate")


async def flag_overdue(conn: asyncpg.Connection, *, limit: int) -> int:
    """Flag up to ``limit`` objections left unanswered past their due moment; how many.

    Runs in the caller's transaction: the flag, the audit record and the
    notifications commit together, and the flag keeps a later pass away.
    """
    flagged = 0
    for r in await conn.fetch(objection_sql.OVERDUE, limit):
        if await conn.fetchval(objection_sql.FLAG_OVERDUE, r["id"]) is None:
            continue
        flagged += 1
        tender = await conn.fetchrow(tender_sql.GET_TENDER, r["tender_id"])
        due = r["answer_due_at"].astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
        await audit.record(conn, audit.SYSTEM, "objection.overdue", "tender", r["tender_id"], {
            "objection": str(r["id"]), "answer_due_at": r["answer_due_at"].isoformat(),
            "rule": "T4"})
        key, ref = f"objection-overdue:{r['id']}", f"objection:{r['id']}"
        staff_orgs = [tender["owner_org_id"], tender["agency_org_id"]]
        for staff in await conn.fetch(objection_sql.STAFF, staff_orgs):
            await notify.notify(
                conn, key=key, user_id=staff["id"], ref=ref, body=r["body"],
                subject=f"【异议逾期】{tender['code']} 的异议已超过答复期限（{due}），"
                        "项目暂停中，请尽快答复",
                subject_en=f"The objection to {tender['code']} is past its answer deadline "
                           f"({due}, Beijing time); the tender stays paused until it is answered")
        for supervisor in await conn.fetch(objection_sql.SUPERVISORS):
            await notify.notify(
                conn, key=key, user_id=supervisor["id"], ref=ref, body=r["body"],
                subject=f"【异议逾期】{tender['code']} {r['organization']} 提出的异议"
                        f"未在期限（{due}）内答复",
                subject_en=f"{tender['code']}: the objection of {r['organization']} was not "
                           f"answered by {due} (Beijing time)")
    return flagged
