"""Multipart uploads for the object store: one part per HTTP request.

Bids arrive as multipart uploads spread over many HTTP requests, one part per
request, so a broken connection resumes at the next part. The SDK's part
upload takes a whole part as bytes, which 50 concurrent bidders cannot afford;
parts therefore go to a presigned part URL through httpx, streamed from the
incoming request one chunk at a time. That connection pool, and the lock
repairs radosgw needs at completion, live here rather than in `core.storage`.

A store that cannot be reached, breaks off mid-part or answers 5xx raises
``StorageUnavailable``; a body of the wrong length raises ``PartUploadFailed``,
so the store's failures are never blamed on the sender. A completion the store
reports as already in progress (radosgw keeps its completion lock for
``rgw_mp_lock_max_time``, 600 s, after the gateway dies mid-completion) is
looked at first: when the object stands complete it is returned, otherwise
``CompletionInProgress`` tells the caller that only a new upload can finish
before the store lets go.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from minio.datatypes import Part
from minio.error import S3Error
from minio.retention import Retention

from core.buckets import BUCKETS, StoredObject, in_thread, unavailable
from core.errors import StorageUnavailable
from core.object_lock import _META_LOCK_MODE, _META_LOCK_UNTIL, Lock, _amz_time, _parse_amz_time

if TYPE_CHECKING:
    from minio import Minio

# put_part signs a URL for its own request and uses it at once; the server
# checks the signature when the request starts, so a slow part is not cut off.
PART_URL_EXPIRY = timedelta(minutes=15)
# Timeouts apply per socket operation, not per part: a slow bidder feeding a
# part for minutes is fine, a silent S3 server is not.
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# One connection per part in flight: 50 bidders uploading at once fit, and
# more wait for a free connection rather than failing.
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class PartUploadFailed(RuntimeError):
    """S3 refused a part, or the body was shorter or longer than declared.

    Nothing of the part is recorded, so the caller may send it again.
    """


class CompletionInProgress(StorageUnavailable):
    """The store holds a completion of this upload as in progress, and no object is there.

    Seen when the store died mid-completion: it keeps its lock on the upload until
    its own timeout (radosgw: ``rgw_mp_lock_max_time``, 10 minutes by default).
    """

    code = "storage_completion_in_progress"
    message = "存储服务中断时正在合并该上传，暂时无法完成"
    message_en = "The store was joining this upload's parts when it failed; it cannot finish yet"
    retry_after = 60


def _in_progress(exc: S3Error) -> bool:
    return exc.code == "InternalError" and "in progress" in (exc.message or "")


class MultipartUploads:
    """The multipart half of `core.storage.MinioStore`, which supplies `client` and `bucket`."""

    if TYPE_CHECKING:
        client: Minio

        def bucket(self, name: str) -> str: ...

    # Created on first use in the running loop: an AsyncClient's
    # connections belong to the loop that opened them.
    _http: httpx.AsyncClient | None = None
    _http_loop: asyncio.AbstractEventLoop | None = None

    def _http_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            # trust_env off: like the SDK, talk to the store directly even when
            # the process has a proxy configured for the outside world; but
            # trust the same CAs as the SDK (SSL_CERT_FILE, else certifi)
            # (an SSL context costs a tenth of a second of CPU: made only for https)
            verify: ssl.SSLContext | bool = (httpx.create_ssl_context(trust_env=True)
                                            if self.client._base_url.is_https else False)
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS, trust_env=False,
                                           verify=verify)
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
        return await in_thread("create_multipart", self.client._create_multipart_upload,
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
        except httpx.HTTPError as exc:  # the store, not the sender: the body's own errors pass
            raise unavailable("put_part", exc) from exc
        if response.status_code >= 500:
            raise unavailable("put_part", RuntimeError(
                f"HTTP {response.status_code} {_error_code(response.content)}"))
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
        never mistaken for this one. A completion the store reports as in
        progress is answered the same way when the object is there, and with
        ``CompletionInProgress`` when it is not. The lock asked for at creation is checked
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
                if exc.code != "NoSuchUpload" and not _in_progress(exc):
                    raise
                try:
                    st = self.client.stat_object(name, key)
                except S3Error:
                    st = None
                expected = _multipart_etag([etag for _, etag in ordered])
                if st is None or expected is None or st.etag != expected:
                    if _in_progress(exc):
                        raise CompletionInProgress({"key": key}) from exc
                    raise exc from None
            else:
                # radosgw answers a repeated completion itself, comparing the
                # parts with the object, with 200 and no version id: the
                # newest version is then this upload's
                st = self.client.stat_object(name, key, version_id=result.version_id)
            self._apply_requested_lock(name, key, st.version_id, st.metadata)
            return StoredObject(bucket, key, st.size or 0, "", st.etag or "", st.version_id)

        return await in_thread("complete_multipart", work)

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
            await in_thread("abort_multipart", self.client._abort_multipart_upload,
                            self.bucket(bucket), key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    async def abort_incomplete(self, bucket: str, key: str) -> int:
        """Drop every unfinished multipart upload of exactly ``key`` (a writer that died
        mid-stream leaves one); how many there were."""
        name = self.bucket(bucket)

        def work() -> int:
            result = self.client._list_multipart_uploads(name, prefix=key, max_uploads=1000)
            found = [u for u in result.uploads if u.object_name == key and u.upload_id]
            for upload in found:
                try:
                    self.client._abort_multipart_upload(name, key, str(upload.upload_id))
                except S3Error as exc:
                    if exc.code != "NoSuchUpload":
                        raise
            return len(found)

        return await in_thread("abort_incomplete", work)

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

        return await in_thread("list_parts", work)

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


def _error_code(xml: bytes) -> str:
    try:
        root = ET.fromstring(xml)  # noqa: S314 - the platform's own object store answers
    except ET.ParseError:
        return ""
    return next(((e.text or "") for e in root if e.tag.rpartition("}")[2] == "Code"), "")
