"""A tender's audit trail as the supervisor's page reads it: every hash recomputed, a changed
or removed row named, and bidders' actions kept anonymous until the deadline (T7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from core import audit
from tests.conftest import World
from workspaces import audit_trail

STAFF = audit.Actor(None, "tenderer", "10.0.0.1", "req-ws")


async def _tender(conn: asyncpg.Connection, world: World, *, deadline: datetime) -> UUID:
    """A published tender row, written directly: the trail reads only its code and deadline."""
    org = await world.org("tenderer")
    tender_id: UUID = await conn.fetchval("""
        INSERT INTO tenders (code, title, status, owner_org_id, published_at, documents_from,
                             documents_until, bid_deadline, created_at)
        VALUES ('AUD-' || substr(md5(random()::text), 1, 8), '审计测试项目', 'published', $1,
                $2, $2, $3, $3, clock_timestamp())
        RETURNING id""", org, deadline - timedelta(days=30), deadline)
    return tender_id


async def _record(conn: asyncpg.Connection, tender_id: UUID, action: str,
                  actor: audit.Actor = STAFF) -> int:
    return await audit.record(conn, actor, action, "tender", tender_id, {"a": action})


async def _forge(conn: asyncpg.Connection, statement: str, *args: object) -> None:
    """What a superuser could do with the triggers off; undone with the test's transaction."""
    await conn.execute("SET LOCAL session_replication_role = replica")
    await conn.execute(statement, *args)
    await conn.execute("SET LOCAL session_replication_role = origin")


async def test_an_untouched_trail_checks_out(conn: asyncpg.Connection, world: World) -> None:
    tender = await _tender(conn, world, deadline=datetime.now(UTC) - timedelta(days=1))
    ids = [await _record(conn, tender, a) for a in ("tender.create", "tender.publish")]
    await audit.record(conn, STAFF, "user.create", "user", "someone-else")
    ids.append(await _record(conn, tender, "tender.deadline_reached"))
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    assert [r["id"] for r in trail["rows"]] == ids
    assert {r["check"] for r in trail["rows"]} == {"ok"}
    assert trail["chain"].ok and trail["bad_rows"] == []
    assert trail["rows"][0]["actor_role"] == "tenderer" and trail["rows"][0]["client_ip"] == "10.0.0.1"


async def test_a_changed_row_is_named(conn: asyncpg.Connection, world: World) -> None:
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    ids = [await _record(conn, tender, f"tender.step_{s}") for s in "abc"]
    await _forge(conn, "UPDATE audit_log SET action = 'tender.cancel' WHERE id = $1", ids[1])
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    checks = {r["id"]: r["check"] for r in trail["rows"]}
    assert checks == {ids[0]: "ok", ids[1]: "content", ids[2]: "ok"}
    assert trail["bad_rows"] == [ids[1]]
    assert not trail["chain"].ok and trail["chain"].broken_id == ids[1]
    assert trail["break_is_here"]


async def test_a_removed_row_breaks_the_link_after_it(conn: asyncpg.Connection,
                                                      world: World) -> None:
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    ids = [await _record(conn, tender, f"tender.step_{s}") for s in "abc"]
    await _forge(conn, "DELETE FROM audit_log WHERE id = $1", ids[1])
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    assert [(r["id"], r["check"]) for r in trail["rows"]] == [(ids[0], "ok"), (ids[2], "link")]
    assert trail["chain"].broken_id == ids[2] and trail["break_is_here"]


async def test_a_removed_last_row_shows_in_the_whole_chain(conn: asyncpg.Connection,
                                                           world: World) -> None:
    """The tender's last row removed leaves none of its rows wrong: the break is at the next
    row of the chain, someone else's, and the page must still say the chain is broken."""
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    ids = [await _record(conn, tender, f"tender.step_{s}") for s in "ab"]
    other = await audit.record(conn, STAFF, "user.create", "user", "after")
    await _forge(conn, "DELETE FROM audit_log WHERE id = $1", ids[1])
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    assert [r["check"] for r in trail["rows"]] == ["ok"]
    assert not trail["chain"].ok and trail["chain"].broken_id == other
    assert not trail["break_is_here"]


