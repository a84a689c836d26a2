"""Uploading a sealed bid: in parts, in order, resumable, streamed through the API.

Why through the API rather than straight to S3 with presigned URLs: the
platform must know the SHA-256 of ``bid.p7m`` to check the bidder's outer
signature, and the head of the envelope to check its recipients (S2). Hashed
as the bytes pass, that costs nothing extra; uploaded straight to S3, the
whole object would have to be read back at finalize (docs/bid-format.md has
the measured comparison). Memory stays flat either way: each part streams
from the request to its S3 part one chunk at a time.

A part holds a short lease on the upload row (not a transaction or a pooled
connection) while it streams: ``LEASE`` (15 s), renewed every ``RENEW_EVERY``
seconds while bytes flow. A process that dies mid-part stops renewing, so the
bidder's resume is taken by another process within the lease; until then the
refusal (``bid_upload_busy``) says in Retry-After when the lease lapses. The
running SHA-256 state is saved with the part, so the next part may be served by
any API process, and a broken connection resumes at the next part. The
idempotency key makes a retried start land on the same upload.

The store's failures are not the bidder's: a store that cannot be reached or
breaks off mid-part answers 503 ``storage_unavailable`` (with Retry-After),
and only a body of the wrong length answers ``bid_part_wrong_size``.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from core import audit, buckets
from core.auth import Principal
from core.errors import InvalidInput, NotFound, StorageUnavailable
from core.settings import Settings
from core.storage import Lock, ObjectStore, PartUploadFailed
from signing.resumable import ResumableSHA256
from trading.bids import errors
from trading.bids import queries as q
from trading.bids.envelope_check import HEAD_BYTES

BUCKET = buckets.BIDS
PART_SIZE = 16 * 1024 * 1024
MIN_PART, MAX_PART = 5 * 1024 * 1024, 64 * 1024 * 1024
BLOCK = 256 * 1024  # bytes hashed and forwarded per step
LEASE = timedelta(seconds=15)
RENEW_EVERY = 5.0  # seconds between renewals while bytes flow: a dead holder's lease lapses
# within LEASE, and a live one survives a pause of LEASE - RENEW_EVERY in its stream
RETENTION_AFTER_DEADLINE = timedelta(days=365)

Transaction = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


async def lot_for(conn: asyncpg.Connection, tender_id: UUID, lot_number: int) -> dict[str, Any]:
    row = await conn.fetchrow(q.LOT_FOR_BID, tender_id, lot_number)
    if row is None or row["status"] == "draft":
        raise NotFound()
    return dict(row)


def check_open(lot: dict[str, Any], now: Any) -> None:
    """The lot takes bids: the deadline is ahead (S1) and its tender is published.

    The deadline is checked first: a bidder who is late is told so, whether or
    not the chronograph has closed bidding yet."""
    if now >= lot["bid_deadline"]:
        raise errors.DeadlinePassed({"bid_deadline": lot["bid_deadline"].isoformat(),
                                     "now": now.isoformat()})
    if lot["status"] != "published":
        raise errors.BiddingClosed({"status": lot["status"]})


async def check_holder(conn: asyncpg.Connection, lot: dict[str, Any], org_id: UUID) -> None:
    if not await conn.fetchval(q.IS_HOLDER, lot["tender_id"], org_id):
        raise errors.DocumentsNotObtained()


def check_size(lot: dict[str, Any], size: int) -> None:
    if size > lot["max_bid_bytes"]:
        raise errors.TooLarge({"size": size, "maximum": lot["max_bid_bytes"]})


def bidder_org(principal: Principal) -> UUID:
    if not principal.has("bidder") or principal.organization_id is None:
        raise errors.NotABidder()
    return principal.organization_id


def parts_of(upload: dict[str, Any]) -> int:
    return math.ceil(int(upload["size"]) / int(upload["part_size"]))


def part_length(upload: dict[str, Any], number: int) -> int:
    if number < parts_of(upload):
        return int(upload["part_size"])
    return int(upload["size"] - (number - 1) * upload["part_size"])


async def start(tx: Transaction, store: ObjectStore, settings: Settings,
                principal: Principal, actor: audit.Actor, *, tender_id: UUID, lot_number: int,
                size: int, idempotency_key: str, part_size: int = PART_SIZE,
                sha256: bytes | None = None, device: dict[str, Any] | None = None,
                creator: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """The upload for this key: a new one (True), or the one the key already made (False).

    Checks in one short transaction, the store's multipart upload made with none open,
    the row written in another (``tx`` opens a short transaction)."""
    org_id = bidder_org(principal)
    async with tx() as conn:
        existing = await conn.fetchrow(q.UPLOAD_BY_KEY, org_id, idempotency_key)
        lot = await lot_for(conn, tender_id, lot_number)
        if existing is not None:
            if existing["lot_id"] != lot["lot_id"] or existing["size"] != size:
                raise errors.KeyReused({"upload": str(existing["id"])})
            return dict(existing), False
        if not MIN_PART <= part_size <= MAX_PART:
            raise InvalidInput({"field": "part_size", "minimum": MIN_PART, "maximum": MAX_PART})
        check_open(lot, await conn.fetchval(q.CLOCK))
        await check_holder(conn, lot, org_id)
        check_size(lot, size)
    upload_id = uuid4()
    key, s3_id = await new_multipart(store, settings, lot, upload_id)
    async with tx() as conn:
        row = await conn.fetchrow(
            q.INSERT_UPLOAD, upload_id, tender_id, lot["lot_id"], org_id, principal.user_id,
            idempotency_key, size, sha256, part_size, key, s3_id, ResumableSHA256().state(),
            device or {}, creator, audit.normalize_ip(actor.client_ip))
        if row is None:  # the same key, a moment earlier, from a retried request
            row = await conn.fetchrow(q.UPLOAD_BY_KEY, org_id, idempotency_key)
            created = False
        else:
            created = True
    if not created:
        await store.abort_multipart(BUCKET, key, s3_id)
    return dict(row), created


async def new_multipart(store: ObjectStore, settings: Settings, lot: dict[str, Any],
                        upload_id: UUID) -> tuple[str, str]:
    """A multipart upload for the bid, under a key of its own: (object key, S3 upload id)."""
    key = f"tenders/{lot['tender_id']}/lots/{lot['number']}/{upload_id}-{uuid4().hex[:8]}.p7m"
    # born locked: no one, the platform included, can delete or overwrite it
    until = lot["bid_deadline"] + timedelta(days=lot["bid_validity_days"]) + RETENTION_AFTER_DEADLINE
    s3_id = await store.create_multipart(BUCKET, key, content_type="application/pkcs7-mime",
                                         lock=Lock(settings.bid_lock_mode, until))
    return key, s3_id


async def get(conn: asyncpg.Connection, principal: Principal, upload_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(q.GET_UPLOAD, upload_id)
    if row is None or row["organization_id"] != principal.organization_id:
        raise NotFound()  # another organization's upload does not exist, for the caller
    return dict(row)


def check_not_expired(upload: dict[str, Any]) -> None:
    if upload["status"] == "expired":
        raise errors.UploadExpired({"upload": str(upload["id"])})


def progress(upload: dict[str, Any]) -> dict[str, Any]:
    return {**upload, "parts": parts_of(upload)}


@dataclass(frozen=True)
class Lease:
    upload: dict[str, Any]
    number: int
    length: int
    token: UUID
    hash_state: bytes


async def begin_part(conn: asyncpg.Connection, principal: Principal, *, upload_id: UUID,
                     number: int, length: int, client_ip: str | None) -> Lease | None:
    """The lease for part ``number``; None when that part was received already."""
    upload = await get(conn, principal, upload_id)
    check_not_expired(upload)
    if upload["status"] != "open":
        raise errors.UploadFinalized({"bid": str(upload["bid_id"])})
    if not 1 <= number <= parts_of(upload):
        raise errors.PartOutOfOrder({"parts": parts_of(upload), "parts_done": upload["parts_done"]})
    if number <= upload["parts_done"]:
        return None
    if number != upload["parts_done"] + 1:
        raise errors.PartOutOfOrder({"next": upload["parts_done"] + 1})
    expected = part_length(upload, number)
    if length != expected:
        raise errors.PartWrongSize({"part": number, "expected": expected, "given": length})
    lot = dict(await conn.fetchrow(q.LOT_BY_ID, upload["lot_id"]))
    check_open(lot, await conn.fetchval(q.CLOCK))
    token = uuid4()
    row = await conn.fetchrow(q.TAKE_LEASE, upload_id, number, token, LEASE,
                              audit.normalize_ip(client_ip))
    if row is None:
        raise errors.UploadBusy({"parts_done": upload["parts_done"]},
                                retry_after=await lease_left(conn, upload_id))
    return Lease(upload, number, expected, token, bytes(row["hash_state"]))


async def lease_left(conn: asyncpg.Connection, upload_id: UUID) -> int:
    """Whole seconds until the upload's lease lapses (at least 1)."""
    left = await conn.fetchval(q.LEASE_LEFT, upload_id)
    return max(1, int(left or 1))


