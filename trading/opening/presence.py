"""Who is in the hall: sign-ins (bidders with their certificate) and the host's messages."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import audit
from core.auth import Principal
from core.errors import DomainError, Forbidden, InvalidInput
from signing import login as cert_login
from trading.opening import errors, hall, view
from trading.opening import queries as q

MESSAGE_MAX = 500


class CertificateRequired(DomainError):
    status = 400
    code = "hall_certificate_required"
    message = "投标人须使用数字证书签到：请对签到挑战码签名后提交"
    message_en = "A bidder signs in with its certificate: sign the challenge and send it"


class CertificateNotYours(DomainError):
    status = 403
    code = "hall_certificate_not_yours"
    message = "签到使用的证书不属于当前登录用户"
    message_en = "The certificate used to sign in belongs to another user"


async def role_in(conn: asyncpg.Connection, principal: Principal, lot: dict[str, Any]) -> str:
    """The caller's part in this lot's opening; a stranger has none (the public watches)."""
    if principal.has("supervisor"):
        return "supervisor"
    if principal.owns(lot["owner_org_id"]) or principal.owns(lot["agency_org_id"]):
        if await conn.fetchval(q.IS_OFFICER, lot["lot_id"], principal.user_id):
            return "officer"
        return "host"
    if principal.organization_id is not None and await conn.fetchval(
            q.HOLDS_DOCUMENTS, lot["tender_id"], principal.organization_id):
        return "bidder"
    raise Forbidden({"reason": "not_a_party"}, message="您不是本项目的参与方，可以观看但不能签到",
                    message_en="You are not a party to this tender: you may watch, not sign in")


async def sign_in(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  *, lot_id: UUID, ip: str | None,
                  nonce: str | None = None, signature: str | None = None) -> dict[str, Any]:
    """Sign in to the lot's hall (once; again answers the same). A bidder signs a login
    challenge with its certificate, which must be bound to the signed-in user."""
    lot = await view.lot_of(conn, lot_id)
    if lot["tender_status"] == "cancelled":
        raise errors.TenderCancelled({"status": "cancelled"})
    role = await role_in(conn, principal, lot)
    subject = None
    if role == "bidder":
        if not nonce or not signature:
            raise CertificateRequired()
        user_id, certificate = await cert_login.login(conn, nonce_b64=nonce,
                                                      signature_b64=signature)
        if user_id != principal.user_id:
            raise CertificateNotYours()
        subject = certificate.subject.rfc4514_string()
    at = await conn.fetchval(q.INSERT_SIGNIN, lot_id, principal.user_id,
                             principal.organization_id, role, subject, audit.normalize_ip(ip))
    count = await conn.fetchval(q.SIGNIN_COUNT, lot_id)
    if at is not None:
        await audit.record(conn, actor, "hall.signin", "lot", lot_id,
                           {"role": role, "certificate": subject})
        now = await conn.fetchval(q.CLOCK)
        # before the deadline a bidder's name would tell who bids: the count only
        named = role != "bidder" or now >= lot["bid_deadline"]
        await hall.emit(conn, lot_id, "hall.signin", {
            "count": count, "role": role, "name": principal.name if named else None})
    return {"lot_id": lot_id, "role": role, "count": count, "certificate": subject}


async def post_message(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                       *, lot_id: UUID, text: str) -> dict[str, Any]:
    """The host speaks to the hall (announcements, answers); kept with the record."""
    text = text.strip()
    if not 1 <= len(text) <= MESSAGE_MAX:
        raise InvalidInput({"field": "text", "max_length": MESSAGE_MAX},
                           message=f"消息应为 1 至 {MESSAGE_MAX} 个字符",
                           message_en=f"A message is 1 to {MESSAGE_MAX} characters")
    lot = await view.lot_of(conn, lot_id)
    role = await role_in(conn, principal, lot)
    if role not in ("host", "officer", "supervisor"):
        raise Forbidden({"reason": "host_only"}, message="只有主持人和监督人员可以发布消息",
                        message_en="Only the host and supervisors post messages")
    await audit.record(conn, actor, "hall.message", "lot", lot_id, {"text": text})
    event = await hall.emit(conn, lot_id, "hall.message",
                            {"from": principal.name, "role": role, "text": text})
    return {"seq": event.seq, "at": event.at}
