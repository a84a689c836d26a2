"""Tenders through the API: drafts, publication under T1/T2/T5/T6, cancel, re-tender, chronograph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core import audit, db
from tests.conftest import Client, World, login, tender_body
from tests.trading.conftest import Tenderer
from trading import chronograph
from trading.tenders import service


async def _tenderer(client: Client, world: World) -> None:
    await login(client, await world.user("tenderer", await world.org("tenderer")))


async def _draft(client: Client, code: str, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/api/tenders/", json=tender_body(code, **overrides))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_publication_enforces_the_rules(client: Client, tenderer: Tenderer) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    # T1 is checked on every save once the schedule is there: 19 days 23 hours is refused
    short = await client.post("/api/tenders/", json=tender_body(
        "T-RULE-1", bid_deadline=(start + timedelta(days=19, hours=23)).isoformat()))
    assert short.status_code == 422 and short.json()["code"] == "rule_t1_bid_period"
    # T5 per lot, T6 as a constraint
    greedy = await client.post("/api/tenders/", json=tender_body("T-RULE-2", lots=[
        {"number": 1, "title": "一", "budget": "1000000.00", "security_amount": "20000.01"}]))
    assert greedy.json()["code"] == "rule_t5_security_cap"
    cash_only = await client.post("/api/tenders/", json=tender_body(
        "T-RULE-3", security_forms=["deposit"]))
    assert cash_only.status_code == 400 and "T6" in cash_only.json()["message_en"]
    # a draft without schedule or lots saves, but does not publish
    bare = (await client.post("/api/tenders/", json={"code": "T-RULE-4", "title": "草稿"})).json()
    r = await tenderer.publish(bare["id"])
    assert r.status_code == 422 and r.json()["code"] == "tender_schedule_incomplete"
    nolots = await _draft(client, "T-RULE-5", lots=[])
    r = await tenderer.publish(nolots["id"])
    assert r.json()["code"] == "tender_has_no_lots"
    # documents_from in the past counts from publication: a tight schedule fails T1 then
    past = datetime.now(UTC) - timedelta(days=2)
    stale = await _draft(client, "T-RULE-6", documents_from=past.isoformat(),
                         documents_until=(past + timedelta(days=6)).isoformat(),
                         bid_deadline=(past + timedelta(days=20, hours=1)).isoformat())
    r = await tenderer.publish(stale["id"])
    assert r.status_code == 422 and r.json()["code"] == "rule_t1_bid_period"
    body = await tenderer.published("T-RULE-7")
    assert body["status"] == "published" and body["next_due_kind"] == "documents_closed"
    assert body["lots"][0]["security_cap"] == "20000.00"


async def test_government_procurement_weights_and_working_days(client: Client,
                                                               world: World) -> None:
    await _tenderer(client, world)
    r = await client.post("/api/tenders/", json=tender_body(
        "T-GP-1", procedure="gp_open", sector="goods",
        weights={"price": 20, "technical": 70, "commercial": 10}))
    assert r.status_code == 422 and r.json()["code"] == "tender_weights_invalid"
    r = await client.post("/api/tenders/", json=tender_body(
        "T-GP-2", weights={"price": 50, "technical": 30}))
    assert r.json()["code"] == "tender_weights_invalid"
    # the 2026 Spring Festival: documents from Friday Feb 13 to Tuesday Feb 24 are eleven
    # days but two working days (the make-up Saturday Feb 14, and Feb 24): T2 refuses
    start = datetime(2026, 2, 13, 10, tzinfo=UTC)
    r = await client.post("/api/tenders/", json=tender_body(
        "T-GP-3", procedure="gp_open", sector="goods",
        documents_from=start.isoformat(), documents_until=(start + timedelta(days=11)).isoformat(),
        bid_deadline=(start + timedelta(days=25)).isoformat()))
    assert r.status_code == 422 and r.json()["code"] == "rule_t2_documents_period"
    assert r.json()["detail"]["working_days"] == 2


async def test_drafts_are_edited_with_a_version_check(client: Client, tenderer: Tenderer) -> None:
    draft = await tenderer.draft("T-EDIT-1")
    body = tender_body("T-EDIT-1", title="改过的标题", version=draft["version"],
                       officer_ids=[str(u) for u, _ in tenderer.officers])
    r = await client.put(f"/api/tenders/{draft['id']}", json=body)
    assert r.status_code == 200 and r.json()["title"] == "改过的标题"
    stale = await client.put(f"/api/tenders/{draft['id']}", json=body)
    assert stale.status_code == 409 and stale.json()["code"] == "tender_stale_version"
    assert (await tenderer.upload(draft["id"], "a.pdf", b"%PDF a")).status_code == 201
    assert (await tenderer.publish(draft["id"])).status_code == 200
    body["version"] = r.json()["version"] + 1
    after = await client.put(f"/api/tenders/{draft['id']}", json=body)
    assert after.status_code == 409 and after.json()["code"] == "tender_invalid_transition"


async def test_cancel_and_retender(client: Client, tenderer: Tenderer,
                                   conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-CAN-1")
    no_reason = await client.post(f"/api/tenders/{tender['id']}/cancel", json={"reason": ""})
    assert no_reason.status_code == 400
    r = await client.post(f"/api/tenders/{tender['id']}/cancel", json={"reason": "项目取消立项"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["next_due_at"] is None
    again = await client.post(f"/api/tenders/{tender['id']}/cancel", json={"reason": "再次"})
    assert again.status_code == 409 and again.json()["code"] == "tender_invalid_transition"
    # only a failed tender is tendered again, once, as a linked draft with the same lots
    r = await client.post(f"/api/tenders/{tender['id']}/retender", json={"code": "T-CAN-1R"})
    assert r.json()["code"] == "tender_invalid_transition"
    failed = await tenderer.published("T-FAIL-1")
    await conn.execute("UPDATE tenders SET status = 'bidding_closed' WHERE id = $1", failed["id"])
    await service.fail(conn, audit.SYSTEM, failed["id"], reason="投标人不足3家")
    r = await client.post(f"/api/tenders/{failed['id']}/retender", json={"code": "T-FAIL-1R"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["status"] == "draft" and new["previous_tender_id"] == failed["id"]
    assert [lot["title"] for lot in new["lots"]] == ["第一标段"] and new["bid_deadline"] is None
    assert len(new["officers"]) == 3
    twice = await client.post(f"/api/tenders/{failed['id']}/retender", json={"code": "T-FAIL-1S"})
    assert twice.status_code == 409
    # a draft is cancelled too, and stays out of public view
    draft = await tenderer.draft("T-CAN-D")
    r = await client.post(f"/api/tenders/{draft['id']}/cancel", json={"reason": "立项撤销"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["published_at"] is None
    client.cookies.clear()
    assert (await client.get(f"/api/tenders/{draft['id']}")).status_code == 404
    listing = (await client.get("/api/tenders/", params={"q": "T-CAN-D"})).json()
    assert listing["total"] == 0


async def test_chronograph_fires_due_transitions_once(tenderer: Tenderer,
                                                      conn: asyncpg.Connection) -> None:
    # what other tests committed and left due is fired first, inside this test's transaction
    async with db.transaction(conn, {}):
        await chronograph.run_due(conn)
    tender = await tenderer.published("T-CHRONO-1")
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 0  # nothing due yet
    # time passes: documents period over
    await conn.execute("""UPDATE tenders SET documents_from = now() - interval '20 days',
                              documents_until = now() - interval '1 minute',
                              bid_deadline = now() + interval '1 hour',
                              next_due_at = now() - interval '1 minute' WHERE id = $1""",
                       tender["id"])
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 1
    row = await conn.fetchrow("SELECT status, next_due_kind FROM tenders WHERE id = $1",
                              tender["id"])
    assert dict(row) == {"status": "published", "next_due_kind": "deadline"}
    # deadline reached
    await conn.execute("""UPDATE tenders SET bid_deadline = now() - interval '1 second',
                              next_due_at = now() - interval '1 second' WHERE id = $1""",
                       tender["id"])
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 1
    async with db.transaction(conn, {}):
        assert await chronograph.run_due(conn) == 0  # idempotent: nothing left to fire
    row = await conn.fetchrow("SELECT status, next_due_at FROM tenders WHERE id = $1",
                              tender["id"])
    # no bid came: at the deadline its one lot fails (S5), and so does the tender
    assert row["status"] == "failed" and row["next_due_at"] is None
    actions = await conn.fetch("SELECT action FROM audit_log WHERE object_id = $1 ORDER BY id",
                               tender["id"])
    assert [a["action"] for a in actions][-3:] == ["tender.documents_closed",
                                                   "tender.deadline_reached", "tender.failed"]


async def test_public_list_shows_published_only(client: Client, tenderer: Tenderer) -> None:
    await tenderer.draft("T-PUB-2", title="草稿项目")
    a = await tenderer.published("T-PUB-1", title="已发布项目")
    assert a["status"] == "published"
    again = await tenderer.publish(a["id"])
    assert again.status_code == 409
    client.cookies.clear()
    listing = (await client.get("/api/tenders/", params={"q": "T-PUB"})).json()
    assert [t["code"] for t in listing["items"]] == ["T-PUB-1"]
    assert listing["total"] == 1
    page = await client.get("/")
    assert page.status_code == 200 and "已发布项目" in page.text and "草稿项目" not in page.text


async def test_public_list_filters_by_procedure_region_and_publication_day(
        client: Client, conn: asyncpg.Connection, tenderer: Tenderer) -> None:
    a = await tenderer.published("T-FLT-1", title="公开招标项目", region="四川省雅安市")
    b = await tenderer.published("T-FLT-2", title="邀请招标项目", region="四川省成都市",
                                 procedure="invited")
    # a was published on 1 May, Shanghai time, at 00:30 (16:30 UTC the day before)
    await conn.execute("UPDATE tenders SET published_at = '2026-05-01 00:30+08' WHERE id = $1",
                       a["id"])
    await conn.execute("UPDATE tenders SET published_at = '2026-05-02 23:59+08' WHERE id = $1",
                       b["id"])
    client.cookies.clear()

    async def codes(**params: str) -> list[str]:
        r = await client.get("/api/tenders/", params={"q": "T-FLT", **params})
        assert r.status_code == 200, r.text
        return [t["code"] for t in r.json()["items"]]

    assert await codes() == ["T-FLT-2", "T-FLT-1"]
    assert await codes(procedure="invited") == ["T-FLT-2"]
    assert await codes(procedure="open") == ["T-FLT-1"]
    assert await codes(region="四川省雅安市") == ["T-FLT-1"]
    assert await codes(published_from="2026-05-01", published_to="2026-05-01") == ["T-FLT-1"]
    assert await codes(published_from="2026-05-02") == ["T-FLT-2"]
    assert await codes(published_to="2026-04-30") == []
    assert await codes(published_from="2026-05-03") == []
    regions = await service.public_regions(conn)
    assert {"四川省雅安市", "四川省成都市"} <= set(regions)


async def test_officer_counts_out_of_range_get_a_named_error(tenderer: Tenderer) -> None:
    r = await tenderer.client.post("/api/tenders/", json=tender_body(
        "T-KN-1", officers_n=3, officers_k=4,
        officer_ids=[str(u) for u, _ in tenderer.officers]))
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["detail"] == {"field": "officers_k"}
    assert "officers_k" in body["message_en"] and "门限" in body["message"]
