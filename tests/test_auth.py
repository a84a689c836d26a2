"""Sign-in, sessions, API keys, roles and per-object authorization."""

from __future__ import annotations

import argon2
import asyncpg
import pytest
from argon2 import PasswordHasher, profiles

from core import auth
from tests.conftest import PASSWORD, Client, World, login


async def test_login_me_logout(client: Client, world: World) -> None:
    org = await world.org("bidder")
    name = await world.user("bidder", org)
    me = await login(client, name)
    assert me["login"] == name and me["roles"] == ["bidder"]
    assert "th_session" in client.cookies
    r = await client.get("/api/auth/me")
    assert r.status_code == 200 and r.json()["organization_id"] == str(org)
    assert (await client.post("/api/auth/logout")).status_code == 200
    client.cookies.clear()
    r = await client.get("/api/auth/me")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


async def test_logged_out_session_token_is_dead(client: Client, world: World) -> None:
    name = await world.user("admin")
    await login(client, name)
    token = client.cookies["th_session"]
    await client.post("/api/auth/logout")
    client.cookies.set("th_session", token)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_wrong_password_and_unknown_login_look_the_same(client: Client, world: World) -> None:
    name = await world.user("bidder", await world.org())
    a = await client.post("/api/auth/login", json={"login": name, "password": "nope-nope"})
    b = await client.post("/api/auth/login", json={"login": "nobody-here", "password": "x"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["code"] == "bad_credentials"


async def test_passwords_are_stored_as_argon2(conn: asyncpg.Connection, world: World) -> None:
    name = await world.user("expert")
    stored = await conn.fetchval("SELECT password_hash FROM users WHERE login = $1", name)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_the_platform_hashes_at_rfc_9106_cost(platform_hasher: PasswordHasher) -> None:
    """The suite's own process hashes cheaply (conftest); the platform's hasher, which its
    servers and commands use, keeps argon2id at RFC 9106's low-memory profile."""
    assert auth._hasher is not platform_hasher
    assert argon2.extract_parameters(platform_hasher.hash(PASSWORD)) == \
        profiles.RFC_9106_LOW_MEMORY


async def test_session_token_is_not_stored(client: Client, conn: asyncpg.Connection,
                                           world: World) -> None:
    name = await world.user("expert")
    await login(client, name)
    token = client.cookies["th_session"]
    digests = [bytes(r["token_digest"]) for r in await conn.fetch("SELECT token_digest FROM sessions")]
    assert digests and all(token.encode() not in d for d in digests)


async def test_api_key_for_machine_clients(client: Client, world: World) -> None:
    org = await world.org("insurer")
    name = await world.user("insurer", org)
    await login(client, name)
    r = await client.post("/api/auth/api-keys", json={"name": "保函接口"})
    assert r.status_code == 201
    key = r.json()["key"]
    client.cookies.clear()
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["login"] == name
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}x"})
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    r = await client.get("/api/auth/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401


async def test_bidder_cannot_read_another_organizations_objects(client: Client, world: World) -> None:
    mine, theirs = await world.org("bidder"), await world.org("bidder")
    tenderer = await world.org("tenderer")
    bidder = await world.user("bidder", mine)
    owner = await world.user("tenderer", tenderer)

    await login(client, owner)
    r = await client.post("/api/tenders/", json={"code": "T-AUTHZ-01", "title": "草稿项目"})
    assert r.status_code == 201
    draft_id = r.json()["id"]

    await login(client, bidder)
    assert (await client.get(f"/api/organizations/{mine}")).status_code == 200
    for path in (f"/api/organizations/{theirs}", f"/api/organizations/{theirs}/members",
                 f"/api/organizations/{tenderer}", f"/api/tenders/{draft_id}"):
        r = await client.get(path)
        assert r.status_code == 404, path
        body = r.json()
        assert body["code"] == "not_found"
        assert "credit_code" not in str(body) and "草稿项目" not in str(body)
    # the draft cannot be published by someone else either
    r = await client.post(f"/api/tenders/{draft_id}/publish", json={"signature": "A" * 64})
    assert r.status_code in (403, 404)

    # anonymous callers see no draft
    client.cookies.clear()
    assert (await client.get(f"/api/tenders/{draft_id}")).status_code == 404


async def test_roles_are_checked_per_route(client: Client, world: World) -> None:
    bidder = await world.user("bidder", await world.org())
    await login(client, bidder)
    r = await client.post("/api/organizations", json={
        "credit_code": "91350100M000100Y43", "name": "x", "kind": "bidder"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post("/api/tenders/", json={"code": "T-ROLE-01", "title": "投标人不能建项目"})
    assert r.status_code == 403


async def test_admin_registers_organization_with_checked_code(client: Client, world: World) -> None:
    await login(client, await world.user("admin"))
    r = await client.post("/api/organizations", json={
        "credit_code": "91350100M000100Y44", "name": "校验码错误公司", "kind": "bidder"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_credit_code" and body["detail"]["position"] == 18
    assert "第 18 位" in body["message"]
    r = await client.post("/api/organizations", json={
        "credit_code": "91350100m000100y43", "name": "示例公司", "kind": "bidder"})
    assert r.status_code == 201 and r.json()["credit_code"] == "91350100M000100Y43"
    r = await client.post("/api/organizations", json={
        "credit_code": "91350100M000100Y43", "name": "重复", "kind": "bidder"})
    assert r.status_code == 409 and r.json()["code"] == "conflict"


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
])
async def test_cross_site_form_posts_are_refused(client: Client, world: World,
                                                 headers: dict[str, str]) -> None:
    name = await world.user("bidder", await world.org())
    r = await client.post("/login", data={"login": name, "password": PASSWORD},
                          headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "cross_site_request"
    assert "th_session" not in client.cookies
    same = await client.post("/login", data={"login": name, "password": PASSWORD},
                             headers={"Origin": "http://testserver",
                                      "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303 and "th_session" in client.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example",
                                    "/%09/evil.example"])
async def test_login_never_redirects_off_site(client: Client, world: World, target: str) -> None:
    name = await world.user("bidder", await world.org())
    r = await client.post("/login", data={"login": name, "password": PASSWORD, "next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_only_tender_staff_see_and_publish_drafts(client: Client, world: World) -> None:
    tenderer = await world.org("tenderer")
    owner = await world.user("tenderer", tenderer)
    colleague_expert = await world.user("expert", tenderer)  # same organization, other role
    await login(client, owner)
    draft = (await client.post("/api/tenders/", json={"code": "T-ROLE-02", "title": "草稿"})).json()
    await login(client, colleague_expert)
    assert (await client.get(f"/api/tenders/{draft['id']}")).status_code == 404
    assert (await client.post(f"/api/tenders/{draft['id']}/publish",
                              json={"signature": "A" * 64})).status_code == 404


async def test_agency_must_be_an_agency(client: Client, world: World) -> None:
    competitor = await world.org("bidder")
    await login(client, await world.user("tenderer", await world.org("tenderer")))
    r = await client.post("/api/tenders/", json={"code": "T-AGENCY-1", "title": "x",
                                                 "agency_org_id": str(competitor)})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "agency_org_id"
    agency = await world.org("agency")
    r = await client.post("/api/tenders/", json={"code": "T-AGENCY-2", "title": "x",
                                                 "agency_org_id": str(agency)})
    assert r.status_code == 201
