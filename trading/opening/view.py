"""What the hall shows of a lot: the same for the host, bidders, supervisors and the public.

Before the deadline nobody learns who bid: the hall shows the countdown and
how many have signed in, not who. From the deadline on, everything is public:
who signed in, each bid's decryption progress, the price reading (唱标), the
officers' shares, the messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import NotFound
from trading.opening import queries as q


def phase(lot: dict[str, Any], opening: dict[str, Any] | None, now: datetime) -> str:
    if lot["tender_status"] == "cancelled":
        return "cancelled"
    if opening is not None:
        return str(opening["status"])
    if now < lot["bid_deadline"] or lot["paused_since"] is not None:
        return "waiting"
    return "starting"


async def lot_of(conn: asyncpg.Connection, lot_id: UUID) -> dict[str, Any]:
    """The lot and its tender as the hall names them; a draft's lot does not exist."""
    row = await conn.fetchrow(q.HALL_LOT, lot_id)
    if row is None or row["tender_status"] == "draft":
        raise NotFound()
    return dict(row)


async def state(conn: asyncpg.Connection, lot_id: UUID) -> dict[str, Any]:
    """The hall's whole state now; live clients then follow its events from ``last_event``."""
    lot = await lot_of(conn, lot_id)
    now = await conn.fetchval(q.CLOCK)
    found = await conn.fetchrow(q.LOT_OPENING, lot_id)
    opening = dict(found) if found is not None else None
    public = now >= lot["bid_deadline"] and lot["paused_since"] is None
    signins = [dict(r) for r in await conn.fetch(q.HALL_SIGNINS, lot_id)]
    out: dict[str, Any] = {
        "lot": {k: lot[k] for k in ("lot_id", "number", "title", "tender_id", "tender_code",
                                    "tender_title", "bid_deadline", "decryption_minutes",
                                    "decrypt_failure", "officers_k", "officers_n")},
        "now": now, "phase": phase(lot, opening, now),
        "opening": None if opening is None else {
            k: opening[k] for k in ("bids_at_deadline", "required_bids", "decrypt_failure",
                                    "window_closes_at", "started_at", "read_at",
                                    "failed_reason", "confirm_until", "closed_at")},
        "signins": {"count": len(signins),
                    "people": [{"name": s["name"], "organization": s["organization"],
                                "role": s["role"], "at": s["at"]} for s in signins]
                    if public else []},
        "bids": [], "officers": [],
        "messages": [{"seq": r["seq"], "at": r["at"], **r["payload"]}
                     for r in reversed(await conn.fetch(q.HALL_MESSAGES, lot_id))],
        "records": [dict(r) for r in await conn.fetch(q.RECORDS, lot_id)],
        "objections": [dict(r) for r in await conn.fetch(q.OBJECTIONS, lot_id)],
        "confirmations": [dict(r) for r in await conn.fetch(q.CONFIRMATIONS, lot_id)],
        "last_event": await conn.fetchval(q.LAST_EVENT, lot_id),
    }
    if opening is None:
        return out
    out["bids"] = [progress(dict(r)) for r in await conn.fetch(q.HALL_BIDS, lot_id)]
    out["officers"] = [dict(r) for r in await conn.fetch(q.HALL_SHARES, lot_id)]
    return out


def progress(row: dict[str, Any]) -> dict[str, Any]:
    """One bid's line: waiting, refused (still in time), opened with its reading, or not
    opened (with whose fault)."""
    if row["opened_by"] is not None:
        status = "opened"
    elif row["fault"] is not None:
        status = "not_opened"
    elif row["attempts"]:
        status = "refused"
    else:
        status = "waiting"
    line = {"bid_id": row["id"], "bidder": row["bidder_name"], "status": status,
            "attempts": row["attempts"], "last_code": row["last_code"], "fault": row["fault"],
            "security": security(row), "reading": None}
    if status == "opened":
        line["reading"] = reading({"id": row["id"], "bidder_name": row["bidder_name"],
                                   "bidder_credit_code": row["credit_code"]}, row)
    return line


def security(row: dict[str, Any]) -> dict[str, Any] | None:
    """The bid's security as the hall shows it from the deadline: the guarantee's form,
    issuer, number, amount and status, and whether its issued terms passed the platform's
    checks (``problems``: the codes of those that failed); None when there is none."""
    if row.get("security_status") is None:
        return None
    problems = list(row["security_problems"] or [])
    return {"form": row["security_form"], "issuer": row["security_issuer"],
            "number": row["security_number"], "amount": str(row["security_amount"]),
            "status": row["security_status"], "problems": problems,
            "verified": row["security_status"] == "issued" and not problems}


def reading(bid: dict[str, Any], opened: dict[str, Any]) -> dict[str, Any]:
    """One line of the price reading (唱标): what the hall and the record show."""
    sheet = opened["price_sheet"]
    return {"bid_id": str(bid["id"]), "bidder": bid["bidder_name"],
            "credit_code": bid["bidder_credit_code"], "by": opened["opened_by"],
            "total_price": str(opened["total_price"]),
            "duration_days": sheet.get("duration_days"), "quality": sheet.get("quality"),
            "warranty_months": sheet.get("warranty_months"),
            "items": sheet.get("items") or [], "discount_note": sheet.get("discount_note")}
