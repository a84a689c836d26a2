"""Each lot's opening: five bids with one left closed, under each S6 rule; two bids fail (S5)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar

from core import db
from core.settings import Settings
from signing import shares
from tests.conftest import PKI, Client, World, login
from tests.trading.bidding import Bidder, make_bidder, obtain, submit
from tests.trading.conftest import Lot, Tenderer
from tests.trading.test_bids import move_deadline
from tests.trading.test_opening_decrypt import own_key
from trading import chronograph
from trading.opening import jobs as opening_jobs
from trading.opening import lots, officers


async def bids_from(lot: Lot, client: Client, conn: asyncpg.Connection, world: World,
                    pki: PKI, count: int) -> list[tuple[Bidder, bytes, dict[str, Any]]]:
    """``count`` bidders (the lot's own first), each with a bid submitted."""
    out = []
    for i in range(count):
        bidder = lot.bidder if i == 0 else await make_bidder(conn, world, pki.ca1)
        if i:
            await obtain(client, bidder, lot.tender)
        p7m = lot.sealed(bidder=bidder, total=f"{950000 + i * 10000}.00")
        r = await submit(client, lot.tender, bidder, p7m, key=f"lots-{i}-{bidder.login}")
        assert r.status_code == 201, r.text
        out.append((bidder, p7m, r.json()))
    return out


async def deadline_passes(conn: asyncpg.Connection, tender_id: str) -> None:
    """The deadline two minutes ago; the chronograph fires it (now() is the test's start)."""
    await move_deadline(conn, tender_id, -120)
    await conn.execute("UPDATE tenders SET next_due_at = now() - interval '1 second', "
                       "next_due_kind = 'deadline' WHERE id = $1", tender_id)
    async with db.transaction(conn, {}):
        assert await chronograph.fire(conn, UUID(tender_id)) == "deadline"


async def window_closes(conn: asyncpg.Connection, tender_id: str) -> None:
    await conn.execute("UPDATE lot_openings SET window_closes_at = clock_timestamp() "
                       "WHERE tender_id = $1", tender_id)
    await conn.execute("UPDATE tenders SET next_due_at = now() - interval '1 second', "
                       "next_due_kind = 'decryption_closed' WHERE id = $1", tender_id)
    async with db.transaction(conn, {}):
        assert await chronograph.fire(conn, UUID(tender_id)) == "decryption_closed"


async def jobs_for(conn: asyncpg.Connection, function: str, lot_id: str) -> int:
    """Outbox rows of ``function`` for this lot (the live tests commit theirs to the same
    database)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE function = $1 AND args->>'lot_id' = $2",
        function, str(lot_id))
    return count


async def job_keys(conn: asyncpg.Connection, lot_id: str) -> list[str]:
    return [r["job_key"] for r in await conn.fetch(
        "SELECT job_key FROM outbox WHERE function = 'open_by_officers' "
        "AND args->>'lot_id' = $1 ORDER BY id", str(lot_id))]


async def events(conn: asyncpg.Connection, lot_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r["kind"], r["payload"]) for r in await conn.fetch(
        "SELECT kind, payload FROM hall_events WHERE lot_id = $1 ORDER BY seq", lot_id)]


async def open_own(client: Client, bidder: Bidder, p7m: bytes, bid: dict[str, Any]) -> Any:
    await login(client, bidder.login)
    return await client.post(f"/api/bids/{bid['id']}/open",
                             json={"content_key": own_key(p7m, bidder)})


@pytest.mark.parametrize("rule", ["withdrawn", "officers"])
async def test_five_bids_one_left_closed_under_each_rule(
        rule: str, lot: Lot, tenderer: Tenderer, client: Client, conn: asyncpg.Connection,
        world: World, pki: PKI, app: Litestar, settings: Settings) -> None:
    tender_id = lot.tender["id"]
    lot_id = lot.tender["lots"][0]["id"]
    await conn.execute("UPDATE tenders SET decrypt_failure = $2 WHERE id = $1", tender_id, rule)
    bids = await bids_from(lot, client, conn, world, pki, 5)
    await deadline_passes(conn, tender_id)
    state = await conn.fetchrow("SELECT * FROM lot_openings WHERE lot_id = $1", lot_id)
    assert (state["status"], state["bids_at_deadline"], state["required_bids"],
            state["decrypt_failure"]) == ("decrypting", 5, 3, rule)

    # the officers have nothing to do while bidders may still decrypt
    officer_id, officer = tenderer.officers[0]
    officer_login = await conn.fetchval("SELECT login FROM users WHERE id = $1", officer_id)
    await login(client, officer_login)
    r = await client.get(f"/api/lots/{lot_id}/shares/mine")
    assert r.status_code == 200, r.text
    sealed = r.json()
    share = shares.unseal_share(base64.b64decode(sealed["envelope"]),
                                officer.cert, officer.key)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(share).decode()})
    assert r.status_code == 409 and r.json()["code"] == "opening_shares_not_needed", r.text

    # four bidders decrypt their own; the fifth hands over a wrong key, then nothing
    for bidder, p7m, bid in bids[:4]:
        r = await open_own(client, bidder, p7m, bid)
        assert r.status_code == 201, r.text
    last_bidder, last_p7m, last_bid = bids[4]
    await login(client, last_bidder.login)
    r = await client.post(f"/api/bids/{last_bid['id']}/open",
                          json={"content_key": own_key(bids[0][1], bids[0][0])})
    assert r.status_code == 400 and r.json()["code"] == "envelope_wrong_key", r.text
    readings = [p for k, p in await events(conn, lot_id) if k == "bid.opened"]
    assert [p["total_price"] for p in readings] == [
        "950000.00", "960000.00", "970000.00", "980000.00"]
    assert {p["bidder"] for p in readings} == {b.name for b, _, _ in bids[:4]}

    await window_closes(conn, tender_id)
    r = await open_own(client, last_bidder, last_p7m, last_bid)
    assert r.status_code == 409 and r.json()["code"] == "decryption_window_closed", r.text
    status = await conn.fetchval("SELECT status FROM lot_openings WHERE lot_id = $1", lot_id)
    if rule == "withdrawn":
        failure = await conn.fetchrow("SELECT * FROM bid_opening_failures WHERE bid_id = $1",
                                      last_bid["id"])
        assert (failure["fault"], failure["last_code"]) == ("bidder", "envelope_wrong_key")
        assert status == "read"
        assert await conn.fetchval("SELECT status FROM tenders WHERE id = $1",
                                   tender_id) == "opened"
        # OCDS: a release at the deadline and one at the opening, the call for tenders over
        tags = [(r["tag"], r["release"]["tender"]["status"]) for r in await conn.fetch(
            "SELECT tag, release FROM ocds_releases WHERE tender_id = $1 ORDER BY seq",
            tender_id)]
        assert tags[-2:] == [("tenderUpdate", "bidding_closed"), ("tenderUpdate", "opened")]
        kinds = [k for k, _ in await events(conn, lot_id)]
        assert kinds[-2:] == ["bid.not_opened", "opening.read"]
        return

    assert status == "officers"
    assert ("officers.needed", {"bidders": [last_bidder.name], "k": 2, "n": 3}) in await events(
        conn, lot_id)
    # a share handed over by the wrong officer, or by someone who holds none
    second_id, second = tenderer.officers[1]
    second_login = await conn.fetchval("SELECT login FROM users WHERE id = $1", second_id)
    await login(client, second_login)
    second_sealed = (await client.get(f"/api/lots/{lot_id}/shares/mine")).json()
    second_share = shares.unseal_share(
        base64.b64decode(second_sealed["envelope"]), second.cert, second.key)
    await login(client, officer_login)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(second_share).decode()})
    assert r.status_code == 400 and r.json()["code"] == "opening_share_invalid", r.text
    await login(client, last_bidder.login)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(share).decode()})
    assert r.status_code == 403 and r.json()["code"] == "not_opening_officer", r.text

    await login(client, officer_login)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(share).decode()})
    assert r.status_code == 200 and r.json()["have"] == 1 and r.json()["need"] == 2, r.text
    assert await jobs_for(conn, "open_by_officers", lot_id) == 0
    await login(client, second_login)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(second_share).decode()})
    assert r.status_code == 200 and r.json()["have"] == 2, r.text
    assert await jobs_for(conn, "open_by_officers", lot_id) == 1
    # held sealed, never as handed over
    held = await conn.fetch("SELECT held FROM lot_opening_shares WHERE lot_id = $1 "
                            "AND held IS NOT NULL", lot_id)
    assert len(held) == 2 and all(share not in bytes(h["held"]) for h in held)

    # one job per lot and round, named without chance: a further share asks for the same one
    assert await job_keys(conn, lot_id) == [f"officers-open:{lot_id}:0"]
    # a held share that no longer unseals (held under another share-holding key) is released,
    # and its officer hands it over again
    index = await conn.fetchval("SELECT share_index FROM lot_opening_shares WHERE lot_id = $1 "
                                "AND officer_id = $2", lot_id, second_id)
    other = replace(settings, share_hold_key="a share-holding key since replaced")
    await conn.execute("UPDATE lot_opening_shares SET held = $3 WHERE lot_id = $1 "
                       "AND officer_id = $2", lot_id, second_id,
                       officers.hold(other, UUID(lot_id), index, second_share))
    assert await officers.open_remaining(conn, app.state.store, settings, UUID(lot_id),
                                         env={}, request_record=opening_jobs.request_record) == 0
    assert (await events(conn, lot_id))[-1][0] == "officers.share_resubmit"
    await login(client, second_login)
    r = await client.post(f"/api/lots/{lot_id}/shares",
                          json={"share": base64.b64encode(second_share).decode()})
    assert r.status_code == 200 and r.json()["have"] == 2, r.text
    assert await jobs_for(conn, "open_by_officers", lot_id) == 2
    assert await job_keys(conn, lot_id) == [f"officers-open:{lot_id}:{n}" for n in (0, 1)]

    assert await officers.open_remaining(conn, app.state.store, settings, UUID(lot_id),
                                         env={}, request_record=opening_jobs.request_record) == 1
    opened = await conn.fetchrow("SELECT * FROM bid_openings WHERE bid_id = $1", last_bid["id"])
    assert opened["opened_by"] == "officers" and opened["user_id"] is None
    assert str(opened["total_price"]) == "990000.00"
    assert await conn.fetchval("SELECT count(*) FROM lot_opening_shares WHERE lot_id = $1 "
                               "AND held IS NOT NULL", lot_id) == 0
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_log WHERE object_id IN ($1, $2) ORDER BY id",
        lot_id, last_bid["id"])]
    assert actions.count("opening_share.submitted") == 3
    assert actions.count("opening_share.released") == 1
    assert "opening_key.used" in actions and actions[-1] == "opening_key.discarded"
    assert await conn.fetchval("SELECT status FROM lot_openings WHERE lot_id = $1",
                               lot_id) == "read"
    assert await conn.fetchval("SELECT status FROM tenders WHERE id = $1", tender_id) == "opened"
    kinds = [k for k, _ in await events(conn, lot_id)]
    assert kinds[-3:] == ["bid.opened", "opening.read", "officers.done"]
    # done once: a second delivery of the job finds nothing to do
    assert await officers.open_remaining(conn, app.state.store, settings, UUID(lot_id),
                                         env={}, request_record=opening_jobs.request_record) == 0


async def test_two_bids_fail_the_lot_without_opening(
        lot: Lot, tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
        pki: PKI) -> None:
    tender_id = lot.tender["id"]
    lot_id = lot.tender["lots"][0]["id"]
    bids = await bids_from(lot, client, conn, world, pki, 2)
    await move_deadline(conn, tender_id, -120)
    # the first to need it (here a bidder opening its bid) starts the opening: the lot fails
    bidder, p7m, bid = bids[0]
    r = await open_own(client, bidder, p7m, bid)
    assert r.status_code == 409 and r.json()["code"] == "lot_failed", r.text
    assert r.json()["detail"] == {"bids": 2, "required": 3}
    state = await conn.fetchrow("SELECT * FROM lot_openings WHERE lot_id = $1", lot_id)
    assert (state["status"], state["failed_reason"]) == ("failed", "too_few_bids")
    assert await conn.fetchval("SELECT count(*) FROM bid_openings WHERE lot_id = $1", lot_id) == 0
    # the chronograph, when it comes, fails the tender (every lot failed): it can be re-tendered
    await conn.execute("UPDATE tenders SET next_due_at = now() - interval '1 second', "
                       "next_due_kind = 'deadline' WHERE id = $1", tender_id)
    async with db.transaction(conn, {}):
        assert await chronograph.fire(conn, UUID(tender_id)) == "deadline"
    assert await conn.fetchval("SELECT status FROM tenders WHERE id = $1", tender_id) == "failed"
    assert [k for k, _ in await events(conn, lot_id)] == ["lot.failed"]
    await tenderer.act()
    r = await client.post(f"/api/tenders/{tender_id}/retender", json={"code": "BID-T-0001R"})
    assert r.status_code == 201 and r.json()["previous_tender_id"] == tender_id, r.text


async def test_whose_fault_a_closed_bid_is(lot: Lot, client: Client, conn: asyncpg.Connection,
                                         world: World, pki: PKI) -> None:
    """Left closed after the platform failed to read it: withdrawn before the deadline (S6)."""
    tender_id = lot.tender["id"]
    lot_id = lot.tender["lots"][0]["id"]
    await conn.execute("UPDATE tenders SET decrypt_failure = 'withdrawn' WHERE id = $1", tender_id)
    bids = await bids_from(lot, client, conn, world, pki, 3)
    await deadline_passes(conn, tender_id)
    silent, unreadable = bids[1][2], bids[2][2]
    await conn.execute("INSERT INTO bid_open_attempts (bid_id, lot_id, code) VALUES "
                       "($1, $2, 'envelope_wrong_key'), ($1, $2, 'stored_bid_unreadable')",
                       unreadable["id"], lot_id)
    await window_closes(conn, tender_id)
    faults = {str(r["bid_id"]): (r["fault"], r["last_code"]) for r in await conn.fetch(
        "SELECT * FROM bid_opening_failures WHERE lot_id = $1", lot_id)}
    assert faults == {bids[0][2]["id"]: ("bidder", None), silent["id"]: ("bidder", None),
                      unreadable["id"]: ("platform", "stored_bid_unreadable")}
    with pytest.raises(asyncpg.CheckViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE bid_opening_failures SET fault = 'platform'")
    assert lots.required_bids({"procedure": "open", "min_bids": 1}) == 3
    assert lots.required_bids({"procedure": "open", "min_bids": 5}) == 5
    assert lots.required_bids({"procedure": "gp_single_source", "min_bids": 1}) == 1
