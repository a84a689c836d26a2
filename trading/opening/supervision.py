"""The supervisors' view of an opening (行政监督): every bidder's addresses and device
fingerprint, with the collusion indicators flagged the moment two bidders share one.

C1: the same IP address (when submitting or signing in to the hall) or the same
device (host id, MAC, CPU or disk serial). C2: the same machine code or tool
serial in the bid files (the tool's own name is shared by all its users and
never flags). Shown from the deadline on, like everything that names bidders.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.auth import Principal
from core.errors import Forbidden
from trading.bids import service as bids
from trading.opening import errors, view
from trading.opening import queries as q

INDICATOR = {"ip": "C1", "signin_ip": "C1", "host_id": "C1", "mac": "C1", "cpu_serial": "C1",
             "disk": "C1", "machine_code": "C2", "tool_serial": "C2"}


async def supervision(conn: asyncpg.Connection, principal: Principal,
                      lot_id: UUID) -> dict[str, Any]:
    if not principal.has("supervisor", "admin"):
        raise Forbidden({"required_roles": ["supervisor"]})
    lot = await view.lot_of(conn, lot_id)
    now = await conn.fetchval(q.CLOCK)
    if now < lot["bid_deadline"]:
        raise errors.OpeningNotStarted({"opens_at": lot["bid_deadline"].isoformat(),
                                        "now": now.isoformat()})
    names = {}
    bidders = []
    for r in await conn.fetch(q.SUPERVISED_BIDS, lot_id):
        names[r["organization_id"]] = r["bidder"]
        bidders.append({**dict(r), "client_ips": [str(ip) for ip in r["client_ips"]],
                        "signin_ip": str(r["signin_ip"]) if r["signin_ip"] else None})
    marks = [*await bids.shared_marks(conn, lot_id),
             *[{"kind": "signin_ip", "value": str(r["ip"]), "organizations": r["organizations"]}
               for r in await conn.fetch(q.SHARED_SIGNIN_IPS, lot_id)]]
    flags = [{"indicator": INDICATOR.get(m["kind"], "C1"), "kind": m["kind"], "value": m["value"],
              "bidders": sorted(names.get(o, str(o)) for o in m["organizations"])}
             for m in marks]
    return {"lot_id": lot_id, "now": now, "bidders": bidders, "flags": flags}
