"""Object storage behind a small protocol, with the minio SDK as the implementation.

Any S3 endpoint works (MinIO in production; Ceph radosgw locally, for its
real object lock). The SDK is synchronous, so calls run in worker threads;
puts and gets move data in fixed-size parts, so memory stays flat whatever
the object's size.

A store that cannot be reached or fails on its side (5xx) raises
``StorageUnavailable`` (503 with Retry-After), never the SDK's own errors.

This module is the one the rest of the platform imports from. Multipart
uploads, which bids arrive as, live in `core.multipart`; object lock parsing
in `core.object_lock`; what callers need of them is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from core.buckets import BUCKETS, DOCUMENTS, StoredObject, in_thread
from core.errors import StorageUnavailable
from core.multipart import CompletionInProgress, MultipartUploads, PartUploadFailed
from core.object_lock import _NO_RETENTION, LOCK_MODES, Lock, _parse_retention
from core.settings import StorageSettings

__all__ = ["BUCKETS", "CHUNK", "LOCK_MODES", "PART_SIZE", "CompletionInProgress", "Lock",
           "MinioStore", "ObjectStore", "PartUploadFailed", "StorageUnavailable", "StoredObject",
           "_parse_retention", "iter_file", "open_store"]

PART_SIZE = 5 * 1024 * 1024  # S3 multipart part size: the memory bound of a put
CHUNK = 256 * 1024


class ObjectStore(Protocol):
    """What the platform needs from object storage; nothing more."""

    async def ensure_buckets(self) -> None: ...
    async def put_stream(self, bucket: str, key: str, chunks: AsyncIterator[bytes],
                         content_type: str = ...) -> StoredObject: ...
    async def put_bytes(self, bucket: str, key: str, data: bytes,
                        content_type: str = ...) -> StoredObject: ...
    def get_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]: ...
    async def get_bytes(self, bucket: str, key: str) -> bytes: ...
    async def stat(self, bucket: str, key: str) -> dict[str, Any] | None: ...
    async def presigned_get(self, bucket: str, key: str, expires: timedelta) -> str: ...
    async def presigned_put(self, bucket: str, key: str, expires: timedelta) -> str: ...
    async def ping(self) -> None: ...
    async def aclose(self) -> None: ...
    async def create_multipart(self, bucket: str, key: str, *,
                               content_type: str = ..., lock: Lock | None = ...) -> str: ...
    async def put_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                       chunks: AsyncIterator[bytes], length: int) -> str: ...
    async def complete_multipart(self, bucket: str, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> StoredObject: ...
    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...
    async def abort_incomplete(self, bucket: str, key: str) -> int: ...
    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int]]: ...
    async def presigned_part_url(self, bucket: str, key: str, upload_id: str, part_number: int,
                                 expires: timedelta) -> str: ...
    async def get_range(self, bucket: str, key: str, offset: int, length: int, *,
                        version_id: str | None = ...) -> bytes: ...
    async def get_lock(self, bucket: str, key: str, version_id: str | None = ...) -> Lock | None: ...
    async def remove(self, bucket: str, key: str, *, version_id: str | None = ...,
                     bypass_governance: bool = ...) -> None: ...


_ABORT = b"\x00abort"  # identity-compared sentinel; never a real chunk object


class _QueueReader(io.RawIOBase):
    """A blocking file-like reader fed from the event loop, for the SDK's thread.

    It hashes what passes through, so the digest of a streamed object is known
    without a second read.
    """

    def __init__(self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop):
        self._queue = queue
        self._loop = loop
        self._buffer = b""
        self._eof = False
        self.size = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = [self._buffer] if self._buffer else []
        have = len(self._buffer)
        while not self._eof and (size < 0 or have < size):
            item = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if item is _ABORT:
                raise OSError("upload aborted by the caller")
            if item is None:
                self._eof = True
            else:
                parts.append(item)
                have += len(item)
        data = b"".join(parts)
        if size < 0 or len(data) <= size:
            out, self._buffer = data, b""
        else:
            out, self._buffer = data[:size], data[size:]
        self.size += len(out)
        self.sha256.update(out)
        return out


# Connections to the store per process. The SDK's default of 10 was measured too few: twenty
# bids opened at once (bench/hall.py) discarded connections 48 times in 200 opens.
POOL_SIZE = 32


def _pool() -> urllib3.PoolManager:
    """The SDK's own defaults (timeouts, retries, certificate checks), with a larger pool."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=300, read=300), maxsize=POOL_SIZE,
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))


