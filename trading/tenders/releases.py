"""OCDS for tenders: each change keeps a snapshot; releases and the record are built on read.

A release is immutable, so what it says is fixed when the change happens: the
snapshot of the tender, its lots, published documents and notices, and its
parties is written in the same transaction. The ocid prefix and the public
address are the reading deployment's settings (``OCDS_PREFIX``,
``PUBLIC_URL``), applied when the releases are served.

A tender document links to the public announcement page (anchored at the
document's row), where anyone sees its name, size and SHA-256 and a bidder
obtains it; the download itself is for holders, so it cannot be the link a
public reader follows. Notices link to their signed content, which is public.

Releases are published when the tender is published, amended, updated by an
objection's pause or resumption, cancelled, and at the two steps after the
call for tenders: the bid deadline (bidding closed) and the end of the
opening (opened, or failed), each a ``tenderUpdate``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from core import clock
from core.errors import NotFound
from trading import ocds
from trading.tenders.queries import releases as release_sql

DATES = frozenset({"documents_from", "documents_until", "clarification_deadline",
                   "bid_deadline", "published_at", "cancelled_at", "date", "old_bid_deadline",
                   "new_bid_deadline"})
MONEY = frozenset({"budget", "ceiling_price", "security_amount"})
IDS = frozenset({"id", "owner_org_id", "agency_org_id", "lot_id"})

CONVERT: dict[str, Any] = (dict.fromkeys(DATES, datetime.fromisoformat) | dict.fromkeys(MONEY, Decimal)
                          | dict.fromkeys(IDS, UUID))

async def record(conn: asyncpg.Connection, tender_id: UUID, tag: str) -> None:
    """Keep the snapshot for a release of ``tag`` (caller holds the tender's row lock)."""
    if tag not in ocds.TAGS:
        raise ValueError(tag)
    tender = dict(await conn.fetchrow(release_sql.SNAPSHOT_TENDER, tender_id))
    snapshot = {
        "tender": tender,
        "lots": [dict(r) for r in await conn.fetch(release_sql.SNAPSHOT_LOTS, tender_id)],
        "documents": [dict(r) for r in await conn.fetch(release_sql.SNAPSHOT_DOCUMENTS, tender_id)],
        "parties": [dict(r) for r in await conn.fetch(release_sql.SNAPSHOT_PARTIES, tender_id)],
        "amendments": [dict(r) for r in await conn.fetch(release_sql.SNAPSHOT_AMENDMENTS,
                                                         tender_id)],
    }
    await conn.execute(release_sql.INSERT_RELEASE, str(tender_id), tender_id, tag,
                       await clock.db_now(conn), msgspec.json.decode(msgspec.json.encode(snapshot)))


def _typed(value: Any, key: str = "") -> Any:
    """Back from JSON: times, amounts and ids as the release builder expects them."""
    if isinstance(value, dict):
        return {k: _typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    convert = CONVERT.get(key)
    return value if value is None or convert is None else convert(value)


async def releases(conn: asyncpg.Connection, tender_id: UUID, *, prefix: str,
                   public_url: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(release_sql.RELEASES, tender_id)
    if not rows:
        raise NotFound()
    out = []
    for row in rows:
        snap = _typed(row["release"])
        out.append(ocds.build_release(
            prefix=prefix, tender=snap["tender"], lots=snap["lots"],
            documents=snap["documents"], parties=snap["parties"], tag=row["tag"],
            release_id=row["id"], date=row["date"],
            amendments=snap["amendments"] if row["tag"] == "tenderAmendment" else (),
            public_url=f"{public_url.rstrip('/')}/tenders/{tender_id}"))
    return out


async def release_package(conn: asyncpg.Connection, tender_id: UUID, *, prefix: str,
                          public_url: str) -> dict[str, Any]:
    items = await releases(conn, tender_id, prefix=prefix, public_url=public_url)
    return ocds.release_package(items, published_date=await clock.db_now(conn),
                                uri=f"{public_url.rstrip('/')}/api/tenders/{tender_id}/ocds/releases",
                                publisher_name="天衡公共资源交易平台 Tenderhall")


async def record_package(conn: asyncpg.Connection, tender_id: UUID, *, prefix: str,
                         public_url: str) -> dict[str, Any]:
    items = await releases(conn, tender_id, prefix=prefix, public_url=public_url)
    return ocds.record_package([ocds.compile_record(items)],
                               published_date=await clock.db_now(conn),
                               uri=f"{public_url.rstrip('/')}/api/tenders/{tender_id}/ocds/record",
                               publisher_name="天衡公共资源交易平台 Tenderhall")
