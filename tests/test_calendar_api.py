"""The working-day calendar through the API (rule A8): public year view, administrator edits."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from core import clock
from tests.conftest import Client, World, login


async def _audit(conn: asyncpg.Connection, action: str, day: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT a.action, a.actor_role, u.login FROM audit_log a
           LEFT JOIN users u ON u.id = a.actor_id
           WHERE a.action = $1 AND a.object_type = 'calendar_day' AND a.object_id = $2
           ORDER BY a.id""", action, day)
    return [dict(r) for r in rows]


async def test_year_is_public_with_working_days_per_month(client: Client,
                                                          conn: asyncpg.Connection) -> None:
    r = await client.get("/api/calendar", params={"year": 2026})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2026
    days = {d["day"]: d for d in body["days"]}
    assert days["2026-02-14"] == {"day": "2026-02-14", "kind": "workday", "name": "春节调休上班"}
    assert days["2026-10-01"]["kind"] == "holiday"
    assert all(d["day"].startswith("2026-") for d in body["days"])
    assert [d["day"] for d in body["days"]] == sorted(days)
    # February 2026: 20 weekdays, 6 of them off for the Spring Festival, 2 Saturdays worked
    assert body["months"][1] == {"month": 2, "working_days": 16}
    cal = await clock.load_calendar(conn, date(2026, 1, 1), date(2026, 12, 31))
    assert body["working_days"] == cal.working_days_between(date(2025, 12, 31), date(2026, 12, 31))
    assert sum(m["working_days"] for m in body["months"]) == body["working_days"]

    empty = (await client.get("/api/calendar", params={"year": 2030})).json()
    assert empty["days"] == [] and empty["months"][0]["working_days"] == 23  # plain January
    assert (await client.get("/api/calendar", params={"year": 1999})).status_code == 400
    this_year = (await client.get("/api/calendar")).json()["year"]
    assert this_year == clock.local_date(await clock.db_now(conn)).year


