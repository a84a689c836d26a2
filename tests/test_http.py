"""Errors, operations endpoints and request ids over HTTP."""

from __future__ import annotations

import socket
from dataclasses import replace

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from app import close_resources, create_app, open_resources
from core.settings import Settings
from tests.conftest import Client, World, login

SHAPE = {"code", "message", "message_en", "detail"}


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("get", "/api/nowhere", {}, 404, "not_found"),
    ("delete", "/api/tenders/", {}, 405, "method_not_allowed"),
    ("get", "/api/tenders/not-a-uuid", {}, 404, "not_found"),
    ("get", "/api/tenders/?page=0", {}, 400, "validation_error"),
    ("get", "/api/tenders/?page_size=1000", {}, 400, "validation_error"),
    ("get", "/api/tenders/?status=bogus", {}, 400, "invalid_input"),
    ("get", "/api/tenders/?procedure=auction", {}, 400, "invalid_input"),
    ("get", "/api/tenders/?published_from=2026-13-01", {}, 400, "validation_error"),
    ("get", "/api/tenders/?published_from=2026-05-02&published_to=2026-05-01", {}, 400,
     "invalid_input"),
    ("post", "/api/auth/login", {"content": b"{not json"}, 400, "malformed_request"),
    ("post", "/api/auth/login", {"json": {"login": "a"}}, 400, "validation_error"),
    ("post", "/api/auth/login", {"json": {"login": "a", "password": "b", "x": 1}}, 400,
     "validation_error"),
    ("post", "/api/auth/login", {"json": ["a", "b"]}, 400, "validation_error"),
    ("get", "/api/auth/me", {}, 401, "not_authenticated"),
    ("get", "/api/tenders/?q=%00", {}, 400, "invalid_input"),
    ("post", "/api/auth/login", {"json": {"login": "a\u0000", "password": "x"}}, 400,
     "invalid_input"),
    ("post", "/api/organizations", {"json": {}}, 401, "not_authenticated"),
])
async def test_bad_input_gets_a_stable_4xx(client: Client, method: str, path: str,
                                           kwargs: dict[str, object], status: int,
                                           code: str) -> None:
    r = await getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == SHAPE
    assert body["code"] == code
    assert body["message"] and body["message_en"]


@pytest.mark.parametrize("payload", [
    {"code": "bad code!", "title": "x"},
    {"code": "T-OK-1", "title": ""},
    {"code": "T-OK-2", "title": "x", "budget": "-5"},
    {"code": "T-OK-3", "title": "x", "budget": "abc"},
    {"code": "T-OK-7", "title": "x", "budget": "100.001"},
    {"code": "T-OK-8", "title": "x", "budget": "1e20"},
    {"code": "T-OK-4", "title": "x", "procedure": "auction"},
    {"code": "T-OK-5", "title": "x", "agency_org_id": "not-a-uuid"},
    {"code": "T-OK-6", "title": "x" * 301},
])
async def test_invalid_tender_is_refused_and_nothing_stored(
        client: Client, conn: asyncpg.Connection, world: World, payload: dict[str, str]) -> None:
    await login(client, await world.user("tenderer", await world.org("tenderer")))
    before = await conn.fetchval("SELECT count(*) FROM tenders")
    r = await client.post("/api/tenders/", json=payload)
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == SHAPE
    assert await conn.fetchval("SELECT count(*) FROM tenders") == before


async def test_unknown_agency_is_a_4xx_not_a_500(client: Client, world: World) -> None:
    await login(client, await world.user("tenderer", await world.org("tenderer")))
    r = await client.post("/api/tenders/", json={
        "code": "T-FK-1", "title": "x", "agency_org_id": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"


async def test_money_is_decimal_end_to_end(client: Client, conn: asyncpg.Connection,
                                           world: World) -> None:
    await login(client, await world.user("tenderer", await world.org("tenderer")))
    r = await client.post("/api/tenders/", json={"code": "T-MONEY-1", "title": "金额",
                                                 "budget": "12345678.91"})
    assert r.status_code == 201
    assert r.json()["budget"] == "12345678.91"
    stored = await conn.fetchval("SELECT budget::text FROM tenders WHERE code = 'T-MONEY-1'")
    assert stored == "12345678.91"


async def test_healthz_checks_every_service(client: Client) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    assert set(body["services"]) == {"postgresql", "redis", "s3"}
    assert all(s["ok"] for s in body["services"].values())


async def test_openapi_schema(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Tenderhall API"
    assert "/api/tenders" in spec["paths"] or "/api/tenders/" in spec["paths"]


async def test_request_id_is_echoed_logged_and_audited(client: Client, conn: asyncpg.Connection,
                                                       world: World) -> None:
    name = await world.user("admin")
    with capture_logs() as logs:
        r = await client.post("/api/auth/login", json={"login": name, "password": "correct horse battery"},
                              headers={"X-Request-ID": "req-abc-123"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "req-abc-123"
    access = [e for e in logs if e.get("event") == "request"]
    assert access and access[-1]["status"] == 200 and access[-1]["path"] == "/api/auth/login"
    row = await conn.fetchrow("SELECT request_id, client_ip FROM audit_log "
                              "WHERE action = 'session.login' ORDER BY id DESC LIMIT 1")
    assert row["request_id"] == "req-abc-123"
    assert str(row["client_ip"]) == "127.0.0.1"
    # a hostile request id is replaced by a generated one
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\n<script>"})
    assert r.headers["x-request-id"] != "bad id\n<script>"
    assert len(r.headers["x-request-id"]) == 16


async def test_healthz_names_the_service_that_is_down(settings: Settings) -> None:
    """Redis unreachable: the app still starts, and /healthz says which one is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    broken = replace(settings, redis=replace(settings.redis, url=f"redis://127.0.0.1:{dead_port}/0"))
    app = create_app(broken)
    await open_resources(app.state, broken)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            r = await http.get("/healthz")
        assert r.status_code == 503
        services = r.json()["services"]
        assert services["redis"]["ok"] is False and "Connection" in services["redis"]["error"]
        assert str(dead_port) not in r.text  # no addresses for anonymous callers
        assert services["postgresql"]["ok"] is True and services["s3"]["ok"] is True
    finally:
        await close_resources(app.state)
