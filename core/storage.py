"""Object storage behind a small protocol, with the minio SDK as the implementation.

Any S3 endpoint works (MinIO in production; Ceph radosgw locally, for its
real object lock). The SDK is synchronous, so calls run in worker threads;
puts and gets move data in fixed-size parts, so memory stays flat whatever
the object's size.

Bids arrive as multipart uploads spread over many HTTP requests, one part per
request, so a broken connection resumes at the next part. The SDK's part
upload takes a whole part as bytes, which 50 concurrent bidders cannot afford;
parts therefore go to a presigned part URL through httpx, streamed from the
incoming request one chunk at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import httpx
from minio import Minio
from minio.datatypes import Part
from minio.error import S3Error
from minio.retention import Retention

from core.settings import StorageSettings

PART_SIZE = 5 * 1024 * 1024  # S3 multipart part size: the memory bound of a put
CHUNK = 256 * 1024

# Buckets the platform uses; each is created at start if missing. The archive
# bucket gets object lock (it cannot be enabled later on an existing bucket).
BUCKETS: dict[str, bool] = {"documents": False, "bids": True, "records": False, "archive": True}

LOCK_MODES = frozenset({"COMPLIANCE", "GOVERNANCE"})
# The lock asked for at CreateMultipartUpload, kept as user metadata as well:
# radosgw 16 drops the lock headers of a multipart upload when it completes
# (Ceph tracker 63724), so completion reads these back and applies the lock.
_META_LOCK_MODE = "x-amz-meta-lock-mode"
_META_LOCK_UNTIL = "x-amz-meta-lock-retain-until-date"
# Codes for "this version carries no retention": AWS and MinIO, then radosgw.
_NO_RETENTION = frozenset({"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"})

# put_part signs a URL for its own request and uses it at once; the server
# checks the signature when the request starts, so a slow part is not cut off.
PART_URL_EXPIRY = timedelta(minutes=15)
# Timeouts apply per socket operation, not per part: a slow bidder feeding a
# part for minutes is fine, a silent S3 server is not.
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# One connection per part in flight: 50 bidders uploading at once fit, and
# more wait for a free connection rather than failing.
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


@dataclass(frozen=True, slots=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str
    etag: str
    version_id: str | None


@dataclass(frozen=True, slots=True)
class Lock:
    """An S3 object lock: the version can be neither deleted nor overwritten before `until`.

    COMPLIANCE binds everyone, the store's own administrators included;
    GOVERNANCE yields to a delete that asks to bypass it, which is how a
    benchmark cleans up after itself.
    """

    mode: str  # "COMPLIANCE" or "GOVERNANCE"
    until: datetime  # aware

    def __post_init__(self) -> None:
        # radosgw accepts an unknown mode at CreateMultipartUpload and then
        # locks nothing: refuse it here rather than store an unlocked bid
        if self.mode not in LOCK_MODES:
            raise ValueError(f"object lock mode must be one of {sorted(LOCK_MODES)}, not {self.mode!r}")
        if self.until.utcoffset() is None:
            raise ValueError("object lock until must be an aware datetime")


class PartUploadFailed(RuntimeError):
    """S3 refused a part, or the body was shorter or longer than declared.

    Nothing of the part is recorded, so the caller may send it again.
    """


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


class MinioStore:
    def __init__(self, settings: StorageSettings) -> None:
        parts = urlsplit(settings.endpoint if "://" in settings.endpoint
                         else f"http://{settings.endpoint}")
        self.settings = settings
        self.client = Minio(
            parts.netloc, access_key=settings.access_key, secret_key=settings.secret_key,
            secure=parts.scheme == "https" or settings.secure, region=settings.region,
        )
        # Created on first use in the running loop: an AsyncClient's
        # connections belong to the loop that opened them.
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

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
        await asyncio.to_thread(work)

    async def ping(self) -> None:
        await asyncio.to_thread(self.client.bucket_exists, self.bucket("documents"))

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

        task = asyncio.ensure_future(asyncio.to_thread(work))

        async def feed(item: bytes | object) -> None:
            put = asyncio.ensure_future(queue.put(item))  # type: ignore[arg-type]
            done, _ = await asyncio.wait({put, task}, return_when=asyncio.FIRST_COMPLETED)
            if put not in done:  # the upload thread stopped early: surface its error
                put.cancel()
                await task
                raise RuntimeError("object store upload stopped before the end of the stream")

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
        result = await asyncio.to_thread(work)
        return StoredObject(bucket, key, len(data), hashlib.sha256(data).hexdigest(),
                            result.etag, result.version_id)

    async def get_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        response = await asyncio.to_thread(self.client.get_object, self.bucket(bucket), key)
        try:
            iterator: Iterable[bytes] = response.stream(CHUNK)
            it = iter(iterator)
            sentinel = object()
            while True:
                chunk = await asyncio.to_thread(next, it, sentinel)
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
            st = await asyncio.to_thread(self.client.stat_object, self.bucket(bucket), key)
        except S3Error as exc:
            if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return None
            raise
        return {"size": st.size, "etag": st.etag, "version_id": st.version_id,
                "content_type": st.content_type}

    async def presigned_get(self, bucket: str, key: str, expires: timedelta) -> str:
        return await asyncio.to_thread(self.client.presigned_get_object, self.bucket(bucket),
                                       key, expires)

    async def presigned_put(self, bucket: str, key: str, expires: timedelta) -> str:
        return await asyncio.to_thread(self.client.presigned_put_object, self.bucket(bucket),
                                       key, expires)

    def _http_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            # trust_env off: like the SDK, talk to the store directly even when
            # the process has a proxy configured for the outside world; but
            # trust the same CAs as the SDK (SSL_CERT_FILE, else certifi)
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS, trust_env=False,
                                           verify=httpx.create_ssl_context(trust_env=True))
            self._http_loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the part uploads' connection pool; call on shutdown."""
        client, loop = self._http, self._http_loop
        self._http = self._http_loop = None
        # a client from a loop that has since ended cannot be closed from here;
        # its sockets went with that loop
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    async def create_multipart(self, bucket: str, key: str, *,
                               content_type: str = "application/octet-stream",
                               lock: Lock | None = None) -> str:
        """Start a multipart upload; with `lock`, the object is born locked.

        The lock goes on CreateMultipartUpload, so on a conforming server no
        moment exists when the completed object is deletable.
        """
        headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
        if lock is not None:
            if not BUCKETS.get(bucket):
                # radosgw accepts the headers on any bucket and locks nothing
                raise ValueError(f"bucket {bucket!r} has no object lock")
            if lock.until <= datetime.now(UTC):
                raise ValueError("object lock until must be in the future")
            until = _amz_time(lock.until)
            headers |= {"x-amz-object-lock-mode": lock.mode,
                        "x-amz-object-lock-retain-until-date": until,
                        _META_LOCK_MODE: lock.mode, _META_LOCK_UNTIL: until}
        return await asyncio.to_thread(self.client._create_multipart_upload,
                                       self.bucket(bucket), key, headers)

    async def put_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                       chunks: AsyncIterator[bytes], length: int) -> str:
        """Stream one part to S3 and return its ETag, unquoted.

        Memory holds at most two chunks whatever the part's size. The last
        chunk is held back until the source is known to end there, so a body
        longer or shorter than `length` never reaches the server whole and no
        part is recorded; the caller's own errors (a bidder gone away)
        propagate unchanged.
        """
        if length < 0:
            raise ValueError("part length must not be negative")
        url = self._part_url(bucket, key, upload_id, part_number, PART_URL_EXPIRY)
        # radosgw wants an explicit Content-Type on presigned PUTs
        headers = {"Content-Length": str(length), "Content-Type": "application/octet-stream"}
        try:
            response = await self._http_client().put(
                url, content=_exactly(chunks, length, part_number), headers=headers)
        except httpx.HTTPError as exc:
            raise PartUploadFailed(f"part {part_number} of {key}: {exc!r}") from exc
        if response.status_code != 200:
            raise PartUploadFailed(f"part {part_number} of {key} refused: HTTP {response.status_code} "
                                   f"{_error_code(response.content)}")
        etag = str(response.headers.get("etag", "")).strip('"')
        if not etag:
            raise PartUploadFailed(f"part {part_number} of {key}: the server sent no ETag")
        return etag

    async def complete_multipart(self, bucket: str, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> StoredObject:
        """Join the parts into the object, safe to retry.

        A retry after a crash finds the upload gone (NoSuchUpload) while the
        object exists; the object is then returned if its ETag is the one
        these parts make, so another upload's object under the same key is
        never mistaken for this one. The lock asked for at creation is checked
        on the completed version and applied if the server dropped it
        (radosgw 16); a retry applies it too. `sha256` is left empty: only
        the caller saw the bytes.
        """
        ordered = sorted(parts)
        name = self.bucket(bucket)

        def work() -> StoredObject:
            try:
                result = self.client._complete_multipart_upload(
                    name, key, upload_id, [Part(number, etag.strip('"')) for number, etag in ordered])
            except S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise
                try:
                    st = self.client.stat_object(name, key)
                except S3Error:
                    raise exc from None
                expected = _multipart_etag([etag for _, etag in ordered])
                if expected is None or st.etag != expected:
                    raise
            else:
                # radosgw answers a repeated completion itself, comparing the
                # parts with the object, with 200 and no version id: the
                # newest version is then this upload's
                st = self.client.stat_object(name, key, version_id=result.version_id)
            self._apply_requested_lock(name, key, st.version_id, st.metadata)
            return StoredObject(bucket, key, st.size or 0, "", st.etag or "", st.version_id)

        return await asyncio.to_thread(work)

    def _apply_requested_lock(self, name: str, key: str, version_id: str | None,
                              headers: Any) -> None:
        mode, until = headers.get(_META_LOCK_MODE), headers.get(_META_LOCK_UNTIL)
        if not mode or not until or headers.get("x-amz-object-lock-mode"):
            return
        self.client.set_object_retention(name, key, Retention(mode, _parse_amz_time(until)),
                                         version_id=version_id)

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; quiet when it is already gone (aborted or completed)."""
        try:
            await asyncio.to_thread(self.client._abort_multipart_upload, self.bucket(bucket), key,
                                    upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        """The parts stored so far as (number, etag, size): where a broken upload resumes."""
        name = self.bucket(bucket)

        def work() -> list[tuple[int, str, int]]:
            out: list[tuple[int, str, int]] = []
            marker: str | None = None
            while True:
                result = self.client._list_parts(name, key, upload_id, part_number_marker=marker)
                out.extend((p.part_number, p.etag, p.size or 0) for p in result.parts)
                if not result.is_truncated or not result.next_part_number_marker:
                    return out
                marker = result.next_part_number_marker

        return await asyncio.to_thread(work)

    async def presigned_part_url(self, bucket: str, key: str, upload_id: str, part_number: int,
                                 expires: timedelta) -> str:
        """A URL to PUT one part to, straight to S3 (query-string SigV4, unsigned payload)."""
        return self._part_url(bucket, key, upload_id, part_number, expires)

    def _part_url(self, bucket: str, key: str, upload_id: str, part_number: int,
                  expires: timedelta) -> str:
        # Pure computation, no request: the region comes from the settings.
        url: str = self.client.get_presigned_url(
            "PUT", self.bucket(bucket), key, expires,
            extra_query_params={"partNumber": str(part_number), "uploadId": upload_id})
        return url

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

        return await asyncio.to_thread(work)

    async def get_lock(self, bucket: str, key: str, version_id: str | None = None) -> Lock | None:
        """The version's retention, or None when it has none.

        Read with a raw GetObjectRetention: the SDK's parser fails on the
        nanosecond timestamps radosgw returns.
        """
        query: dict[str, str | list[str] | tuple[str]] = {"retention": ""}
        if version_id:
            query["versionId"] = version_id
        try:
            response = await asyncio.to_thread(self.client._execute, "GET", self.bucket(bucket), key,
                                               query_params=query)
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
        await asyncio.to_thread(self.client._execute, "DELETE", self.bucket(bucket), key,
                                headers=headers, query_params=query)


async def _exactly(chunks: AsyncIterator[bytes], length: int, part_number: int) -> AsyncIterator[bytes]:
    """Pass `chunks` on, failing before the server has `length` bytes unless the source has exactly that."""
    sent = 0
    held: bytes | None = None
    async for chunk in chunks:
        if not chunk:
            continue
        sent += len(chunk)
        if sent > length:
            raise PartUploadFailed(f"part {part_number}: the body is longer than the declared {length} bytes")
        if held is not None:
            yield held
        held = chunk
    if sent != length:
        raise PartUploadFailed(f"part {part_number}: the body ended at {sent} of the declared {length} bytes")
    if held is not None:
        yield held


def _multipart_etag(part_etags: list[str]) -> str | None:
    """The ETag S3 gives a multipart object: MD5 of the parts' MD5s, then the count.

    None when a part's ETag is not an MD5 (servers encrypting at rest may
    send others): the object can then not be recognised by its ETag.
    """
    digest = hashlib.md5(usedforsecurity=False)
    try:
        for etag in part_etags:
            digest.update(bytes.fromhex(etag.strip('"')))
    except ValueError:
        return None
    return f"{digest.hexdigest()}-{len(part_etags)}"


def _amz_time(value: datetime) -> str:
    """UTC with milliseconds, rounded up: a lock never ends before the time asked for."""
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


_AMZ_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?")


def _parse_amz_time(value: str) -> datetime:
    """ISO 8601 with any number of fractional digits (radosgw sends nine), cut to microseconds."""
    match = _AMZ_TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an S3 timestamp: {value!r}")
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone in {None, "Z"} else zone))
    return stamp.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))


def _parse_retention(xml: bytes) -> Lock | None:
    """A Retention document, with or without the S3 namespace (radosgw leaves it out)."""
    root = ET.fromstring(xml)  # noqa: S314 - the platform's own object store answers
    fields = {element.tag.rpartition("}")[2]: (element.text or "").strip() for element in root}
    mode, until = fields.get("Mode"), fields.get("RetainUntilDate")
    if not mode or not until:
        return None
    return Lock(mode, _parse_amz_time(until))


def _error_code(xml: bytes) -> str:
    try:
        root = ET.fromstring(xml)  # noqa: S314 - the platform's own object store answers
    except ET.ParseError:
        return ""
    return next(((e.text or "") for e in root if e.tag.rpartition("}")[2] == "Code"), "")


def open_store(settings: StorageSettings) -> ObjectStore:
    return MinioStore(settings)


async def iter_file(f: BinaryIO, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """Read a local file in chunks without blocking the loop."""
    while True:
        data = await asyncio.to_thread(f.read, chunk)
        if not data:
            return
        yield data
