"""The one canonical JSON of what the platform signs (announcements, clarifications, bid
receipts): keys sorted, no spaces, UTF-8 without escapes; times in Beijing time as ISO 8601,
Decimals and UUIDs as strings, bytes as lower-case hex. Whoever re-encodes a signed document
this way gets its exact bytes back, so the signature checks with ``openssl cms``.

The audit chain hashes its rows with an encoding of its own (``core.audit``): rows already
chained must keep verifying, so it does not follow this one."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from core.clock import SHANGHAI


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(SHANGHAI).isoformat()
    if isinstance(v, Decimal | UUID):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def canonical(obj: dict[str, Any]) -> bytes:
    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return _value(v)
    return json.dumps(walk(obj), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()
