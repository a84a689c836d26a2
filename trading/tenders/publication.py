"""Publication: the agency's signed notice, frozen documents, each lot's opening key.

To publish, the agency fetches the notice bytes (``announcement``), signs them
and sends the signature. In one transaction the platform checks every rule
(T1-T5, lots, documents, officers), verifies the signature over the bytes it
rebuilds, freezes the documents, and creates the opening certificate of each
lot: its private key exists only as k-of-n shares sealed to the officers'
encryption certificates (signing.shares), so nothing the platform stores can
open a bid before the officers or the bidder act. The PDF of the notice is
rendered and sealed after commit, by a job.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core import audit, clock, jobs
from core.auth import Principal
from core.errors import NotFound
from signing import shares
from signing.cms import pem_to_der
from trading.tenders import documents, notices, releases, schedule, service
from trading.tenders.errors import InvalidTransition, NoDocuments, OfficersIncomplete
from trading.tenders.jobs import render_notice_pdf
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql
from trading.tenders.queries import officers as officer_sql
from trading.tenders.queries import tenders as tender_sql


async def _draft_for_publication(conn: asyncpg.Connection, tender: dict[str, Any]
                                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bytes]:
    lots = [dict(r) for r in await conn.fetch(tender_sql.LOTS, tender["id"])]
    docs = await documents.listing(conn, tender["id"], published_only=False)
    content = notices.tender_notice(tender, lots, [d for d in docs if d["notice_id"] is None],
                                    await notices.parties(conn, tender))
    return lots, docs, content


async def announcement(conn: asyncpg.Connection, principal: Principal,
                       tender_id: UUID) -> bytes:
    """The bytes to sign: the draft as it stands (its version is part of them)."""
    tender = await service.for_staff(conn, principal, tender_id)
    if tender["status"] != "draft":
        row = await conn.fetchrow(notice_sql.GET_NOTICE_BY_NUMBER, tender_id, 0)
        if row is None:  # cancelled while still a draft: never announced
            raise NotFound(message="该项目没有已发布的公告",
                           message_en="This tender has no published announcement")
        content: bytes = row["content"]
        return content
    return (await _draft_for_publication(conn, tender))[2]


async def _officer_certs(conn: asyncpg.Connection, tender: dict[str, Any]
                         ) -> list[tuple[UUID, x509.Certificate]]:
    rows = await conn.fetch(officer_sql.OFFICERS, tender["id"])
    missing = [r["login"] for r in rows if r["encryption_cert"] is None]
    if len(rows) != tender["officers_n"] or missing:
        raise OfficersIncomplete({"officers_n": tender["officers_n"], "named": len(rows),
                                  "without_encryption_certificate": missing})
    return [(r["user_id"], x509.load_der_x509_certificate(r["encryption_cert"])) for r in rows]


async def publish(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                  tender_id: UUID, *, signature: bytes) -> dict[str, Any]:
    tender = await service.locked_for(conn, principal, tender_id)
    if tender["status"] != "draft":
        raise InvalidTransition({"status": tender["status"]},
                                message="只有草稿状态的项目可以发布",
                                message_en="Only a draft can be published")
    lots, docs, content = await _draft_for_publication(conn, tender)
    # The documents are issued no earlier than now: T1 and T2 count from then.
    now = await clock.db_now(conn)
    checked = {**tender, "documents_from": max(tender["documents_from"] or now, now)}
    await service.check_rules(conn, checked, lots, publishing=True)
    if not docs:
        raise NoDocuments()
    officers = await _officer_certs(conn, tender)
    verified = await notices.verify_for_tender(conn, tender, signature, content)

    await conn.fetchval(tender_sql.PUBLISH, tender_id)
    notice_id = await conn.fetchval(
        notice_sql.INSERT_TENDER_NOTICE, tender_id, f"{tender['title']} 招标公告", content,
        hashlib.sha256(content).digest(), pem_to_der(signature), verified.subject,
        notices.cert_sha256(verified), principal.user_id, tender["bid_deadline"])
    await conn.execute(document_sql.FREEZE_DOCUMENTS, tender_id, None)
    fingerprints = await _opening_keys(conn, tender, lots, officers)
    await schedule.schedule_next(conn, tender_id)
    await audit.record(conn, actor, "tender.publish", "tender", tender_id, {
        "bid_deadline": tender["bid_deadline"].isoformat(), "signer": verified.subject,
        "notice_sha256": hashlib.sha256(content).hexdigest(), "opening_certificates": fingerprints})
    await jobs.enqueue(conn, render_notice_pdf, f"notice-pdf:{notice_id}",
                       notice_id=str(notice_id))
    await releases.record(conn, tender_id, "tender")
    return await service.get_tender(conn, principal, tender_id)


async def _opening_keys(conn: asyncpg.Connection, tender: dict[str, Any],
                        lots: list[dict[str, Any]],
                        officers: list[tuple[UUID, x509.Certificate]]) -> dict[str, str]:
    """Per lot: a fresh opening key, its certificate kept, its shares sealed to the officers."""
    fingerprints = {}
    # valid well past any opening the deadline could move to (T3, T4)
    valid_until = tender["bid_deadline"] + timedelta(days=tender["bid_validity_days"] + 365)
    certs = [cert for _, cert in officers]
    for lot in lots:
        key = shares.create_opening_key(
            lot["id"], lot_name=f"{tender['code']} 第{lot['number']}标段", officers=certs,
            k=tender["officers_k"], issuer_cert=None, issuer_key=None, valid_until=valid_until)
        der = key.certificate.public_bytes(Encoding.DER)
        await conn.execute(officer_sql.SET_OPENING_CERT, lot["id"], der)
        await conn.executemany(officer_sql.INSERT_SHARE, [
            (lot["id"], share.index, officers[i][0],
             hashlib.sha256(share.officer.public_bytes(Encoding.DER)).digest(), share.envelope)
            for i, share in enumerate(key.shares)])
        fingerprints[str(lot["number"])] = hashlib.sha256(der).hexdigest()
    return fingerprints


async def opening_certificate(conn: asyncpg.Connection, tender_id: UUID,
                              lot_id: UUID) -> tuple[int, bytes]:
    row = await conn.fetchrow(officer_sql.OPENING_CERT, tender_id, lot_id)
    if row is None or row["opening_cert_der"] is None:
        raise NotFound()
    return row["number"], row["opening_cert_der"]
