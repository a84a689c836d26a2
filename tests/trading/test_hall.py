"""The opening hall's state, log, sign-in and messages (the live stream: tests/e2e)."""

from __future__ import annotations

from typing import Any

import asyncpg

from client import login as cert_client
from signing import login as login_service
from signing.ca import Issued
from tests.conftest import PKI, SYSTEM, Client, World, login
from tests.trading.bidding import Bidder, make_bidder
from tests.trading.conftest import Lot, Tenderer
from tests.trading.test_bids import move_deadline
from tests.trading.test_opening_lots import bids_from, deadline_passes, open_own


async def login_certificate(conn: asyncpg.Connection, pki: PKI, bidder: Bidder) -> Issued:
    issued = pki.ca1.issue(cn=f"{bidder.name}经办人", org=bidder.name,
                           credit_code=bidder.credit_code, purpose="login")
    user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", bidder.login)
    await login_service.bind_certificate(conn, SYSTEM, user_id=user_id,
                                         certificate=issued.cert_pem(), purpose="login")
    return issued


async def sign_in(client: Client, lot_id: str, issued: Issued | None = None) -> Any:
    body = {} if issued is None else await cert_client.signed_challenge(
        client, issued.key, issued.cert, issued.chain)
    return await client.post(f"/api/lots/{lot_id}/hall/signin", json=body)


async def test_before_the_deadline_the_hall_tells_how_many_not_who(
        lot: Lot, tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
        pki: PKI) -> None:
    lot_id = lot.tender["lots"][0]["id"]
    bids = await bids_from(lot, client, conn, world, pki, 3)
    await login(client, lot.bidder.login)
    # a bidder signs in with its certificate, not its password session alone
    r = await sign_in(client, lot_id)
    assert r.status_code == 400 and r.json()["code"] == "hall_certificate_required", r.text
    other = await login_certificate(conn, pki, bids[1][0])
    r = await sign_in(client, lot_id, other)
    assert r.status_code == 403 and r.json()["code"] == "hall_certificate_not_yours", r.text
    mine = await login_certificate(conn, pki, lot.bidder)
    r = await sign_in(client, lot_id, mine)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "bidder" and lot.bidder.credit_code in r.json()["certificate"]
    again = await sign_in(client, lot_id, mine)
    assert again.status_code == 200 and again.json()["count"] == 1
    # someone holding no documents watches but cannot sign in
    stranger = await make_bidder(conn, world, pki.ca1)
    await login(client, stranger.login)
    r = await sign_in(client, lot_id)
    assert r.status_code == 403 and r.json()["detail"]["reason"] == "not_a_party", r.text
    # the host signs in as signed in, and speaks; a bidder cannot
    await tenderer.act()
    r = await sign_in(client, lot_id)
    assert r.status_code == 200 and r.json()["role"] == "host", r.text
    r = await client.post(f"/api/lots/{lot_id}/hall/messages", json={"text": "  "})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "text", r.text
    r = await client.post(f"/api/lots/{lot_id}/hall/messages",
                          json={"text": "开标将于截止时间准时开始。"})
    assert r.status_code == 201, r.text
    await login(client, lot.bidder.login)
    r = await client.post(f"/api/lots/{lot_id}/hall/messages", json={"text": "我要发言"})
    assert r.status_code == 403, r.text

    client.cookies.clear()  # the public
    state = (await client.get(f"/api/lots/{lot_id}/hall")).json()
    assert state["phase"] == "waiting" and state["bids"] == [] and state["opening"] is None
    assert state["signins"] == {"count": 2, "people": []}
    log = (await client.get(f"/api/lots/{lot_id}/hall/events")).json()
    assert [(e["seq"], e["kind"]) for e in log] == [
        (1, "hall.signin"), (2, "hall.signin"), (3, "hall.message")]
    assert log[0]["data"] == {"count": 1, "role": "bidder", "name": None}
    assert log[1]["data"]["role"] == "host" and log[1]["data"]["name"]
    assert state["last_event"] == 3
    tail = (await client.get(f"/api/lots/{lot_id}/hall/events", params={"after": 2})).json()
    assert [e["seq"] for e in tail] == [3]
    r = await client.get(f"/api/lots/{lot_id}/hall/events", params={"after": -1})
    assert r.status_code == 400, r.text
    r = await client.get(f"/api/lots/{lot_id}/hall/stream",
                         headers={"Last-Event-ID": "abc"})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "Last-Event-ID", r.text
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/api/lots/{unknown}/hall")).status_code == 404


