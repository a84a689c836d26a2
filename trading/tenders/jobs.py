"""Side effects of publication, run after commit: the sealed notice PDF, events for issuers."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, buckets, jobs, pdf
from core.storage import ObjectStore
from signing import seal
from trading.tenders import documents, notices, presentation, texts
from trading.tenders.queries import notices as notice_sql
from trading.tenders.queries import tenders as tender_sql

PDF_BUCKET = buckets.RECORDS


async def notice_context(conn: asyncpg.Connection, notice_id: UUID) -> dict[str, Any]:
    notice = dict(await conn.fetchrow(notice_sql.NOTICE_BY_ID, notice_id))
    tender = dict(await conn.fetchrow(tender_sql.GET_TENDER, notice["tender_id"]))
    lots = [dict(r) for r in await conn.fetch(tender_sql.LOTS, tender["id"])]
    docs = await documents.listing_for_notice(
        conn, tender["id"], None if notice["kind"] == "tender" else notice_id)
    notice["content_sha256"] = notice["content_sha256"].hex()
    return {
        "notice": notice, "tender": tender, "lots": lots, "documents": docs,
        "amounts": presentation.amounts(tender, lots),
        "parties": await notices.parties(conn, tender),
        "procedure": texts.zh(f"procedure.{tender['procedure']}"),
        "security_forms": "、".join(texts.zh(f"security.{f}") for f in tender["security_forms"]),
        "opening_certs": [(lot["number"], lot["opening_cert_sha256"]) for lot in lots
                          if lot["opening_cert_sha256"]] if notice["kind"] == "tender" else [],
    }


async def make_notice_pdf(conn: asyncpg.Connection, store: ObjectStore, settings: Any,
                          notice_id: UUID) -> str | None:
    """Render, seal and store the notice's PDF once; the object key, or None if done before."""
    context = await notice_context(conn, notice_id)
    notice = context["notice"]
    if notice["pdf_key"] is not None:
        return None
    sealed = await seal.seal(await pdf.render("pdf/notice.html", context), settings,
                            reason="天衡平台签章：公告 / Tenderhall seal: notice")
    key = f"tenders/{notice['tender_id']}/notices/{notice['number']:03d}-{notice_id}.pdf"
    await store.put_bytes(PDF_BUCKET, key, sealed, content_type="application/pdf")
    digest = hashlib.sha256(sealed).digest()
    await conn.execute(notice_sql.SET_PDF, notice_id, key, digest)
    await audit.record(conn, audit.SYSTEM, "notice.pdf", "tender", notice["tender_id"],
                       {"notice": str(notice_id), "sha256": digest.hex()})
    return key


@jobs.job
async def render_notice_pdf(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await make_notice_pdf(conn, ctx["store"], ctx["settings"], UUID(args["notice_id"]))
    await jobs.run_once(ctx, outbox_id, body)


@jobs.job
async def opening_postponed(ctx: dict[str, Any], outbox_id: int) -> None:
    """G5: the opening moved; an event for the issuers of the tender's guarantees.

    The bid-security stage delivers ``guarantee_events`` to each issuer's
    gateway; here the event is made durable exactly once.
    """
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await conn.execute(
            tender_sql.INSERT_OPENING_POSTPONED, UUID(args["tender_id"]),
            {"old_bid_deadline": datetime.fromisoformat(args["old"]).isoformat(),
             "new_bid_deadline": datetime.fromisoformat(args["new"]).isoformat()})
    await jobs.run_once(ctx, outbox_id, body)