async def test_rows_of_lots_and_bids_belong_to_the_tender(conn: asyncpg.Connection,
                                                          world: World) -> None:
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    lot = await conn.fetchval("INSERT INTO lots (tender_id, number, title, budget) "
                              "VALUES ($1, 1, '一标段', 1000) RETURNING id", tender)
    mine = await audit.record(conn, STAFF, "lot.opening_started", "lot", lot)
    await audit.record(conn, STAFF, "lot.opening_started", "lot", "another-lot")
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    assert [r["id"] for r in trail["rows"]] == [mine]


async def test_a_removed_first_row_shows_in_the_tenders_stretch(conn: asyncpg.Connection,
                                                                world: World) -> None:
    """The stretch starts when the tender was created, not at its first remaining row: a
    removed first row is found at the row after it, though that row is someone else's."""
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    created = await _record(conn, tender, "tender.create")
    between = await audit.record(conn, STAFF, "user.create", "user", "between")
    published = await _record(conn, tender, "tender.publish")
    await _forge(conn, "DELETE FROM audit_log WHERE id = $1", created)
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=datetime.now(UTC))
    assert [(r["id"], r["check"]) for r in trail["rows"]] == [(published, "ok")]
    assert trail["window"] == (between, published)
    assert trail["chain"].broken_id == between and not trail["break_is_here"]


async def test_the_whole_chain_is_checked_on_request(conn: asyncpg.Connection,
                                                     world: World) -> None:
    """A row changed before the tender existed is outside its stretch; the whole chain,
    recomputed on request, finds it."""
    earlier = await audit.record(conn, STAFF, "user.create", "user", "earlier")
    tender = await _tender(conn, world, deadline=datetime.now(UTC) + timedelta(days=20))
    await _record(conn, tender, "tender.create")
    await _forge(conn, "UPDATE audit_log SET object_id = 'forged' WHERE id = $1", earlier)
    now = datetime.now(UTC)
    stretch = await audit_trail.tender_trail(conn, tender_id=tender, now=now)
    assert stretch["chain"].ok and stretch["window"] is not None
    assert stretch["window"][0] > earlier
    whole = await audit_trail.tender_trail(conn, tender_id=tender, now=now, whole_chain=True)
    assert whole["window"] is None
    assert not whole["chain"].ok and whole["chain"].broken_id == earlier


@pytest.mark.parametrize("after_deadline", [False, True])
async def test_bidders_actions_show_from_the_deadline(conn: asyncpg.Connection, world: World,
                                                      after_deadline: bool) -> None:
    """Before the deadline a bidder's rows are left out, so neither who nor how many show
    (T7); they are checked all the same, and a changed one is still named."""
    login = await world.user("bidder", await world.org("bidder"))
    user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", login)
    deadline = datetime.now(UTC) + timedelta(days=5)
    tender = await _tender(conn, world, deadline=deadline)
    held = await _record(conn, tender, "document.holder", audit.Actor(user_id, "bidder", "10.9.9.9"))
    staff = await _record(conn, tender, "tender.update")
    now = deadline + timedelta(seconds=1) if after_deadline else datetime.now(UTC)
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=now)
    assert trail["sealed"] is not after_deadline
    if after_deadline:
        assert [(r["id"], r["actor"], r["client_ip"]) for r in trail["rows"]] == [
            (held, "bidder 测试", "10.9.9.9"), (staff, None, "10.0.0.1")]
    else:
        assert [r["id"] for r in trail["rows"]] == [staff]
    await _forge(conn, "UPDATE audit_log SET action = 'document.remove' WHERE id = $1", held)
    trail = await audit_trail.tender_trail(conn, tender_id=tender, now=now)
    assert trail["bad_rows"] == [held] and trail["break_is_here"]
