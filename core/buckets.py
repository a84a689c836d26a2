"""The platform's buckets, the record of a stored object, and what counts as a store outage.

Shared by the whole-object store (`core.storage`) and its multipart half
(`core.multipart`), kept here so neither has to import the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from core.errors import StorageUnavailable

log = structlog.get_logger(__name__)

# The platform's buckets, named once here: tender documents, sealed bids (under object lock,
# so a stored bid cannot be changed or deleted before its retention ends), the official PDFs
# it issues (notices, receipts, opening records), and the archive.
DOCUMENTS = "documents"
BIDS = "bids"
RECORDS = "records"
ARCHIVE = "archive"

# Each is created at start if missing, with object lock where it says True (object lock
# cannot be enabled later on an existing bucket).
BUCKETS: dict[str, bool] = {DOCUMENTS: False, BIDS: True, RECORDS: False, ARCHIVE: True}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str
    etag: str
    version_id: str | None


def is_outage(exc: BaseException) -> bool:
    """The store could not be reached, broke off, or failed on its side (5xx).

    Refusals about the request itself (4xx: no such key, a part too small) are not
    outages: they stay S3Errors for the caller to judge.
    """
    if isinstance(exc, S3Error):
        return exc.response is not None and exc.response.status >= 500
    if isinstance(exc, ServerError | InvalidResponseError):
        return True
    return isinstance(exc, urllib3.exceptions.HTTPError | httpx.TransportError | OSError)


def unavailable(operation: str, exc: BaseException) -> StorageUnavailable:
    log.warning("storage_unavailable", operation=operation, error=str(exc)[:300])
    return StorageUnavailable({"operation": operation})


async def in_thread(operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` (a blocking SDK call) in a worker thread; an outage becomes StorageUnavailable."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(operation, exc) from exc
        raise
