"""The demo clock: the whole schedule moves, received bids stay before the deadline, all audited."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest

from demo import clock as demo_clock
from tests.conftest import Client, login
from tests.trading.bidding import submit
from tests.trading.conftest import Lot

SCHEDULE = """SELECT status, documents_from, documents_until, clarification_deadline, bid_deadline,
                     next_due_at, next_due_kind, version FROM tenders WHERE id = $1"""


async def test_the_deadline_passes_now_with_the_whole_schedule(
        lot: Lot, client: Client, conn: asyncpg.Connection) -> None:
    tender_id = UUID(lot.tender["id"])
    await login(client, lot.bidder.login)
    r = await submit(client, lot.tender, lot.bidder, lot.sealed(), key="demo-clock-bid-1")
    assert r.status_code == 201, r.text
    before = dict(await conn.fetchrow(SCHEDULE, tender_id))

    shift = await demo_clock.pass_deadline(conn, tender_id)
    assert shift is not None and shift.by < timedelta(0)
    after = dict(await conn.fetchrow(SCHEDULE, tender_id))
    for column in ("documents_from", "documents_until", "clarification_deadline",
                   "bid_deadline", "next_due_at"):
        assert after[column] == (before[column] + shift.by if before[column] else None), column
    assert (after["status"], after["next_due_kind"], after["version"]) == (
        "published", before["next_due_kind"], before["version"] + 1)
    received = await conn.fetchval("SELECT received_at FROM bids WHERE tender_id = $1", tender_id)
    assert received < after["bid_deadline"] <= await conn.fetchval("SELECT clock_timestamp()")
    audited = await conn.fetchrow(
        "SELECT actor_role, request_id FROM audit_log WHERE action = 'demo.schedule_shifted' "
        "AND object_id = $1", str(tender_id))
    assert tuple(audited) == ("system", "demo-clock")

    # the platform refuses with the deadline's own code, before the chronograph closes bidding
    r = await client.post(f"/api/tenders/{tender_id}/lots/1/bid-uploads",
                          json={"size": 1024, "idempotency_key": "demo-clock-late-1"})
    assert r.status_code == 409 and r.json()["code"] == "bid_deadline_passed", r.text
    # a deadline that has passed is not moved again
    assert await demo_clock.pass_deadline(conn, tender_id) is None


async def test_the_record_is_never_made_to_contradict_itself(
        lot: Lot, client: Client, conn: asyncpg.Connection) -> None:
    tender_id = UUID(lot.tender["id"])
    await login(client, lot.bidder.login)
    r = await submit(client, lot.tender, lot.bidder, lot.sealed(), key="demo-clock-bid-2")
    assert r.status_code == 201, r.text
    deadline, received = await conn.fetchrow(
        "SELECT t.bid_deadline, b.received_at FROM tenders t JOIN bids b ON b.tender_id = t.id "
        "WHERE t.id = $1", tender_id)
    # a received bid would fall after the moved deadline
    with pytest.raises(demo_clock.DemoClockError, match="was received"):
        await demo_clock.shift_schedule(conn, tender_id, by=received - deadline)
    # a closed tender does not reopen
    await demo_clock.pass_deadline(conn, tender_id)
    await conn.execute("UPDATE tenders SET status = 'bidding_closed' WHERE id = $1", tender_id)
    with pytest.raises(demo_clock.DemoClockError, match="bidding is closed"):
        await demo_clock.shift_schedule(conn, tender_id, by=timedelta(days=1))