@dataclass
class PartResult:
    etag: str
    hash_state: bytes
    head: bytes


async def _blocks(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The request's chunks (64-300 KiB as the server reads them) joined into blocks of at
    least BLOCK: hashing and forwarding cost per call as well as per byte."""
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


async def stream_part(store: ObjectStore, lease: Lease, chunks: AsyncIterator[bytes], *,
                      renew: Callable[[], Awaitable[bool]]) -> PartResult:
    """Hash and forward one part to its S3 part, a block at a time, renewing the lease.

    A lease found taken over (it lapsed while the stream stalled) stops the part at
    once: the request that holds it now is the one whose part counts."""
    hasher = ResumableSHA256(lease.hash_state)
    head = bytearray()
    last = time.monotonic()
    received = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal last, received
        async for block in _blocks(chunks):
            received += len(block)
            hasher.update(block)
            if lease.number == 1 and len(head) < HEAD_BYTES:
                head.extend(block[:HEAD_BYTES - len(head)])
            if time.monotonic() - last > RENEW_EVERY:
                if not await renew():
                    raise errors.UploadBusy({"part": lease.number})
                last = time.monotonic()
            yield block

    up = lease.upload
    try:
        etag = await store.put_part(BUCKET, up["object_key"], up["s3_upload_id"], lease.number,
                                    body(), lease.length)
    except PartUploadFailed as exc:
        if received != lease.length:
            raise errors.PartWrongSize({"part": lease.number, "expected": lease.length,
                                        "received": received}) from None
        # the whole body arrived and the store refused it
        raise StorageUnavailable({"part": lease.number, "reason": str(exc)[:200]}) from None
    return PartResult(etag, hasher.state(), bytes(head))


async def end_part(conn: asyncpg.Connection, lease: Lease, result: PartResult) -> dict[str, Any]:
    row = await conn.fetchrow(q.RECORD_PART, lease.upload["id"], lease.token, lease.length,
                              result.etag, result.hash_state, result.head, lease.number)
    if row is None:  # the lease lapsed and another request took over
        raise errors.UploadBusy()
    return dict(await conn.fetchrow(q.GET_UPLOAD, lease.upload["id"]))


async def renew_lease(conn: asyncpg.Connection, lease: Lease) -> bool:
    """Extend the lease; False when it is no longer this request's."""
    return await conn.fetchval(q.RENEW_LEASE, lease.upload["id"], lease.token, LEASE) is not None


async def release(conn: asyncpg.Connection, lease: Lease) -> None:
    await conn.execute(q.RELEASE_LEASE, lease.upload["id"], lease.token)