async def test_after_the_deadline_the_hall_shows_each_bid_and_its_reading(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    lot_id = lot.tender["lots"][0]["id"]
    bids = await bids_from(lot, client, conn, world, pki, 3)
    await deadline_passes(conn, lot.tender["id"])
    r = await open_own(client, *bids[0])
    assert r.status_code == 201, r.text
    await login(client, bids[1][0].login)
    r = await client.post(f"/api/bids/{bids[1][2]['id']}/open",
                          json={"content_key": "A" * 43 + "="})
    assert r.status_code == 400, r.text
    client.cookies.clear()
    state = (await client.get(f"/api/lots/{lot_id}/hall")).json()
    assert state["phase"] == "decrypting"
    assert state["opening"]["bids_at_deadline"] == 3
    lines = {b["bidder"]: b for b in state["bids"]}
    assert [lines[b.name]["status"] for b, _, _ in bids] == ["opened", "refused", "waiting"]
    assert lines[bids[0][0].name]["reading"]["total_price"] == "950000.00"
    assert lines[bids[1][0].name]["last_code"] == "envelope_wrong_key"
    assert lines[bids[2][0].name]["reading"] is None
    assert [o["index"] for o in state["officers"]] == [1, 2, 3]
    kinds = [e["kind"] for e in (await client.get(f"/api/lots/{lot_id}/hall/events")).json()]
    assert kinds == ["opening.started", "bid.opened", "bid.open_refused"]


async def test_a_failed_lot_shows_as_failed(lot: Lot, client: Client, conn: asyncpg.Connection,
                                            world: World, pki: PKI) -> None:
    lot_id = lot.tender["lots"][0]["id"]
    await bids_from(lot, client, conn, world, pki, 1)
    await move_deadline(conn, lot.tender["id"], -120)
    client.cookies.clear()
    state = (await client.get(f"/api/lots/{lot_id}/hall")).json()
    assert state["phase"] == "starting"  # past the deadline; nobody has started it yet
    await deadline_passes(conn, lot.tender["id"])
    state = (await client.get(f"/api/lots/{lot_id}/hall")).json()
    assert state["phase"] == "failed" and state["opening"]["failed_reason"] == "too_few_bids"


async def test_supervisors_see_addresses_and_devices_with_flags(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    lot_id = lot.tender["lots"][0]["id"]
    bids = await bids_from(lot, client, conn, world, pki, 3)
    supervisor = await world.user("supervisor")
    await login(client, supervisor)
    r = await client.get(f"/api/lots/{lot_id}/hall/supervision")
    assert r.status_code == 409 and r.json()["code"] == "opening_not_started", r.text
    await deadline_passes(conn, lot.tender["id"])
    # two bidders sign in to the hall from one address (C1)
    for bidder, _, _ in bids[:2]:
        await login(client, bidder.login)
        r = await sign_in(client, lot_id, await login_certificate(conn, pki, bidder))
        assert r.status_code == 200, r.text
    r = await client.get(f"/api/lots/{lot_id}/hall/supervision")
    assert r.status_code == 403, r.text  # a bidder sees no one's fingerprint
    await login(client, supervisor)
    r = await client.get(f"/api/lots/{lot_id}/hall/supervision")
    assert r.status_code == 200, r.text
    view = r.json()
    assert {b["bidder"] for b in view["bidders"]} == {b.name for b, _, _ in bids}
    signin = [f for f in view["flags"] if f["kind"] == "signin_ip"]
    assert len(signin) == 1 and signin[0]["indicator"] == "C1"
    assert signin[0]["bidders"] == sorted(b.name for b, _, _ in bids[:2])
    assert all(f["indicator"] in ("C1", "C2") for f in view["flags"])
