"""The notifications inbox: only one's own, unread filter and counts, read receipts set once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from core import notify
from tests.conftest import Client, World, login


async def _user_id(conn: asyncpg.Connection, login_name: str) -> UUID:
    user_id: UUID = await conn.fetchval("SELECT id FROM users WHERE login = $1", login_name)
    return user_id


async def _note(conn: asyncpg.Connection, user_id: UUID, subject: str, *, minutes_ago: int,
                read_at: datetime | None = None) -> int:
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    note_id: int = await conn.fetchval(
        """INSERT INTO notifications (user_id, subject, subject_en, body, ref, created_at, read_at)
           VALUES ($1, $2, $3, '正文', 'tender:T-1', $4, $5) RETURNING id""",
        user_id, subject, f"{subject} (en)", created, read_at)
    return note_id


async def test_inbox_lists_only_mine_newest_first(client: Client, conn: asyncpg.Connection,
                                                  world: World) -> None:
    me = await world.user("bidder", await world.org())
    other = await world.user("bidder", await world.org())
    mine, theirs = await _user_id(conn, me), await _user_id(conn, other)
    await _note(conn, mine, "旧通知", minutes_ago=30)
    await _note(conn, mine, "新通知", minutes_ago=1)
    await _note(conn, mine, "中间", minutes_ago=10, read_at=datetime.now(UTC))
    await _note(conn, theirs, "别人的", minutes_ago=0)

    await login(client, me)
    r = await client.get("/api/notifications")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [n["subject"] for n in body["items"]] == ["新通知", "中间", "旧通知"]
    assert body["total"] == 3 and body["unread"] == 2
    first = body["items"][0]
    assert first["subject_en"] == "新通知 (en)" and first["ref"] == "tender:T-1"
    assert first["read_at"] is None

    page = (await client.get("/api/notifications", params={"page": 2, "page_size": 2})).json()
    assert [n["subject"] for n in page["items"]] == ["旧通知"] and page["total"] == 3

    unread = (await client.get("/api/notifications", params={"unread": "true"})).json()
    assert [n["subject"] for n in unread["items"]] == ["新通知", "旧通知"]
    assert unread["total"] == 2 and unread["unread"] == 2


async def test_inbox_needs_sign_in_and_sane_paging(client: Client, world: World) -> None:
    r = await client.get("/api/notifications")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    await login(client, await world.user("expert"))
    r = await client.get("/api/notifications", params={"page_size": 101})
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    r = await client.get("/api/notifications", params={"page": 0})
    assert r.status_code == 400


async def test_read_receipt_is_set_once(client: Client, conn: asyncpg.Connection,
                                        world: World) -> None:
    me = await world.user("expert")
    user_id = await _user_id(conn, me)
    fresh = await _note(conn, user_id, "澄清文件", minutes_ago=5)
    earlier = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    seen = await _note(conn, user_id, "答疑纪要", minutes_ago=60, read_at=earlier)
    await login(client, me)

    r = await client.post(f"/api/notifications/{fresh}/read")
    assert r.status_code == 200, r.text
    first_read = r.json()["read_at"]
    assert first_read is not None
    stored = await conn.fetchval("SELECT read_at FROM notifications WHERE id = $1", fresh)
    assert stored == datetime.fromisoformat(first_read)

    again = await client.post(f"/api/notifications/{fresh}/read")
    assert again.status_code == 200 and again.json()["read_at"] == first_read
    # a receipt from earlier stays what it was
    r = await client.post(f"/api/notifications/{seen}/read")
    assert datetime.fromisoformat(r.json()["read_at"]) == earlier
    assert await conn.fetchval("SELECT read_at FROM notifications WHERE id = $1", seen) == earlier
    assert (await client.get("/api/notifications")).json()["unread"] == 0


async def test_someone_elses_notification_is_not_found(client: Client, conn: asyncpg.Connection,
                                                       world: World) -> None:
    owner = await world.user("bidder", await world.org())
    note = await _note(conn, await _user_id(conn, owner), "中标通知", minutes_ago=1)
    await login(client, await world.user("bidder", await world.org()))
    r = await client.post(f"/api/notifications/{note}/read")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert await conn.fetchval("SELECT read_at FROM notifications WHERE id = $1", note) is None
    missing = await client.post("/api/notifications/999999999/read")
    assert missing.status_code == 404 and missing.json() == r.json() | {
        "detail": {"notification_id": 999999999}}


async def test_read_all_marks_only_mine(client: Client, conn: asyncpg.Connection,
                                        world: World) -> None:
    me = await world.user("tenderer", await world.org("tenderer"))
    other = await world.user("tenderer", await world.org("tenderer"))
    mine, theirs = await _user_id(conn, me), await _user_id(conn, other)
    for i in range(3):
        await _note(conn, mine, f"通知{i}", minutes_ago=i)
    foreign = await _note(conn, theirs, "别人的", minutes_ago=0)
    await login(client, me)
    r = await client.post("/api/notifications/read-all")
    assert r.status_code == 200 and r.json() == {"marked": 3}
    assert (await client.post("/api/notifications/read-all")).json()["marked"] == 0
    assert (await client.get("/api/notifications", params={"unread": True})).json()["items"] == []
    assert await conn.fetchval("SELECT read_at FROM notifications WHERE id = $1", foreign) is None


async def test_delivered_notification_reaches_the_inbox(client: Client, conn: asyncpg.Connection,
                                                        world: World) -> None:
    """``notify`` and its job put the row where the inbox reads it."""
    me = await world.user("expert")
    user_id = await _user_id(conn, me)
    outbox_id = await notify.notify(conn, key="inbox-test", user_id=user_id, subject="评标通知",
                             subject_en="Evaluation notice", body="请按时参加", ref="lot:1")
    assert outbox_id is not None

    class Borrowed:
        """A pool that hands out the test's own connection, so the job runs in its transaction."""

        def acquire(self) -> Borrowed:
            return self

        async def __aenter__(self) -> asyncpg.Connection:
            return conn

        async def __aexit__(self, *exc: object) -> None:
            return None

    await notify.deliver_notification({"db_pool": Borrowed()}, outbox_id)
    await login(client, me)
    items = (await client.get("/api/notifications")).json()["items"]
    assert [(n["subject"], n["subject_en"], n["body"], n["ref"]) for n in items] == [
        ("评标通知", "Evaluation notice", "请按时参加", "lot:1")]
