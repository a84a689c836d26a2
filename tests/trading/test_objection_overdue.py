"""T4: an objection left unanswered past its 3 days is flagged once by the chronograph's pass."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import db
from tests.conftest import PKI, World, login
from tests.trading.conftest import Tenderer
from trading import chronograph


async def _user_id(conn: asyncpg.Connection, login_name: str) -> UUID:
    user_id: UUID = await conn.fetchval("SELECT id FROM users WHERE login = $1", login_name)
    return user_id


async def _object(tenderer: Tenderer, world: World, tender_id: str,
                  body: str = "评分标准第3条排斥潜在投标人") -> dict[str, Any]:
    """A bidder of its own files an objection; the tenderer is logged in again afterwards."""
    await login(tenderer.client, await world.user("bidder", await world.org("bidder")))
    r = await tenderer.client.post(f"/api/tenders/{tender_id}/objections", json={"body": body})
    assert r.status_code == 201, r.text
    await tenderer.act()
    objection: dict[str, Any] = r.json()
    return objection


async def _published(tenderer: Tenderer, code: str) -> dict[str, Any]:
    tender = await tenderer.published(code)
    await tenderer.conn.execute("UPDATE tenders SET bid_deadline = now() + interval '12 days' "
                                "WHERE id = $1", tender["id"])
    return tender


async def _make_late(conn: asyncpg.Connection, objection_id: str) -> None:
    await conn.execute("UPDATE objections SET answer_due_at = now() - interval '1 minute' "
                       "WHERE id = $1", objection_id)


async def _overdue_audits(conn: asyncpg.Connection, tender_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'objection.overdue' "
        "AND object_type = 'tender' AND object_id = $1", tender_id)
    return count


async def _overdue_notes(conn: asyncpg.Connection, objection_id: str) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT args FROM outbox WHERE function = 'deliver_notification' "
        "AND job_key LIKE 'notify:objection-overdue:' || $1 || ':%'", objection_id)
    return [UUID(r["args"]["user_id"]) for r in rows]


async def _listing(tenderer: Tenderer, tender_id: str) -> dict[str, bool]:
    r = await tenderer.client.get(f"/api/tenders/{tender_id}/objections")
    assert r.status_code == 200, r.text
    return {o["id"]: o["overdue"] for o in r.json()}


async def test_unanswered_objection_is_flagged_once(tenderer: Tenderer, world: World,
                                                    conn: asyncpg.Connection, pki: PKI) -> None:
    agency_org = await world.org("agency", "测试代理机构")
    agent = await world.user("agency", agency_org)
    supervision = await world.org("supervision", "测试监督部门")
    supervisor = await world.user("supervisor", supervision)
    idle = await world.user("supervisor", supervision)
    await conn.execute("UPDATE users SET is_active = false WHERE login = $1", idle)
    tender = await _published(tenderer, "T-T4-LATE-1")
    # an agency in charge beside the tenderer (publishing through it would need its signature)
    await conn.execute("UPDATE tenders SET agency_org_id = $2 WHERE id = $1", tender["id"],
                       agency_org)
    objection = await _object(tenderer, world, tender["id"])
    objector = await conn.fetchval("SELECT user_id FROM objections WHERE id = $1",
                                   objection["id"])

    # not due yet: nothing to flag; the paused tender has nothing due either
    assert await chronograph.run_overdue(conn) == 0
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 0
    assert (await _listing(tenderer, tender["id"]))[objection["id"]] is False

    await _make_late(conn, objection["id"])
    assert await chronograph.run_overdue(conn) == 1
    assert await chronograph.run_overdue(conn) == 0  # the second pass finds it flagged
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 0

    assert await _overdue_audits(conn, tender["id"]) == 1
    staff = {r["id"] for r in await conn.fetch(
        "SELECT id FROM users WHERE organization_id = $1", tenderer.org_id)}
    assert len(staff) == 4  # the tenderer's user and its three opening officers
    expected = staff | {await _user_id(conn, agent), await _user_id(conn, supervisor)}
    notes = await _overdue_notes(conn, objection["id"])
    assert sorted(notes) == sorted(expected)  # one each, nobody else
    assert objector not in notes and await _user_id(conn, idle) not in notes

    row = await conn.fetchrow("SELECT overdue_flagged_at IS NOT NULL AS flagged, paused_since, "
                              "next_due_at FROM objections j JOIN tenders t "
                              "ON t.id = j.tender_id WHERE j.id = $1", objection["id"])
    assert row["flagged"] and row["paused_since"] is not None and row["next_due_at"] is None
    assert (await _listing(tenderer, tender["id"]))[objection["id"]] is True

    # a late answer still resumes the tender; the record keeps that it was late
    # the agency signs for the tender now that it is in charge
    code = await conn.fetchval("SELECT credit_code FROM organizations WHERE id = $1", agency_org)
    tenderer.signer = pki.ca1.issue(cn="代理机构经办人", org="测试代理机构", credit_code=code,
                                    purpose="signing")
    r = await tenderer.answer(tender["id"], objection["id"], "经核查，评分标准不存在排斥情形，维持原文件。")
    assert r.status_code == 200, r.text
    assert [o["overdue"] for o in r.json()] == [True]
    assert await conn.fetchval("SELECT paused_since FROM tenders WHERE id = $1",
                               tender["id"]) is None
    assert await chronograph.run_overdue(conn) == 0
    assert await _overdue_audits(conn, tender["id"]) == 1
    assert len(await _overdue_notes(conn, objection["id"])) == len(expected)


async def test_answered_objection_is_never_flagged(tenderer: Tenderer, world: World,
                                                   conn: asyncpg.Connection) -> None:
    tender = await _published(tenderer, "T-T4-LATE-2")
    answered = await _object(tenderer, world, tender["id"])
    open_ = await _object(tenderer, world, tender["id"], body="技术参数第5条指向特定品牌")
    r = await tenderer.answer(tender["id"], answered["id"], "评分标准已按异议修改，详见澄清公告。")
    assert r.status_code == 200, r.text
    assert not any(o["overdue"] for o in r.json())

    await _make_late(conn, answered["id"])
    await _make_late(conn, open_["id"])
    assert await chronograph.run_overdue(conn) == 1
    assert await chronograph.run_overdue(conn) == 0
    flagged = await conn.fetch("SELECT id FROM objections WHERE tender_id = $1 "
                               "AND overdue_flagged_at IS NOT NULL", tender["id"])
    assert [str(r["id"]) for r in flagged] == [open_["id"]]
    assert await _overdue_notes(conn, answered["id"]) == []
    assert await _overdue_audits(conn, tender["id"]) == 1


async def test_objection_of_a_cancelled_tender_is_not_flagged(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection) -> None:
    tender = await _published(tenderer, "T-T4-LATE-3")
    objection = await _object(tenderer, world, tender["id"])
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/cancel",
                                   json={"reason": "项目资金未落实"})
    assert r.status_code == 200, r.text
    await _make_late(conn, objection["id"])
    assert await chronograph.run_overdue(conn) == 0
    assert await _overdue_notes(conn, objection["id"]) == []
    assert await _overdue_audits(conn, tender["id"]) == 0