async def test_admin_sets_and_removes_a_holiday(client: Client, conn: asyncpg.Connection,
                                                world: World) -> None:
    admin = await world.user("admin")
    await login(client, admin)
    tuesday = "2026-12-01"
    assert await clock.add_working_days(conn, date(2026, 11, 30), 1) == date(2026, 12, 1)

    r = await client.put(f"/api/calendar/days/{tuesday}", json={"kind": "holiday", "name": "测试假日"})
    assert r.status_code == 200, r.text
    assert r.json() == {"day": tuesday, "kind": "holiday", "name": "测试假日"}
    assert await clock.add_working_days(conn, date(2026, 11, 30), 1) == date(2026, 12, 2)
    listed = (await client.get("/api/calendar", params={"year": 2026})).json()
    assert {"day": tuesday, "kind": "holiday", "name": "测试假日"} in listed["days"]
    assert listed["months"][11]["working_days"] == 22  # December 2026 has 23 weekdays
    assert await _audit(conn, "calendar.set", tuesday) == [
        {"action": "calendar.set", "actor_role": "admin", "login": admin}]

    # the same again changes nothing and logs nothing; a new name is a change
    again = await client.put(f"/api/calendar/days/{tuesday}",
                             json={"kind": "holiday", "name": "测试假日"})
    assert again.status_code == 200 and len(await _audit(conn, "calendar.set", tuesday)) == 1
    renamed = await client.put(f"/api/calendar/days/{tuesday}",
                               json={"kind": "holiday", "name": " 地方假日 "})
    assert renamed.json()["name"] == "地方假日"
    assert len(await _audit(conn, "calendar.set", tuesday)) == 2

    r = await client.delete(f"/api/calendar/days/{tuesday}")
    assert r.status_code == 204, r.text
    assert await conn.fetchval("SELECT count(*) FROM calendar_days WHERE day = $1",
                               date(2026, 12, 1)) == 0
    assert await clock.add_working_days(conn, date(2026, 11, 30), 1) == date(2026, 12, 1)
    assert len(await _audit(conn, "calendar.delete", tuesday)) == 1
    gone = await client.delete(f"/api/calendar/days/{tuesday}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_make_up_workday_and_removing_a_seeded_holiday(client: Client,
                                                             conn: asyncpg.Connection,
                                                             world: World) -> None:
    await login(client, await world.user("admin"))
    # Friday Dec 4 + 1 working day is Monday Dec 7, until Saturday Dec 5 is worked
    assert await clock.add_working_days(conn, date(2026, 12, 4), 1) == date(2026, 12, 7)
    r = await client.put("/api/calendar/days/2026-12-05", json={"kind": "workday", "name": "调休上班"})
    assert r.status_code == 200, r.text
    assert await clock.add_working_days(conn, date(2026, 12, 4), 1) == date(2026, 12, 5)

    # a weekday holiday of the seeded calendar can be turned back into a working day
    assert await clock.add_working_days(conn, date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert (await client.delete("/api/calendar/days/2026-10-01")).status_code == 204
    assert await clock.add_working_days(conn, date(2026, 9, 30), 1) == date(2026, 10, 1)
    assert len(await _audit(conn, "calendar.delete", "2026-10-01")) == 1


async def test_pointless_days_are_refused(client: Client, conn: asyncpg.Connection,
                                          world: World) -> None:
    await login(client, await world.user("admin"))
    # a holiday on a weekend is kept as the notice announces it, and changes no count
    before = await clock.add_working_days(conn, date(2026, 12, 4), 1)
    saturday = await client.put("/api/calendar/days/2026-12-05",
                                json={"kind": "holiday", "name": "周末假日"})
    assert saturday.status_code == 200, saturday.text
    assert await clock.add_working_days(conn, date(2026, 12, 4), 1) == before
    tuesday = await client.put("/api/calendar/days/2026-12-01",
                               json={"kind": "workday", "name": "调休"})
    assert tuesday.status_code == 400
    body = tuesday.json()
    assert body["code"] == "invalid_input" and body["detail"]["reason"] == "workday_on_weekday"
    assert "weekday" in body["message_en"] and "工作日" in body["message"]
    # a weekday holiday cannot be flipped into a pointless make-up day either
    flipped = await client.put("/api/calendar/days/2026-10-01", json={"kind": "workday", "name": "x"})
    assert flipped.status_code == 400
    assert await conn.fetchval("SELECT kind FROM calendar_days WHERE day = '2026-10-01'") == "holiday"

    for bad in ({"kind": "vacation", "name": "x"}, {"kind": "holiday", "name": "  "},
                {"kind": "holiday"}, {"kind": "holiday", "name": "x", "extra": 1}):
        r = await client.put("/api/calendar/days/2026-12-01", json=bad)
        assert r.status_code == 400 and r.json()["code"] == "validation_error", bad
    assert (await client.put("/api/calendar/days/2026-02-30",
                             json={"kind": "holiday", "name": "x"})).status_code == 404
    # only the weekend holiday was stored; every refused request left nothing behind
    assert await conn.fetchval("SELECT count(*) FROM calendar_days WHERE day >= '2026-11-01'") == 1
    assert len(await _audit(conn, "calendar.set", "2026-12-05")) == 1


async def test_only_an_administrator_edits(client: Client, conn: asyncpg.Connection,
                                           world: World) -> None:
    body = {"kind": "holiday", "name": "越权"}
    r = await client.put("/api/calendar/days/2026-12-01", json=body)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    await login(client, await world.user("bidder", await world.org()))
    r = await client.put("/api/calendar/days/2026-12-01", json=body)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.delete("/api/calendar/days/2026-10-01")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert await conn.fetchval("SELECT count(*) FROM calendar_days WHERE day = '2026-12-01'") == 0
    assert await conn.fetchval("SELECT kind FROM calendar_days WHERE day = '2026-10-01'") == "holiday"
    # reading stays open to anyone signed in or not
    assert (await client.get("/api/calendar", params={"year": 2026})).status_code == 200
