"""A tender's audit log as a supervisor reads it, with the chain checked.

The audit log is one hash chain for the whole platform (core.audit): a tender's rows are
links spread through it. Two checks, both recomputed here rather than trusted:

- each of the tender's rows is hashed again from its content and the hash it names as its
  predecessor's, and that predecessor is compared with the row actually before it; a changed
  row, or a row removed or inserted just before one of the tender's, is pinned to that row;
- the stretch of the chain the tender lived through is recomputed link by link, from the
  first row written since the tender was created (a time kept in the tenders table, which
  removing audit rows cannot move) to the row after its last: a row of the tender removed
  outright leaves no row of its own to fail, and the break shows at the next row, which may
  be someone else's. The page says where the chain breaks and whether that row is the
  tender's. The whole chain from its first row is recomputed on request only: it costs time
  in proportion to the platform's whole history (about 20,000 rows a second here).

The log names who did what. Before the deadline a bidder's actions (obtaining documents,
objecting, uploading) would tell who the potential bidders are and, counted, how many, which
nobody may learn then (T7): such rows are left out of the list until the deadline, and their
hashes are checked all the same (a row that fails is named by its number only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core import audit
from core.errors import NotFound
from workspaces import queries as q

ROW_LIMIT = 2000
BIDDER_ROLES = frozenset({"bidder"})


def check_row(row: dict[str, Any]) -> str:
    """'ok', 'content' (the row no longer matches its hash) or 'link' (its predecessor is
    not the row it was chained to)."""
    prev = bytes(row["prev_hash"])
    before = bytes(row["before_hash"]) if row["before_hash"] is not None else audit.GENESIS
    if audit.chain_hash(prev, row) != bytes(row["hash"]):
        return "content"
    if prev != before:
        return "link"
    return "ok"


async def verify_window(conn: asyncpg.Connection, *, first_id: int, last_id: int,
                        batch: int = 5000) -> audit.VerifyResult:
    """Recompute rows ``first_id`` to ``last_id`` in order, each against the one before it
    (the first against the row that precedes it in the table); name the first broken link."""
    before = await conn.fetchval(q.HASH_BEFORE, first_id)
    prev_hash = bytes(before) if before is not None else audit.GENESIS
    after, count = first_id - 1, 0
    while True:
        rows = await conn.fetch(q.AUDIT_RANGE, after, last_id, batch)
        if not rows:
            return audit.VerifyResult(ok=True, rows=count)
        for r in rows:
            row = dict(r)
            if bytes(row["prev_hash"]) != prev_hash:
                return audit.VerifyResult(False, count, row["id"], "prev_hash does not match "
                                          "the previous row (row removed or inserted)")
            if audit.chain_hash(prev_hash, row) != bytes(row["hash"]):
                return audit.VerifyResult(False, count, row["id"],
                                          "row content does not match its hash")
            prev_hash = bytes(row["hash"])
            after = row["id"]
            count += 1


async def tender_trail(conn: asyncpg.Connection, *, tender_id: UUID, now: datetime,
                       whole_chain: bool = False) -> dict[str, Any]:
    """The tender, its audit rows (each with its check), and the verdict on the stretch of
    the chain it lived through, or on the whole chain when asked."""
    tender = await conn.fetchrow(q.SUPERVISED_TENDER, tender_id)
    if tender is None:
        raise NotFound()
    sealed = tender["bid_deadline"] is None or now < tender["bid_deadline"]
    rows, ids, bad = [], set(), []
    for r in await conn.fetch(q.TENDER_AUDIT, tender_id, ROW_LIMIT + 1):
        row = dict(r)
        check = check_row(row)
        ids.add(row["id"])
        if check != "ok":
            bad.append(row["id"])
        if sealed and row["actor_role"] in BIDDER_ROLES:
            continue
        rows.append({
            "id": row["id"], "at": row["at"], "action": row["action"],
            "object_type": row["object_type"], "object_id": row["object_id"],
            "actor_role": row["actor_role"], "actor": row["actor_name"],
            "client_ip": row["client_ip"], "hash": bytes(row["hash"]).hex(), "check": check,
        })
    window: tuple[int, int] | None = None
    if whole_chain:
        chain = await audit.verify(conn)
    else:
        first = await conn.fetchval(q.WINDOW_START, tender["created_at"])
        last = max(ids) if ids else first
        if first is None or last is None:
            chain = audit.VerifyResult(ok=True, rows=0)
        else:
            window = (min(first, last), await conn.fetchval(q.ROW_AFTER, last) or last)
            chain = await verify_window(conn, first_id=window[0], last_id=window[1])
    return {
        "tender": dict(tender), "rows": rows[:ROW_LIMIT], "more": len(ids) > ROW_LIMIT,
        "sealed": sealed, "chain": chain, "bad_rows": bad, "window": window,
        "break_is_here": chain.broken_id in ids,
    }
