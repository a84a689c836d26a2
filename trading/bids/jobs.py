"""After a bid is received: its receipt as a sealed PDF (the official copy to print or file)."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import asyncpg

from core import buckets, jobs, pdf
from core.storage import ObjectStore
from signing import seal
from trading.bids import queries as q
from trading.bids.texts import TEXTS

PDF_BUCKET = buckets.RECORDS
STATUS = {key.removeprefix("bid."): zh for key, (zh, _en) in TEXTS.items()}  # as the pages say


async def make_receipt_pdf(conn: asyncpg.Connection, store: ObjectStore, settings: Any,
                           bid_id: UUID) -> str | None:
    """Render, seal and store the receipt PDF once; the object key, or None if done before."""
    row = await conn.fetchrow(q.GET_BID, bid_id)
    if row is None or row["receipt_pdf_key"] is not None:
        return None
    bid = dict(row) | {"p7m_sha256": row["p7m_sha256"].hex(), "p7s_sha256": row["p7s_sha256"].hex()}
    receipt = await conn.fetchval(q.RECEIPT_BYTES, bid_id)
    html = await pdf.render("pdf/bid_receipt.html", {
        "bid": bid, "status": STATUS[bid["status"]],
        "receipt_sha256": hashlib.sha256(receipt).hexdigest()})
    sealed = await seal.seal(html, settings, reason="天衡平台签章：投标文件递交回执 / bid receipt")
    key = f"tenders/{bid['tender_id']}/bids/{bid_id}/receipt.pdf"
    await store.put_bytes(PDF_BUCKET, key, sealed, content_type="application/pdf")
    await conn.execute(q.SET_RECEIPT_PDF, bid_id, key, hashlib.sha256(sealed).digest())
    return key


@jobs.job
async def render_bid_receipt_pdf(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await make_receipt_pdf(conn, ctx["store"], ctx["settings"], UUID(args["bid_id"]))
    await jobs.run_once(ctx, outbox_id, body)
