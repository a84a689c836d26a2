"""The platform's buckets and the record of an object stored in one.

Shared by the whole-object store (`core.storage`) and its multipart half
(`core.multipart`), kept here so neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass

# Buckets the platform uses; each is created at start if missing. The archive
# bucket gets object lock (it cannot be enabled later on an existing bucket).
BUCKETS: dict[str, bool] = {"documents": False, "bids": True, "records": False, "archive": True}


@dataclass(frozen=True, slots=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str
    etag: str
    version_id: str | None
