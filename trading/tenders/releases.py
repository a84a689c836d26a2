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

DATES = frozenset({"documents_from", "documents_until", "clarification_deadline",
                   "bid_deadline", "published_at", "cancelled_at", "date", "old_bid_deadline",
                   "new_bid_deadline"})
MONEY = frozenset({"budget", "ceiling_price", "security_amount"})
IDS = frozenset({"id", "owner_org_id", "agency_org_id", "lot_id"})

CONVERT: dict[str, Any] = (dict.fromkeys(DATES, datetime.fromisoformat) | dict.fromkeys(MONEY, Decimal)
                          | dict.fromkeys(IDS, UUID))

_SNAPSHOT = """
    SELECT t.id, t.code, t.title, t.status, t.procedure, t.sector, t.budget, t.ceiling_price,
           t.owner_org_id, t.agency_org_id, t.documents_from, t.documents_until,
           t.clarification_deadline, t.bid_deadline, t.bid_validity_days, t.evaluation_method,
           t.security_forms, t.published_at, t.cancel_reason, t.cancelled_at
    FROM tenders t WHERE t.id = $1
"""
_LOTS = "SELECT id, number, title, budget FROM lots WHERE tender_id = $1 ORDER BY number"
_DOCUMENTS = """
    SELECT d.id, d.name, encode(d.sha256, 'hex') AS sha256, d.size, d.content_type,
           '/tenders/' || d.tender_id || '#document-' || d.id AS url,
           coalesce(n.published_at, t.published_at) AS published_at,
           CASE WHEN d.notice_id IS NULL THEN 'tender_document' ELSE 'clarification' END AS kind
    FROM tender_documents d JOIN tenders t ON t.id = d.tender_id
    LEFT JOIN notices n ON n.id = d.notice_id
    WHERE d.tender_id = $1 AND d.frozen
    UNION ALL
    SELECT n.id, n.title, encode(n.content_sha256, 'hex'), length(n.content), 'application/json',
           '/api/tenders/' || n.tender_id || '/notices/' || n.number || '/content',
           n.published_at, CASE WHEN n.number = 0 THEN 'announcement' ELSE 'clarification' END
    FROM notices n WHERE n.tender_id = $1 AND n.status = 'published'
    ORDER BY published_at, name
"""
_PARTIES = """
    SELECT o.id, o.name, o.credit_code, o.kind, o.region FROM organizations o
    WHERE o.id IN (SELECT owner_org_id FROM tenders WHERE id = $1
                   UNION SELECT agency_org_id FROM tenders WHERE id = $1)
"""
_AMENDMENTS = """
    SELECT id, published_at AS date, title AS rationale, left(body, 1000) AS description,
           old_bid_deadline, new_bid_deadline
    FROM notices WHERE tender_id = $1 AND kind = 'clarification' AND status = 'published'
    ORDER BY number
"""
_INSERT = """
    INSERT INTO ocds_releases (id, tender_id, tag, date, release)
    VALUES ($1 || '-' || lpad((SELECT count(*) + 1 FROM ocds_releases WHERE tender_id = $2)::text,
                              4, '0'), $2, $3, $4, $5)
"""
_RELEASES = "SELECT id, tag, date, release FROM ocds_releases WHERE tender_id = $1 ORDER BY seq"


async def record(conn: asyncpg.Connection, tender_id: UUID, tag: str) -> None:
    """Keep the snapshot for a release of ``tag`` (caller holds the tender's row lock)."""
    if tag not in ocds.TAGS:
        raise ValueError(tag)
    tender = dict(await conn.fetchrow(_SNAPSHOT, tender_id))
    snapshot = {
        "tender": tender,
        "lots": [dict(r) for r in await conn.fetch(_LOTS, tender_id)],
        "documents": [dict(r) for r in await conn.fetch(_DOCUMENTS, tender_id)],
        "parties": [dict(r) for r in await conn.fetch(_PARTIES, tender_id)],
        "amendments": [dict(r) for r in await conn.fetch(_AMENDMENTS, tender_id)],
    }
    await conn.execute(_INSERT, str(tender_id), tender_id, tag, await clock.db_now(conn),
                       msgspec.json.decode(msgspec.json.encode(snapshot)))


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
    rows = await conn.fetch(_RELEASES, tender_id)
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
