"""Uploads left unfinished at the deadline expire: the row stays, the S3 parts go."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest
from litestar import Litestar
from minio.error import S3Error

from tests.conftest import Client
from tests.trading.bidding import MIB, b64, submit
from tests.trading.conftest import Lot
from tests.trading.test_bids import move_deadline
from trading import chronograph
from trading.bids import expiry, uploads

EVERY = 100_000  # committed uploads of other tests may come first in a batch


async def start(client: Client, lot: Lot, p7m: bytes, key: str) -> dict:
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads", json={
        "size": len(p7m), "idempotency_key": key, "part_size": 5 * MIB,
        "sha256": hashlib.sha256(p7m).hexdigest()})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def put(client: Client, upload: dict, p7m: bytes, number: int) -> dict:
    body = p7m[(number - 1) * 5 * MIB:number * 5 * MIB]
    r = await client.put(f"/api/bid-uploads/{upload['id']}/parts/{number}", content=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_unfinished_uploads_expire_after_the_deadline_and_their_parts_go(
        lot: Lot, client: Client, conn: asyncpg.Connection, app: Litestar) -> None:
    store = app.state.store
    p7m = lot.sealed(padding=6 * MIB)  # two parts
    half = await put(client, await start(client, lot, p7m, "expiry-half-1"), p7m, 1)
    whole = await start(client, lot, p7m, "expiry-whole-1")
    for n in (1, 2):
        whole = await put(client, whole, p7m, n)
    busy = await put(client, await start(client, lot, p7m, "expiry-busy-1"), p7m, 1)
    r = await submit(client, lot.tender, lot.bidder, lot.sealed(), key="expiry-submitted-1")
    assert r.status_code == 201, r.text
    submitted = r.json()
    # a part streaming at that moment holds a lease: its upload waits for the next pass
    await conn.execute("UPDATE bid_uploads SET busy_token = gen_random_uuid(), "
                       "busy_until = now() + interval '1 minute' WHERE id = $1", busy["id"])

    # before the deadline nothing expires
    await chronograph.run_expired_uploads(conn, limit=EVERY)
    assert await conn.fetchval("SELECT count(*) FROM bid_uploads WHERE tender_id = $1 "
                               "AND status = 'expired'", lot.tender["id"]) == 0

    await move_deadline(conn, lot.tender["id"], -1)
    assert await chronograph.run_expired_uploads(conn, limit=EVERY) >= 2
    rows = {str(r_["id"]): r_ for r_ in await conn.fetch(
        "SELECT id, status, expired_at, parts_done FROM bid_uploads WHERE tender_id = $1",
        lot.tender["id"])}
    assert rows[half["id"]]["status"] == rows[whole["id"]]["status"] == "expired"
    assert rows[half["id"]]["parts_done"] == 1  # the record of what arrived stays
    assert rows[busy["id"]]["status"] == "open" and rows[busy["id"]]["expired_at"] is None
    finalized = await conn.fetchval("SELECT upload_id FROM bids WHERE id = $1", submitted["id"])
    assert rows[str(finalized)]["status"] == "finalized"
    assert await conn.fetchval("SELECT status FROM bids WHERE id = $1",
                               submitted["id"]) == "submitted"
    audit = await conn.fetch("SELECT object_id FROM audit_log WHERE action = 'bid_upload.expired' "
                             "AND object_type = 'bid_upload'")
    assert {half["id"], whole["id"]} <= {a["object_id"] for a in audit}
    queued = await conn.fetch("SELECT job_key FROM outbox WHERE function = 'abort_bid_upload'")
    assert {f"bid-upload-abort:{half['id']}", f"bid-upload-abort:{whole['id']}"} <= {
        q["job_key"] for q in queued}

    # the job's work: the parts leave the store, and doing it twice is quiet
    up = await conn.fetchrow("SELECT object_key, s3_upload_id FROM bid_uploads WHERE id = $1",
                             half["id"])
    assert [p[0] for p in await store.list_parts(uploads.BUCKET, up["object_key"],
                                                 up["s3_upload_id"])] == [1]
    assert await expiry.drop_parts(conn, store, half["id"]) is True
    with pytest.raises(S3Error) as gone:
        await store.list_parts(uploads.BUCKET, up["object_key"], up["s3_upload_id"])
    assert gone.value.code in ("NoSuchUpload", "NoSuchKey")  # radosgw says the latter
    assert await expiry.drop_parts(conn, store, half["id"]) is True
    assert await expiry.drop_parts(conn, store, busy["id"]) is False  # not expired: untouched
    assert [p[0] for p in await store.list_parts(uploads.BUCKET, *(await conn.fetchrow(
        "SELECT object_key, s3_upload_id FROM bid_uploads WHERE id = $1", busy["id"])))] == [1]

    # the bidder is told plainly; the same key finds the expired upload
    r = await client.put(f"/api/bid-uploads/{half['id']}/parts/2", content=p7m[5 * MIB:])
    assert r.status_code == 410 and r.json()["code"] == "bid_upload_expired", r.text
    r = await client.post(f"/api/bid-uploads/{whole['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 410 and r.json()["code"] == "bid_upload_expired", r.text
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads", json={
        "size": len(p7m), "idempotency_key": "expiry-half-1", "part_size": 5 * MIB})
    assert r.status_code == 200 and r.json()["status"] == "expired", r.text

    # once the lease lapses, the next pass takes the last one
    await conn.execute("UPDATE bid_uploads SET busy_until = now() - interval '1 second' "
                       "WHERE id = $1", busy["id"])
    assert await chronograph.run_expired_uploads(conn, limit=EVERY) >= 1
    assert await conn.fetchval("SELECT status FROM bid_uploads WHERE id = $1",
                               busy["id"]) == "expired"


async def test_a_cancelled_tender_expires_its_uploads(
        lot: Lot, client: Client, conn: asyncpg.Connection) -> None:
    p7m = lot.sealed()
    up = await start(client, lot, p7m, "expiry-cancelled-1")
    await conn.execute("UPDATE tenders SET status = 'cancelled', cancel_reason = '测试', "
                       "cancelled_at = now() WHERE id = $1", lot.tender["id"])
    await chronograph.run_expired_uploads(conn, limit=EVERY)
    assert await conn.fetchval("SELECT status FROM bid_uploads WHERE id = $1",
                               up["id"]) == "expired"
