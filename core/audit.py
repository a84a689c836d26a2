"""Audit log: an append-only hash chain in PostgreSQL.

Each row's hash is SHA-256 over the previous row's hash and a canonical
encoding of the row, so changing or removing any row breaks the chain from
there on. The database refuses UPDATE, DELETE and TRUNCATE on the table; a
superuser who bypasses that is caught by ``verify``. Appends take a
transaction-scoped advisory lock so that concurrent transactions chain in
commit order without forking.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from uuid import UUID

import asyncpg

from core import queries as q

GENESIS = bytes(32)
AUDIT_LOCK_KEY = 0x7468_6175_6469_74  # "thaudit": one key for the whole chain


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, from where: the request context every audited action carries."""

    user_id: UUID | None
    role: str | None
    client_ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(user_id=None, role="system")


def normalize_ip(value: str | None) -> str | None:
    """A valid address for an ``inet`` column (zone id dropped), or None if it is not one."""
    if not value:
        return None
    try:
        return str(ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


def payload_digest(payload: Any) -> bytes:
    data = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()
    return hashlib.sha256(data).digest()


def _canonical(row: dict[str, Any]) -> bytes:
    at: datetime = row["at"]
    ip = row["client_ip"]
    fields = [
        str(row["id"]),
        at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        str(row["actor_id"] or ""),
        row["actor_role"] or "",
        row["action"],
        row["object_type"],
        row["object_id"],
        str(ip) if isinstance(ip, IPv4Address | IPv6Address | str) and ip else "",
        row["request_id"] or "",
        bytes(row["payload_digest"]).hex(),
    ]
    return "\x1f".join(fields).encode()


def chain_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + _canonical(row)).digest()


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    payload: Any = None,
) -> int:
    """Append one audit row inside the caller's transaction; returns its id."""
    await conn.execute(q.AUDIT_LOCK, AUDIT_LOCK_KEY)
    # The address is hashed as PostgreSQL prints it back (verify reads host()),
    # so both sides agree on forms like ::ffff:1.2.3.4 whatever Python makes of them.
    head = await conn.fetchrow(q.AUDIT_HEAD, normalize_ip(actor.client_ip))
    if head["isolation"] != "read committed":
        # a snapshot taken before the lock would not see the latest row and
        # would fork the chain
        raise RuntimeError("audit rows are appended in READ COMMITTED transactions only")
    prev_hash = bytes(head["prev"]) if head["prev"] is not None else GENESIS
    client_ip = head["client_ip"]
    row: dict[str, Any] = {
        "id": head["id"],
        "at": head["at"],
        "actor_id": UUID(str(actor.user_id)) if actor.user_id else None,
        "actor_role": actor.role,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "client_ip": client_ip,
        "request_id": actor.request_id,
        "payload_digest": payload_digest(payload),
    }
    digest = chain_hash(prev_hash, row)
    await conn.execute(
        q.AUDIT_INSERT, row["id"], row["at"], row["actor_id"], row["actor_role"], action, object_type,
        row["object_id"], client_ip, actor.request_id, row["payload_digest"],
        prev_hash, digest,
    )
    return int(row["id"])


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_id: int | None = None
    reason: str = ""


async def verify(conn: asyncpg.Connection, *, batch: int = 5000) -> VerifyResult:
    """Recompute the chain from the first row; name the first broken link."""
    prev_hash = GENESIS
    last_id = 0
    count = 0
    while True:
        rows = await conn.fetch(q.AUDIT_ROWS, last_id, batch)
        if not rows:
            return VerifyResult(ok=True, rows=count)
        for r in rows:
            row = dict(r)
            if bytes(row["prev_hash"]) != prev_hash:
                return VerifyResult(False, count, row["id"],
                                    "prev_hash does not match the previous row (row removed or inserted)")
            if chain_hash(prev_hash, row) != bytes(row["hash"]):
                return VerifyResult(False, count, row["id"], "row content does not match its hash")
            prev_hash = bytes(row["hash"])
            last_id = row["id"]
            count += 1
