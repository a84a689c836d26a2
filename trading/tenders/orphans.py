"""Document objects no row names: deleted after a grace period, by an idempotent job.

A document's bytes reach the store before its row is written, because no
transaction may be held while up to 200 MB move. So a refusal after the upload
(the name taken meanwhile, the tender published meanwhile), a rollback or a
crash can leave an object that no ``tender_documents`` row names; so does a
draft document removed. ``watch`` queues a job for the object's key, in the
transaction that decides it may become such an object, due ``GRACE`` later.
The job deletes the object only when no row names it and it is older than
``GRACE`` (an upload still being recorded is never touched), and drops any
unfinished multipart upload under the key (a crash mid-stream). Deleting what
is gone succeeds, so running it twice, or for a key that was never written,
changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from core import buckets, jobs
from core.storage import ObjectStore
from trading.tenders.queries import documents as document_sql

BUCKET = buckets.DOCUMENTS
GRACE = timedelta(hours=1)


async def watch(conn: asyncpg.Connection, key: str, *, after: timedelta = GRACE,
                tag: str = "") -> None:
    """Queue the look at ``key`` in the caller's transaction, due ``after`` from now."""
    now = await conn.fetchval(document_sql.CLOCK)
    await jobs.enqueue(conn, sweep_orphan_document,
                       f"document-orphan:{key}:{tag or now.isoformat()}",
                       available_at=now + after, key=key)


async def sweep(conn: asyncpg.Connection, store: ObjectStore, key: str, *,
                grace: timedelta = GRACE) -> str:
    """What became of ``key``: kept (a row names it), gone, young (looked at again
    later), or deleted."""
    if await conn.fetchval(document_sql.DOCUMENT_KEY_USED, key):
        return "kept"
    await store.abort_incomplete(BUCKET, key)
    st = await store.stat(BUCKET, key)
    if st is None:
        return "gone"
    now = await conn.fetchval(document_sql.CLOCK)
    if now - st["last_modified"] < grace:
        await watch(conn, key, after=st["last_modified"] + grace - now,
                    tag=st["last_modified"].isoformat())
        return "young"
    await store.remove(BUCKET, key)
    return "deleted"


@jobs.job
async def sweep_orphan_document(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await sweep(conn, ctx["store"], args["key"])
    await jobs.run_once(ctx, outbox_id, body)
