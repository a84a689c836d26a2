"""Resumable multipart uploads, object lock, ranges and removal on the real S3 server.

Bids arrive in parts over separate requests and must be locked from birth;
these tests hold the store to that against radosgw, whose object lock is real.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from minio.error import S3Error
from urllib3 import HTTPResponse

from core.settings import Settings
from core.storage import (
    CompletionInProgress,
    Lock,
    MinioStore,
    PartUploadFailed,
    StorageUnavailable,
    _parse_retention,
)

MiB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[MinioStore]:
    s = MinioStore(settings.storage)
    await s.ensure_buckets()
    yield s
    await s.aclose()


def key(name: str) -> str:
    return f"t/{name}-{secrets.token_hex(4)}"


async def stream(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await asyncio.sleep(0)  # a real request body yields to the loop between chunks
        yield data[start:start + size]


async def upload(store: MinioStore, bucket: str, name: str, parts: list[bytes],
                 lock: Lock | None = None) -> tuple[str, list[tuple[int, str]]]:
    upload_id = await store.create_multipart(bucket, name, lock=lock)
    # parts in flight together, as from bidders' parallel requests, over one client
    etags = await asyncio.gather(*(store.put_part(bucket, name, upload_id, n, stream(p), len(p))
                                   for n, p in enumerate(parts, 1)))
    return upload_id, list(enumerate(etags, 1))


async def test_three_streamed_parts_read_back_whole_and_by_range(store: MinioStore) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 123)]
    data = b"".join(parts)
    name = key("three")
    upload_id, done = await upload(store, "documents", name, parts)
    assert all('"' not in etag for _, etag in done)
    assert await store.list_parts("documents", name, upload_id) == [
        (n, etag, len(p)) for (n, etag), p in zip(done, parts, strict=True)]

    stored = await store.complete_multipart("documents", name, upload_id, done)
    assert stored.size == len(data) and stored.sha256 == "" and stored.etag.endswith("-3")
    assert hashlib.sha256(await store.get_bytes("documents", name)).digest() == hashlib.sha256(data).digest()

    # across the first part boundary, inside the last part, and past the end
    across = 5 * MiB - 1000
    assert await store.get_range("documents", name, across, 5000) == data[across:across + 5000]
    assert await store.get_range("documents", name, 10 * MiB + 7, 100) == data[10 * MiB + 7:10 * MiB + 107]
    assert await store.get_range("documents", name, len(data) - 10, 1000) == data[-10:]
    assert await store.get_range("documents", name, 0, 0) == b""


async def test_a_bid_is_born_locked_and_its_version_outlives_an_overwrite(store: MinioStore) -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    name = key("bid")
    body = b"sealed bid " + os.urandom(1000)
    upload_id, done = await upload(store, "bids", name, [body], Lock("COMPLIANCE", until))
    stored = await store.complete_multipart("bids", name, upload_id, done)
    assert stored.version_id

    lock = await store.get_lock("bids", name, stored.version_id)
    assert lock is not None and lock.mode == "COMPLIANCE"
    # stored to the millisecond, rounded up: never shorter than asked
    assert until <= lock.until < until + timedelta(milliseconds=1)

    with pytest.raises(S3Error) as refused:
        await store.remove("bids", name, version_id=stored.version_id)
    assert refused.value.code == "AccessDenied"
    with pytest.raises(S3Error):  # compliance yields to nobody
        await store.remove("bids", name, version_id=stored.version_id, bypass_governance=True)

    newer = await store.put_bytes("bids", name, b"a second submission")
    assert newer.version_id and newer.version_id != stored.version_id
    assert await store.get_bytes("bids", name) == b"a second submission"
    assert await store.get_range("bids", name, 0, len(body), version_id=stored.version_id) == body
    assert await store.get_lock("bids", name, stored.version_id) == lock
    assert await store.get_lock("bids", name, newer.version_id) is None


async def test_a_governance_lock_yields_only_to_a_bypassing_remove(store: MinioStore) -> None:
    name = key("bench")
    upload_id, done = await upload(store, "bids", name, [b"benchmark bid"],
                                   Lock("GOVERNANCE", datetime.now(UTC) + timedelta(days=1)))
    stored = await store.complete_multipart("bids", name, upload_id, done)
    lock = await store.get_lock("bids", name, stored.version_id)
    assert lock is not None and lock.mode == "GOVERNANCE"

    with pytest.raises(S3Error):
        await store.remove("bids", name, version_id=stored.version_id)
    await store.remove("bids", name, version_id=stored.version_id, bypass_governance=True)
    assert await store.stat("bids", name) is None
    with pytest.raises(S3Error):
        await store.get_range("bids", name, 0, 10, version_id=stored.version_id)


async def test_lock_is_refused_where_it_cannot_hold(store: MinioStore) -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValueError, match="mode"):
        Lock("FOREVER", future)
    with pytest.raises(ValueError, match="aware"):
        Lock("COMPLIANCE", future.replace(tzinfo=None))
    # radosgw accepts both of these and locks nothing
    with pytest.raises(ValueError, match="no object lock"):
        await store.create_multipart("documents", key("x"), lock=Lock("COMPLIANCE", future))
    with pytest.raises(ValueError, match="future"):
        await store.create_multipart("bids", key("x"), lock=Lock("GOVERNANCE", future - timedelta(days=2)))


async def test_retries_resume_and_repeat_safely(store: MinioStore) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    name = key("resume")
    upload_id = await store.create_multipart("documents", name)
    done = [(n, await store.put_part("documents", name, upload_id, n, stream(p), len(p)))
            for n, p in enumerate(parts[:2], 1)]
    # the connection broke: the next request asks where to resume
    listed = await store.list_parts("documents", name, upload_id)
    assert [(n, etag) for n, etag, _ in listed] == done
    assert [size for _, _, size in listed] == [5 * MiB, 5 * MiB]
    # a part sent again replaces itself
    again = await store.put_part("documents", name, upload_id, 2, stream(parts[1]), len(parts[1]))
    assert again == done[1][1]
    done.append((3, await store.put_part("documents", name, upload_id, 3, stream(parts[2]), 4)))

    first = await store.complete_multipart("documents", name, upload_id, list(reversed(done)))
    assert await store.complete_multipart("documents", name, upload_id, done) == first
    # radosgw answers a completion of an upload it no longer knows by
    # comparing the parts with the object: 200 when they made it, else 500 "This
    # multipart completion is already in progress", as for a completion a dead gateway
    # left locked: either way no object of these parts is there and none can be made
    assert await store.complete_multipart("documents", name, "2~forgotten", done) == first
    with pytest.raises(CompletionInProgress) as stuck:
        await store.complete_multipart("documents", name, "2~forgotten", done[:2])
    assert stuck.value.status == 503 and stuck.value.retry_after

    await store.abort_multipart("documents", name, upload_id)  # completed: quiet
    await store.abort_multipart("documents", key("never"), "2~unknown")
    assert await store.get_bytes("documents", name) == b"".join(parts)


async def test_a_completion_retried_after_the_upload_is_gone_returns_its_object(
        store: MinioStore, monkeypatch: pytest.MonkeyPatch) -> None:
    name = key("gone-upload")
    upload_id, done = await upload(store, "documents", name, [os.urandom(5 * MiB), b"end"])
    first = await store.complete_multipart("documents", name, upload_id, done)

    # AWS and MinIO answer a repeated completion with NoSuchUpload
    def no_such_upload(*args: object, **kwargs: object) -> None:
        raise S3Error(HTTPResponse(status=404), "NoSuchUpload", "gone", None, None, None)

    monkeypatch.setattr(store.client, "_complete_multipart_upload", no_such_upload)
    assert await store.complete_multipart("documents", name, upload_id, done) == first
    # ... and another upload's object under the same key is not mistaken for this one
    with pytest.raises(S3Error) as gone:
        await store.complete_multipart("documents", name, upload_id, [(1, done[0][1])])
    assert gone.value.code == "NoSuchUpload"
    with pytest.raises(S3Error) as gone:
        await store.complete_multipart("documents", key("never-stored"), upload_id, done)
    assert gone.value.code == "NoSuchUpload"


async def test_a_locked_bid_completed_twice_stays_locked(store: MinioStore) -> None:
    name = key("twice")
    until = datetime.now(UTC) + timedelta(hours=2)
    upload_id, done = await upload(store, "bids", name, [b"bid"], Lock("COMPLIANCE", until))
    first = await store.complete_multipart("bids", name, upload_id, done)
    second = await store.complete_multipart("bids", name, upload_id, done)
    assert second == first
    lock = await store.get_lock("bids", name, first.version_id)
    assert lock is not None and lock.mode == "COMPLIANCE" and lock.until >= until


async def test_a_short_or_long_body_records_no_part(store: MinioStore) -> None:
    name = key("wrong-length")
    upload_id = await store.create_multipart("documents", name)
    good = os.urandom(5 * MiB)
    first = await store.put_part("documents", name, upload_id, 1, stream(good), len(good))

    with pytest.raises(PartUploadFailed, match="ended at"):
        await store.put_part("documents", name, upload_id, 2, stream(os.urandom(MiB // 2)), MiB)
    with pytest.raises(PartUploadFailed, match="longer"):
        await store.put_part("documents", name, upload_id, 3, stream(os.urandom(MiB + 1)), MiB)
    # the longer body yields exactly the declared length before its surplus
    with pytest.raises(PartUploadFailed, match="longer"):
        await store.put_part("documents", name, upload_id, 4,
                             stream(os.urandom(MiB) + b"!", MiB), MiB)
    assert await store.list_parts("documents", name, upload_id) == [(1, first, len(good))]
    await store.abort_multipart("documents", name, upload_id)


async def test_a_bidder_gone_mid_part_propagates_and_records_nothing(store: MinioStore) -> None:
    name = key("gone")
    upload_id = await store.create_multipart("documents", name)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(CHUNK)
        yield os.urandom(CHUNK)
        raise ConnectionResetError("bidder went away")

    with pytest.raises(ConnectionResetError):
        await store.put_part("documents", name, upload_id, 1, broken(), MiB)
    assert await store.list_parts("documents", name, upload_id) == []
    await store.abort_multipart("documents", name, upload_id)


async def test_a_refused_part_raises(store: MinioStore) -> None:
    with pytest.raises(PartUploadFailed, match="refused"):
        await store.put_part("documents", key("x"), "2~unknown", 1, stream(b"data"), 4)


async def test_presigned_part_url_uploads_straight_to_s3(store: MinioStore) -> None:
    name = key("direct")
    upload_id = await store.create_multipart("documents", name)
    url = await store.presigned_part_url("documents", name, upload_id, 1, timedelta(minutes=5))
    async with httpx.AsyncClient() as http:
        r = await http.put(url, content=b"straight to s3",
                           headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    etag = r.headers["etag"].strip('"')
    assert await store.list_parts("documents", name, upload_id) == [(1, etag, 14)]
    stored = await store.complete_multipart("documents", name, upload_id, [(1, etag)])
    assert stored.size == 14
    assert await store.get_bytes("documents", name) == b"straight to s3"


async def test_a_64_mib_part_streams_in_flat_memory(store: MinioStore) -> None:
    size = 64 * MiB
    name = key("flat")
    upload_id = await store.create_multipart("documents", name)
    sent = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        block = bytearray(os.urandom(CHUNK))
        for n in range(size // CHUNK):
            block[:8] = n.to_bytes(8, "big")  # every chunk a fresh object, as from a socket
            chunk = bytes(block)
            sent.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        etag = await store.put_part("documents", name, upload_id, 1, source(), size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n64 MiB part: tracemalloc peak {peak / MiB:.2f} MiB")
    assert peak < 8 * MiB, peak
    assert await store.list_parts("documents", name, upload_id) == [(1, etag, size)]
    await store.abort_multipart("documents", name, upload_id)


def test_retention_with_nanoseconds_and_without_namespace_parses() -> None:
    # as radosgw sends it: nine fractional digits, no xmlns; the SDK's parser fails here
    radosgw = (b'<?xml version="1.0" encoding="UTF-8"?><Retention><Mode>COMPLIANCE</Mode>'
               b"<RetainUntilDate>2026-11-25T19:35:54.284123789Z</RetainUntilDate></Retention>")
    assert _parse_retention(radosgw) == Lock(
        "COMPLIANCE", datetime(2026, 11, 25, 19, 35, 54, 284123, tzinfo=UTC))
    aws = (b'<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>GOVERNANCE</Mode>'
           b"<RetainUntilDate>2026-11-25T19:35:54Z</RetainUntilDate></Retention>")
    assert _parse_retention(aws) == Lock("GOVERNANCE", datetime(2026, 11, 25, 19, 35, 54, tzinfo=UTC))
    assert _parse_retention(b"<Retention/>") is None


async def test_a_store_that_does_not_answer_is_unavailable(settings: Settings) -> None:
    """Nothing listens at the endpoint: every kind of call fails with StorageUnavailable
    (503 and Retry-After at the HTTP edge), a part's sender is not blamed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = MinioStore(replace(settings.storage, endpoint=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(StorageUnavailable):
            await dead.put_part("documents", key("dead"), "2~x", 1, stream(b"data"), 4)
        with pytest.raises(StorageUnavailable):
            await dead.complete_multipart("documents", key("dead"), "2~x", [(1, "e")])
        with pytest.raises(StorageUnavailable):
            await dead.stat("documents", key("dead"))
        with pytest.raises(StorageUnavailable) as down:
            await dead.put_stream("documents", key("dead"), stream(b"x" * 1000))
        assert down.value.status == 503 and down.value.retry_after
    finally:
        await dead.aclose()