class MinioStore(MultipartUploads):
    def __init__(self, settings: StorageSettings) -> None:
        parts = urlsplit(settings.endpoint if "://" in settings.endpoint
                         else f"http://{settings.endpoint}")
        self.settings = settings
        self.client = Minio(
            parts.netloc, access_key=settings.access_key, secret_key=settings.secret_key,
            secure=parts.scheme == "https" or settings.secure, region=settings.region,
            http_client=_pool(),
        )

    def bucket(self, name: str) -> str:
        return self.settings.bucket(name)

    async def ensure_buckets(self) -> None:
        def work() -> None:
            for name, locked in BUCKETS.items():
                bucket = self.bucket(name)
                if not self.client.bucket_exists(bucket):
                    try:
                        self.client.make_bucket(bucket, object_lock=locked)
                    except S3Error as exc:  # another process may have created it first
                        if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                            raise
                if locked:
                    # raises if the bucket exists without object lock: refuse to
                    # start rather than keep bids and archives deletable
                    self.client.get_object_lock_config(bucket)
        await in_thread("ensure_buckets", work)

    async def ping(self) -> None:
        await in_thread("ping", self.client.bucket_exists, self.bucket(DOCUMENTS))

    async def put_stream(self, bucket: str, key: str, chunks: AsyncIterator[bytes],
                         content_type: str = "application/octet-stream") -> StoredObject:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
        reader = _QueueReader(queue, loop)

        def work() -> Any:
            return self.client.put_object(self.bucket(bucket), key, reader,  # type: ignore[arg-type]
                                          length=-1, part_size=PART_SIZE,
                                          content_type=content_type,
                                          # one part in flight: parallel parts queue
                                          # up unboundedly when the network is slower
                                          num_parallel_uploads=1)

        task = asyncio.ensure_future(in_thread("put", work))

        async def feed(item: bytes | object) -> None:
            put = asyncio.ensure_future(queue.put(item))  # type: ignore[arg-type]
            done, _ = await asyncio.wait({put, task}, return_when=asyncio.FIRST_COMPLETED)
            if put not in done:  # the upload thread stopped early: surface its error
                put.cancel()
                await task
                raise StorageUnavailable({"operation": "put"})

        try:
            async for chunk in chunks:
                if chunk:
                    await feed(chunk)
            await feed(None)
            result = await task
        except BaseException:
            # Drain and abort: the reader raises, the SDK aborts the multipart
            # upload, and no truncated object is ever stored.
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_ABORT)  # type: ignore[arg-type]
            with contextlib.suppress(BaseException):
                await task
            raise
        return StoredObject(bucket, key, reader.size, reader.sha256.hexdigest(), result.etag,
                            result.version_id)

    async def put_bytes(self, bucket: str, key: str, data: bytes,
                        content_type: str = "application/octet-stream") -> StoredObject:
        def work() -> Any:
            return self.client.put_object(self.bucket(bucket), key, io.BytesIO(data), len(data),
                                          content_type=content_type)
        result = await in_thread("put", work)
        return StoredObject(bucket, key, len(data), hashlib.sha256(data).hexdigest(),
                            result.etag, result.version_id)

    async def get_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        response = await in_thread("get", self.client.get_object, self.bucket(bucket), key)
        try:
            iterator: Iterable[bytes] = response.stream(CHUNK)
            it = iter(iterator)
            sentinel = object()
            while True:
                chunk = await in_thread("get", next, it, sentinel)
                if chunk is sentinel:
                    break
                assert isinstance(chunk, bytes)
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def get_bytes(self, bucket: str, key: str) -> bytes:
        return b"".join([c async for c in self.get_stream(bucket, key)])

    async def stat(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            st = await in_thread("stat", self.client.stat_object, self.bucket(bucket), key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return None
            raise
        return {"size": st.size, "etag": st.etag, "version_id": st.version_id,
                "content_type": st.content_type, "last_modified": st.last_modified}

    async def presigned_get(self, bucket: str, key: str, expires: timedelta) -> str:
        return await in_thread("presign", self.client.presigned_get_object, self.bucket(bucket),
                               key, expires)

    async def presigned_put(self, bucket: str, key: str, expires: timedelta) -> str:
        return await in_thread("presign", self.client.presigned_put_object, self.bucket(bucket),
                               key, expires)

    async def get_range(self, bucket: str, key: str, offset: int, length: int, *,
                        version_id: str | None = None) -> bytes:
        """`length` bytes from `offset`; fewer at the end of the object."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        if length == 0:  # the SDK reads a zero length as "to the end"
            return b""

        def work() -> bytes:
            response = self.client.get_object(self.bucket(bucket), key, offset=offset, length=length,
                                              version_id=version_id)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await in_thread("get", work)

    async def get_lock(self, bucket: str, key: str, version_id: str | None = None) -> Lock | None:
        """The version's retention, or None when it has none.

        Read with a raw GetObjectRetention: the SDK's parser fails on the
        nanosecond timestamps radosgw returns.
        """
        query: dict[str, str | list[str] | tuple[str]] = {"retention": ""}
        if version_id:
            query["versionId"] = version_id
        try:
            response = await in_thread("get_lock", self.client._execute, "GET", self.bucket(bucket),
                                       key, query_params=query)
        except S3Error as exc:
            if exc.code in _NO_RETENTION:
                return None
            raise
        return _parse_retention(response.data)

    async def remove(self, bucket: str, key: str, *, version_id: str | None = None,
                     bypass_governance: bool = False) -> None:
        """Delete a version, or without `version_id` hide the object behind a delete marker.

        A locked version stays: the server refuses with AccessDenied, except a
        GOVERNANCE lock when `bypass_governance` is set. Removing what does not
        exist succeeds, as in S3.
        """
        headers: dict[str, str | list[str] | tuple[str]] = (
            {"x-amz-bypass-governance-retention": "true"} if bypass_governance else {})
        query: dict[str, str | list[str] | tuple[str]] = {"versionId": version_id} if version_id else {}
        await in_thread("remove", self.client._execute, "DELETE", self.bucket(bucket), key,
                        headers=headers, query_params=query)


def open_store(settings: StorageSettings) -> ObjectStore:
    return MinioStore(settings)


async def iter_file(f: BinaryIO, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """Read a local file in chunks without blocking the loop."""
    while True:
        data = await asyncio.to_thread(f.read, chunk)
        if not data:
            return
        yield data
