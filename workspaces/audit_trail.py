"""A tender's audit log as a supervisor reads it, with the chain checked.

The audit log is one hash chain for the whole platform (core.audit): a tender's rows are
links spread through it. Two checks, both recomputed here rather than trusted:

- each of the tender's rows is hashed again from its content and the hash it names as its
  predecessor's, and that predecessor is compared with the row actually before it; a changed
  row, or a row removed or inserted just before one of the tender's, is pinned to that row;
- the whole chain is then recomputed from its first row (core.audit.verify), since a row of
  the tender removed outright leaves no row of its own to fail: the break shows at the next
  row, which may belong to something else. The page says where the chain breaks and whether
  that row is the tender's.

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


async def tender_trail(conn: asyncpg.Connection, *, tender_id: UUID,
                       now: datetime) -> dict[str, Any]:
    """The tender, its audit rows (each with its check), and the whole chain's verdict."""
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
    chain = await audit.verify(conn)
    return {
        "tender": dict(tender), "rows": rows[:ROW_LIMIT], "more": len(ids) > ROW_LIMIT,
        "sealed": sealed, "chain": chain, "bad_rows": bad,
        "break_is_here": chain.broken_id in ids,
    }
