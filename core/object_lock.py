"""S3 object lock as the platform asks for it and as servers report it.

Kept apart from the store because servers disagree on the wire format
(radosgw sends nanosecond timestamps and drops the XML namespace), and both
the store's reads and the multipart completion must parse it the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LOCK_MODES = frozenset({"COMPLIANCE", "GOVERNANCE"})
# The lock asked for at CreateMultipartUpload, kept as user metadata as well:
# radosgw 16 drops the lock headers of a multipart upload when it completes
# (Ceph tracker 63724), so completion reads these back and applies the lock.
_META_LOCK_MODE = "x-amz-meta-lock-mode"
_META_LOCK_UNTIL = "x-amz-meta-lock-retain-until-date"
# Codes for "this version carries no retention": AWS and MinIO, then radosgw.
_NO_RETENTION = frozenset({"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"})


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
