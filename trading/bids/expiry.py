"""Uploads left unfinished at the deadline: marked expired, their S3 parts dropped.

An upload that was not finalized before its tender's deadline can never be
(S1), and its parts, unlike a completed bid, are not under object lock: they
would only use space. The chronograph marks such uploads expired every
minute (the row stays, with the addresses it came from, for supervision);
the parts go in a job after commit, so a store outage delays the clean-up
and loses nothing. A part still streaming, or a finalize in progress, is
left for the next pass.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import audit, jobs
from core.storage import ObjectStore
from trading.bids import queries as q
from trading.bids.uploads import BUCKET

BATCH = 100


async def expire_due(conn: asyncpg.Connection, *, limit: int = BATCH) -> int:
    """Mark expired up to ``limit`` open uploads that can no longer be finalized, each with
    an audit record and a job for its parts; how many, in the caller's transaction."""
    rows = await conn.fetch(q.EXPIRE_UPLOADS, limit)
    for row in rows:
        await audit.record(conn, audit.SYSTEM, "bid_upload.expired", "bid_upload", row["id"], {
            "lot": str(row["lot_id"]), "organization": str(row["organization_id"]),
            "bytes_done": row["bytes_done"], "size": row["size"]})
        await jobs.enqueue(conn, abort_bid_upload, f"bid-upload-abort:{row['id']}",
                           upload_id=str(row["id"]))
    return len(rows)


async def drop_parts(conn: asyncpg.Connection, store: ObjectStore, upload_id: UUID) -> bool:
    """Abort an expired upload's S3 multipart upload (quiet when already gone)."""
    row = await conn.fetchrow(q.EXPIRED_UPLOAD, upload_id)
    if row is None:
        return False
    await store.abort_multipart(BUCKET, row["object_key"], row["s3_upload_id"])
    return True


@jobs.job
async def abort_bid_upload(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await drop_parts(conn, ctx["store"], UUID(args["upload_id"]))
    await jobs.run_once(ctx, outbox_id, body)


@jobs.job
async def abort_stale_upload(ctx: dict[str, Any], outbox_id: int) -> None:
    """Drop the parts of a multipart upload a restarted bid upload left behind (after the
    store has let go of its completion lock); quiet when they are gone already."""
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await ctx["store"].abort_multipart(BUCKET, args["object_key"], args["s3_upload_id"])
    await jobs.run_once(ctx, outbox_id, body)
