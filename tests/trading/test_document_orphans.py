"""Document uploads hold no transaction while bytes move; objects no row names are cleaned up."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import asyncpg
from litestar import Litestar

from tests.trading.conftest import Tenderer
from trading.tenders import documents, orphans
from trading.tenders.queries import tenders as tender_sql


async def test_an_object_no_document_names_is_deleted_after_the_grace_period(
        tenderer: Tenderer, conn: asyncpg.Connection, app: Litestar) -> None:
    store = app.state.store
    tender = await tenderer.draft("ORPHAN-0001")
    r = await tenderer.upload(tender["id"], "招标文件.pdf", b"recorded document")
    assert r.status_code == 201, r.text
    kept = await conn.fetchval("SELECT object_key FROM tender_documents WHERE id = $1",
                               r.json()["id"])
    # the look at the object was queued before its bytes moved, due after the grace period
    watched = await conn.fetch("SELECT args, available_at - created_at AS due FROM outbox "
                               "WHERE function = 'sweep_orphan_document'")
    assert any(w["args"] == {"key": kept} and w["due"] >= orphans.GRACE for w in watched)

    # stored, then never recorded (a refusal after the upload, a rollback, a crash)
    data = b"a document whose row was never written"
    upload = documents.Upload("附件.pdf", "application/pdf", io.BytesIO(data),
                              base64.b64decode(tenderer.sign(data)))
    row = dict(await conn.fetchrow(tender_sql.LOCK_TENDER, tender["id"]))
    pending = await documents.begin(conn, tender=row, upload=upload)
    stored = await documents.put(store, pending, upload)
    assert stored.obj.size == len(data) and await store.stat("documents", pending.key)

    assert await orphans.sweep(conn, store, pending.key) == "young"  # within the grace period
    assert await store.stat("documents", pending.key) is not None
    assert await orphans.sweep(conn, store, pending.key, grace=timedelta(0)) == "deleted"
    assert await store.stat("documents", pending.key) is None
    assert await orphans.sweep(conn, store, pending.key, grace=timedelta(0)) == "gone"
    # a recorded document's object is never touched
    assert await orphans.sweep(conn, store, kept, grace=timedelta(0)) == "kept"
    assert await store.stat("documents", kept) is not None

    # a draft document removed leaves its object unnamed: it goes the same way
    r = await tenderer.client.delete(f"/api/tenders/{tender['id']}/documents/{r.json()['id']}")
    assert r.status_code == 204, r.text
    assert await orphans.sweep(conn, store, kept, grace=timedelta(0)) == "deleted"
    assert await store.stat("documents", kept) is None
