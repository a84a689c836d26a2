"""A bidder opens its own bid after the deadline with the content key it unwrapped itself."""

from __future__ import annotations

import base64
import io
import os
from decimal import Decimal

import asyncpg
import pytest
from litestar import Litestar

from signing import stream
from signing.envelope import unwrap_from
from signing.trust import load_trust_store
from tests.conftest import PKI, Client, World, login
from tests.trading.bidding import Bidder, bid_zip, make_bidder, obtain, seal, submit
from tests.trading.conftest import Lot
from tests.trading.test_bids import move_deadline
from trading.bids import queries as bid_queries
from trading.opening import decrypt
from trading.opening.errors import StoredBidUnreadable


def own_key(p7m: bytes, bidder: Bidder) -> str:
    """What ``tenderhall bid decrypt --key-only`` prints: the key from the bidder's own entry."""
    head = stream._read_head(stream._Reader(io.BytesIO(p7m)))
    return base64.b64encode(unwrap_from(list(head.infos), bidder.enc.cert,
                                        bidder.enc.key)).decode()


async def allow_few_bids(conn: asyncpg.Connection, tender_id: str) -> None:
    """A single-source procedure opens with the bids it has (S5's three do not apply)."""
    await conn.execute("UPDATE tenders SET procedure = 'gp_single_source', min_bids = 1 "
                       "WHERE id = $1", tender_id)


async def test_the_bidder_opens_its_own_bid_after_the_deadline_and_nothing_before(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    p7m = lot.sealed()
    r = await submit(client, lot.tender, lot.bidder, p7m, key="opening-own-1")
    assert r.status_code == 201, r.text
    bid = r.json()
    key = own_key(p7m, lot.bidder)
    # a rival holding the documents, with a bid of its own
    rival = await make_bidder(conn, world, pki.ca1)
    await obtain(client, rival, lot.tender)
    rival_p7m = seal(bid_zip(lot.tender, rival, total="990000.00"), rival,
                     [rival.enc.cert, lot.opening])
    r = await submit(client, lot.tender, rival, rival_p7m, key="opening-rival-1")
    assert r.status_code == 201, r.text
    rival_bid = r.json()
    await allow_few_bids(conn, lot.tender["id"])

    # before the deadline: nothing opens, not even with the right key
    await login(client, lot.bidder.login)
    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert r.status_code == 409 and r.json()["code"] == "opening_not_started", r.text

    await move_deadline(conn, lot.tender["id"], -1)
    # a bidder cannot open (or even see) another bidder's bid, whatever key it holds
    r = await client.post(f"/api/bids/{rival_bid['id']}/open",
                          json={"content_key": own_key(rival_p7m, rival)})
    assert r.status_code == 404, r.text
    # a wrong key, and another bidder's real key, are refused with the envelope's code
    for wrong in (base64.b64encode(os.urandom(32)).decode(), own_key(rival_p7m, rival)):
        r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": wrong})
        assert r.status_code == 400 and r.json()["code"] == "envelope_wrong_key", r.text
    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": "bm90IGEga2V5"})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "content_key", r.text
    assert await conn.fetchval("SELECT count(*) FROM bid_openings WHERE bid_id = $1",
                               bid["id"]) == 0
    # each refusal after the deadline is kept for the hall, with its code
    assert [r_["code"] for r_ in await conn.fetch(
        "SELECT code FROM bid_open_attempts WHERE bid_id = $1 ORDER BY id", bid["id"])] == [
        "envelope_wrong_key", "envelope_wrong_key"]

    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert r.status_code == 201, r.text
    opened = r.json()
    assert opened["opened_by"] == "bidder" and opened["total_price"] == "980000.00"
    assert opened["price_sheet"]["bidder"]["credit_code"] == lot.bidder.credit_code
    assert "price.json" in opened["files"]
    assert lot.bidder.credit_code in opened["inner_signer"]
    again = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert again.status_code == 200 and again.json() == opened
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bid.open' "
                               "AND object_id = $1", bid["id"]) == 1

    # the record of an opened bid never changes
    with pytest.raises(asyncpg.CheckViolationError) as changed:
        async with conn.transaction():
            await conn.execute("UPDATE bid_openings SET total_price = 1 WHERE bid_id = $1",
                               bid["id"])
    assert changed.value.constraint_name == "bid_openings_immutable"  # type: ignore[attr-defined]

    # after the window (fixed when the opening started) the rival's unopened bid stays shut;
    # the opened one is still shown
    await conn.execute("UPDATE lot_openings SET window_closes_at = clock_timestamp() "
                       "WHERE tender_id = $1", lot.tender["id"])
    await login(client, rival.login)
    r = await client.post(f"/api/bids/{rival_bid['id']}/open",
                          json={"content_key": own_key(rival_p7m, rival)})
    assert r.status_code == 409 and r.json()["code"] == "decryption_window_closed", r.text
    await login(client, lot.bidder.login)
    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert r.status_code == 200 and r.json()["total_price"] == "980000.00"


