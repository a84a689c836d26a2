"""The audit log: a hash chain the database will not let anyone edit."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from core import audit
from core.identity import service
from core.migrate import upgrade_async
from core.settings import Settings
from tests.conftest import SYSTEM, committed, run_cli

ACTOR = audit.Actor(None, "admin", "10.1.2.3", "req-1")


async def test_rows_chain_and_verify(conn: asyncpg.Connection) -> None:
    before = await audit.verify(conn)
    assert before.ok
    ids = [await audit.record(conn, ACTOR, "tender.publish", "tender", i, {"n": i})
           for i in range(5)]
    result = await audit.verify(conn)
    assert result.ok and result.rows == before.rows + 5
    rows = await conn.fetch("SELECT id, prev_hash, hash FROM audit_log WHERE id = ANY($1) "
                            "ORDER BY id", ids)
    for a, b in itertools.pairwise(rows):
        assert b["prev_hash"] == a["hash"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'x.y' WHERE id = $1",
    "DELETE FROM audit_log WHERE id = $1",
])
async def test_update_and_delete_are_refused(conn: asyncpg.Connection, statement: str) -> None:
    row_id = await audit.record(conn, ACTOR, "user.create", "user", "u1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        async with conn.transaction():  # a savepoint: the test's transaction survives
            await conn.execute(statement, row_id)


async def test_truncate_is_refused(conn: asyncpg.Connection) -> None:
    await audit.record(conn, ACTOR, "user.create", "user", "u1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with conn.transaction():
            await conn.execute("TRUNCATE audit_log")


async def test_cli_names_the_row_a_superuser_changed(scratch_db: str) -> None:
    await upgrade_async(scratch_db)
    conn = await committed(scratch_db)
    try:
        async with conn.transaction():
            ids = [await audit.record(conn, ACTOR, "bid.submit", "bid", f"b{i}", {"i": i})
                   for i in range(6)]
        ok = run_cli("audit", "verify", env={"DATABASE_URL": scratch_db})
        assert ok.returncode == 0, ok.stderr
        assert "6 rows" in ok.stdout

        # A superuser switches triggers off for the session and rewrites history.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE audit_log SET object_id = 'forged' WHERE id = $1", ids[3])
        await conn.execute("SET session_replication_role = origin")

        bad = run_cli("audit", "verify", env={"DATABASE_URL": scratch_db})
        assert bad.returncode == 1
        assert f"BROKEN at row {ids[3]}" in bad.stderr
        result = await audit.verify(conn)
        assert not result.ok and result.broken_id == ids[3] and result.rows == 3

        # Removing a row is caught at the row after the gap.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE audit_log SET object_id = 'b3' WHERE id = $1", ids[3])
        await conn.execute("DELETE FROM audit_log WHERE id = $1", ids[1])
        await conn.execute("SET session_replication_role = origin")
        result = await audit.verify(conn)
        assert not result.ok and result.broken_id == ids[2]
        assert "previous row" in result.reason
    finally:
        await conn.close()


async def test_requests_leave_audit_rows(conn: asyncpg.Connection) -> None:

    await service.create_user(conn, SYSTEM, login="audited-user", name="审计", roles=["expert"])
    row = await conn.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'user.create' ORDER BY id DESC LIMIT 1")
    assert row["actor_role"] == "system" and row["request_id"] == "test"
    assert len(row["payload_digest"]) == 32


@pytest.mark.parametrize("ip", ["::ffff:1.2.3.4", "::1.2.3.4", "fe80::1%eth0", "2001:DB8::1",
                                "127.0.0.1", "not-an-ip", "", None])
async def test_any_client_address_verifies(conn: asyncpg.Connection, ip: str | None) -> None:
    actor = audit.Actor("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "bidder", ip, "req-ip")  # type: ignore[arg-type]
    row_id = await audit.record(conn, actor, "session.login", "user", "u-ip")
    assert (await audit.verify(conn)).ok
    stored = await conn.fetchval("SELECT host(client_ip) FROM audit_log WHERE id = $1", row_id)
    assert (stored is None) == (ip in (None, "", "not-an-ip"))


async def test_refuses_a_snapshot_that_could_fork_the_chain(settings: Settings) -> None:
    conn = await committed(settings.database.url)
    tx = conn.transaction(isolation="repeatable_read")
    await tx.start()
    try:
        with pytest.raises(RuntimeError, match="READ COMMITTED"):
            await audit.record(conn, ACTOR, "user.create", "user", "x")
    finally:
        await tx.rollback()
        await conn.close()
