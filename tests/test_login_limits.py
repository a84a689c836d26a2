"""Password guessing is limited (per account, per address) and API keys are listed,
revoked and expire, each step audited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from litestar import Litestar

from tests.conftest import PASSWORD, Client, World, login


async def wrong(client: Client, name: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"login": name, "password": "wrong-one"})


@pytest.fixture
async def elsewhere(app: Litestar, conn: asyncpg.Connection) -> AsyncIterator[Client]:
    """A client at an address of its own (the shared client is 127.0.0.1)."""
    transport = httpx.ASGITransport(app=app, client=("192.0.2.44", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_wrong_passwords_lock_the_account_for_a_while(
        client: Client, conn: asyncpg.Connection, world: World, app: Litestar) -> None:
    limits = app.state.settings.login
    name = await world.user("bidder", await world.org())
    other = await world.user("bidder", await world.org())
    for _ in range(limits.max_failures):
        assert (await wrong(client, name)).json()["code"] == "bad_credentials"
    # locked: refused before any password is checked, the right one included
    for password in ("wrong-again", PASSWORD):
        r = await client.post("/api/auth/login", json={"login": name, "password": password})
        assert r.status_code == 429 and r.json()["code"] == "login_locked", r.text
        assert r.json()["detail"]["scope"] == "account"
        assert 0 < int(r.headers["retry-after"]) <= limits.lock_minutes * 60
    # the same name in other spellings is the same account
    r = await client.post("/api/auth/login", json={"login": f" {name.upper()} ",
                                                   "password": PASSWORD})
    assert r.status_code == 429
    # the form says so too, and nobody else is locked out
    r = await client.post("/login", data={"login": name, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/login?error=locked"
    assert (await login(client, other))["login"] == other
    # the lockout is audited once, although its request was refused
    rows = await conn.fetch("SELECT object_type, object_id, client_ip FROM audit_log "
                            "WHERE action = 'session.lockout'")
    assert [(r["object_type"], r["object_id"], str(r["client_ip"])) for r in rows] == [
        ("login", name, "127.0.0.1")]


async def test_a_right_password_clears_the_count(client: Client, world: World,
                                                 app: Litestar) -> None:
    name = await world.user("expert")
    for _ in range(2):
        for _ in range(app.state.settings.login.max_failures - 1):
            assert (await wrong(client, name)).status_code == 401
        await login(client, name)


async def test_guessing_across_accounts_locks_the_address(
        elsewhere: Client, client: Client, conn: asyncpg.Connection, world: World,
        app: Litestar) -> None:
    limits = app.state.settings.login
    for n in range(limits.address_max_failures):
        assert (await wrong(elsewhere, f"guess{n}")).status_code == 401
    name = await world.user("expert")
    r = await elsewhere.post("/api/auth/login", json={"login": name, "password": PASSWORD})
    assert r.status_code == 429 and r.json()["detail"]["scope"] == "address"
    assert "retry-after" in r.headers
    # from another address the same person signs in
    assert (await login(client, name))["login"] == name
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'session.lockout' "
                               "AND object_type = 'address' AND object_id = '192.0.2.44'") == 1


async def test_api_keys_are_listed_revoked_and_audited(
        client: Client, conn: asyncpg.Connection, world: World) -> None:
    name = await world.user("insurer", await world.org("insurer"))
    await login(client, name)
    made = [(await client.post("/api/auth/api-keys", json={"name": n})).json()
            for n in ("保函接口", "对账")]
    listed = (await client.get("/api/auth/api-keys")).json()
    assert sorted(k["name"] for k in listed) == sorted(["对账", "保函接口"])
    assert all(set(k) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at",
                          "revoked_at"} for k in listed)
    assert not any(m["key"].split("_", 2)[2] in str(listed) for m in made)  # the secret
    # someone else neither sees nor revokes them
    await login(client, await world.user("insurer", await world.org("insurer")))
    assert (await client.get("/api/auth/api-keys")).json() == []
    assert (await client.delete(f"/api/auth/api-keys/{made[0]['id']}")).status_code == 404
    await login(client, name)
    r = await client.delete(f"/api/auth/api-keys/{made[0]['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await client.delete(f"/api/auth/api-keys/{made[0]['id']}")).json() == r.json()
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {made[0]['key']}"}
    r = await client.get("/api/auth/me", headers=bearer)
    assert r.status_code == 401 and r.json()["detail"]["reason"] == "invalid_api_key"
    # the other key still works, and cannot make keys of its own
    bearer = {"Authorization": f"Bearer {made[1]['key']}"}
    assert (await client.get("/api/auth/me", headers=bearer)).status_code == 200
    r = await client.post("/api/auth/api-keys", json={"name": "再来一把"}, headers=bearer)
    assert r.status_code == 403 and r.json()["detail"]["reason"] == "session_required"
    # this test's keys only: other tests' servers commit keys of their own
    actions = [(r["action"], r["object_id"]) for r in await conn.fetch(
        "SELECT action, object_id FROM audit_log WHERE object_type = 'api_key' "
        "AND object_id = ANY($1::text[]) ORDER BY id", [m["id"] for m in made])]
    assert actions == [("api_key.create", made[0]["id"]), ("api_key.create", made[1]["id"]),
                       ("api_key.revoke", made[0]["id"])]


async def test_api_keys_expire_within_the_maximum(
        client: Client, conn: asyncpg.Connection, world: World, app: Litestar) -> None:
    limits = app.state.settings.login
    name = await world.user("insurer", await world.org("insurer"))
    await login(client, name)
    r = await client.post("/api/auth/api-keys",
                          json={"name": "太久", "days": limits.api_key_max_days + 1})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "days"
    default = (await client.post("/api/auth/api-keys", json={"name": "默认"})).json()
    short = (await client.post("/api/auth/api-keys", json={"name": "一天", "days": 1})).json()
    lives = await conn.fetch("SELECT name, expires_at - created_at AS life FROM api_keys "
                             "WHERE id = ANY($1::uuid[])", [default["id"], short["id"]])
    assert {r["name"]: r["life"].days for r in lives} == {"默认": limits.api_key_days,
                                                         "一天": 1}
    # a day later the short one is refused, and the attempt is audited
    await conn.execute("UPDATE api_keys SET created_at = created_at - interval '2 days', "
                       "expires_at = expires_at - interval '2 days' WHERE id = $1", short["id"])
    client.cookies.clear()
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {short['key']}"})
    assert r.status_code == 401 and r.json()["detail"]["reason"] == "api_key_expired"
    row = await conn.fetchrow("SELECT actor_id, object_id FROM audit_log "
                              "WHERE action = 'api_key.expired_use'")
    assert row is not None and row["object_id"] == short["id"]
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {default['key']}"})
    assert r.status_code == 200