async def test_a_replaced_bid_is_not_opened_and_the_sheet_must_name_the_bid(
        lot: Lot, client: Client, conn: asyncpg.Connection) -> None:
    first = lot.sealed()
    r = await submit(client, lot.tender, lot.bidder, first, key="opening-first-1")
    assert r.status_code == 201, r.text
    replaced = r.json()
    # a price sheet for lot 2 inside a bid for lot 1
    wrong_lot = seal(bid_zip(lot.tender, lot.bidder, lot=2), lot.bidder,
                     [lot.bidder.enc.cert, lot.opening])
    r = await submit(client, lot.tender, lot.bidder, wrong_lot, key="opening-second-1")
    assert r.status_code == 201, r.text
    current = r.json()
    await allow_few_bids(conn, lot.tender["id"])
    await move_deadline(conn, lot.tender["id"], -1)
    r = await client.post(f"/api/bids/{replaced['id']}/open",
                          json={"content_key": own_key(first, lot.bidder)})
    assert r.status_code == 409 and r.json()["code"] == "bid_not_current", r.text
    r = await client.post(f"/api/bids/{current['id']}/open",
                          json={"content_key": own_key(wrong_lot, lot.bidder)})
    assert r.status_code == 422 and r.json()["code"] == "price_sheet_mismatch", r.text
    assert r.json()["detail"]["price_sheet"][1] == 2
    assert await conn.fetchval("SELECT code FROM bid_open_attempts WHERE bid_id = $1",
                               current["id"]) == "price_sheet_mismatch"
    assert await conn.fetchval("SELECT count(*) FROM bid_openings WHERE bid_id = $1",
                               current["id"]) == 0


async def test_a_stored_bid_that_cannot_be_read_is_the_platforms_failure(
        lot: Lot, client: Client, conn: asyncpg.Connection, app: Litestar) -> None:
    p7m = lot.sealed()
    r = await submit(client, lot.tender, lot.bidder, p7m, key="opening-storage-1")
    assert r.status_code == 201, r.text
    bid = dict(await conn.fetchrow(bid_queries.GET_BID, r.json()["id"]))
    trust = await load_trust_store(conn)
    cek = base64.b64decode(own_key(p7m, lot.bidder))
    opened = await decrypt.decrypt_stored(app.state.store, trust, bid, cek)
    assert opened.sheet.total_price == Decimal("980000.00")
    # bytes that differ from what was received, and an object gone: never blamed on the key
    for broken in ({**bid, "p7m_sha256": bytes(32)}, {**bid, "object_key": bid["object_key"] + "x"}):
        with pytest.raises(StoredBidUnreadable) as failed:
            await decrypt.decrypt_stored(app.state.store, trust, broken, cek)
        assert failed.value.status == 503


async def test_a_paused_tender_and_a_bid_that_is_not_a_zip(
        lot: Lot, client: Client, conn: asyncpg.Connection) -> None:
    """A pause (T4) keeps the deadline from passing; a bid whose content only its bidder could
    have got wrong is refused with its own code (the bidder's fault), never a 500."""
    not_a_zip = seal(b"not a zip at all", lot.bidder, [lot.bidder.enc.cert, lot.opening])
    r = await submit(client, lot.tender, lot.bidder, not_a_zip, key="opening-not-zip-1")
    assert r.status_code == 201, r.text
    bid = r.json()
    await allow_few_bids(conn, lot.tender["id"])
    await move_deadline(conn, lot.tender["id"], -60)
    await conn.execute("UPDATE tenders SET paused_since = clock_timestamp() WHERE id = $1",
                       lot.tender["id"])
    await login(client, lot.bidder.login)
    key = own_key(not_a_zip, lot.bidder)
    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert r.status_code == 409 and r.json()["code"] == "opening_not_started", r.text
    assert r.json()["detail"]["paused"] is True
    assert await conn.fetchval("SELECT count(*) FROM lot_openings WHERE tender_id = $1",
                               lot.tender["id"]) == 0
    await conn.execute("UPDATE tenders SET paused_since = NULL WHERE id = $1", lot.tender["id"])
    r = await client.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
    assert r.status_code == 422 and r.json()["code"] == "bid_content_invalid", r.text
    assert await conn.fetchval("SELECT code FROM bid_open_attempts WHERE bid_id = $1",
                               bid["id"]) == "bid_content_invalid"
