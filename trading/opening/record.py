"""The opening record (开标记录表, S4): a PAdES-signed PDF of everything the opening showed.

It lists every bid valid at the deadline with its price sheet and how its
opening ended, the officers' shares used, who signed in, the host's messages,
and the bidders' confirmations, objections and answers (S7). A job issues it
when the reading ends (or the lot fails), and again after each objection and
answer, each issue as of a hall event; issues are numbered, kept in the object
store, and their SHA-256 goes into the audit log and the hall. The job and the
request for an issue are in trading/opening/jobs.py.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.x509.oid import NameOID

from core import audit, buckets, pdf, uscc
from core.settings import Settings
from core.storage import ObjectStore
from signing import seal
from trading.opening import hall, view
from trading.opening import queries as q

BUCKET = buckets.RECORDS
FAULT = {"bidder": "投标人原因，视为截标后撤回", "platform": "平台原因，视为截标前撤回"}
OUTCOME = {"bidder": "投标人解密", "officers": "开标人密钥分片解密"}
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


def lot_label(number: int, title: str | None) -> str:
    """The lot as the record names it: its own title where that names it already ("第一标段",
    "雅安段第1标段"), else its number and title."""
    title = (title or "").strip()
    if not title:
        return f"第 {number} 标段"
    if "标段" in title:
        return title
    return f"第 {number} 标段：{title}"


def readable_name(subject: str) -> str:
    """A certificate's subject as people read it: the name, then the organization and its
    unified social credit code ("张三（某公司，统一社会信用代码 9151…）"), not an RFC 4514
    string with dotted OIDs. A subject that does not parse is shown as it is."""
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return subject

    def first(oid: x509.ObjectIdentifier) -> str | None:
        found = name.get_attributes_for_oid(oid)
        if not found:
            return None
        value = found[0].value
        return value if isinstance(value, str) else value.decode()

    about = []
    if (org := first(NameOID.ORGANIZATION_NAME)) is not None:
        about.append(org)
    if (ident := first(NameOID.ORGANIZATION_IDENTIFIER)) is not None:
        codes = [c for c in _USCC.findall(ident.upper()) if uscc.is_valid(c)]
        about.append(f"统一社会信用代码 {codes[0]}" if codes else f"机构标识 {ident}")
    person = first(NameOID.COMMON_NAME) or (about.pop(0) if about else subject)
    return f"{person}（{'，'.join(about)}）" if about else person


async def context(conn: asyncpg.Connection, lot_id: UUID) -> dict[str, Any]:
    """What the record shows, read in the caller's transaction."""
    state = await view.state(conn, lot_id)
    tender = await conn.fetchrow(q.RECORD_TENDER, lot_id)
    details = {r["id"]: dict(r) for r in await conn.fetch(q.RECORD_BIDS, lot_id)}
    bids = []
    for line in state["bids"]:
        extra = details[line["bid_id"]]
        outcome = (OUTCOME.get(line["reading"]["by"], "") if line["status"] == "opened" else
                   FAULT.get(line["fault"] or "", "") if line["status"] == "not_opened" else
                   "尚未解密")
        total = line["reading"]["total_price"] if line["reading"] else None
        bids.append({**line, **extra, "outcome": outcome,
                     "total": Decimal(total) if total is not None else None,
                     "signer": readable_name(extra["inner_signer"])
                     if extra["inner_signer"] else None})
    return {"state": state, "tender": dict(tender), "bids": bids,
            "lot_label": lot_label(tender["number"], tender["lot_title"]),
            "objections": [dict(r) for r in await conn.fetch(q.OBJECTIONS, lot_id)],
            "confirmations": [dict(r) for r in await conn.fetch(q.CONFIRMATIONS, lot_id)]}


async def issue(conn: asyncpg.Connection, store: ObjectStore, settings: Settings,
                lot_id: UUID) -> dict[str, Any] | None:
    """Render, seal and store the record as of the hall's last event; None if issued already
    as of that event."""
    await conn.execute(q.LOCK_RECORDS, str(lot_id))  # one issue at a time per lot
    as_of = await conn.fetchval(q.RECORD_AS_OF_EVENT, lot_id)
    if await conn.fetchval(q.RECORD_AS_OF, lot_id, as_of):
        return None
    data = await context(conn, lot_id)
    html = await pdf.render("pdf/opening_record.html", data)
    sealed = await seal.seal(html, settings, reason="天衡平台签章：开标记录表 / opening record")
    version = await conn.fetchval(q.NEXT_RECORD_VERSION, lot_id)
    # named by the event too: an issue rolled back after its upload leaves an object that no
    # later issue can overwrite
    key = (f"tenders/{data['tender']['tender_id']}/lots/{lot_id}/"
           f"opening-record-v{version}-e{as_of}.pdf")
    await store.put_bytes(BUCKET, key, sealed, content_type="application/pdf")
    digest = hashlib.sha256(sealed).digest()
    row = dict(await conn.fetchrow(q.INSERT_RECORD, lot_id, version, key, digest, len(sealed),
                                   as_of))
    await audit.record(conn, audit.SYSTEM, "opening_record.issued", "lot", lot_id,
                       {"version": version, "sha256": digest.hex(), "as_of_event": as_of})
    await hall.emit(conn, lot_id, "record.issued",
                    {"version": version, "sha256": digest.hex(), "size": len(sealed)})
    return row
