"""The hall's live stream across two API processes: delivered through Redis, resumed by
Last-Event-ID with nothing lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from signing import login as login_service
from tests.conftest import PASSWORD, SYSTEM, committed, run_cli
from tests.e2e import bid_world, servers
from tests.trading.bidding import bid_zip, seal, submit


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Server-Sent Events parsed from a response's lines (comments skipped)."""
    event: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


async def take(events: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(20):
        async for event in events:
            out.append(event)
            if len(out) == count:
                return out
    raise AssertionError(f"the stream ended after {len(out)} events")


async def say(host: httpx.AsyncClient, lot_id: str, text: str) -> int:
    r = await host.post(f"/api/lots/{lot_id}/hall/messages", json={"text": text})
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    return seq


async def test_two_processes_one_hall_and_a_resumed_stream(settings: Settings,
                                                           tmp_path: Path) -> None:
    a, b = servers.start(settings), servers.start(settings)
    try:
        world = await bid_world.build(settings, a.url, tmp_path, bidders=1)
        lot_id = world.tender["lots"][0]["id"]
        async with httpx.AsyncClient(base_url=b.url, timeout=30) as host, \
                httpx.AsyncClient(base_url=a.url, timeout=30) as watcher:
            r = await host.post("/api/auth/login", json={"login": world.staff,
                                                         "password": PASSWORD})
            assert r.status_code == 200, r.text
            # the public watches on process A; the host speaks on process B
            async with watcher.stream("GET", f"/api/lots/{lot_id}/hall/stream") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = sse_events(response.aiter_lines())
                await asyncio.sleep(0.5)  # subscribed (a later publish would be read back too)
                first = await say(host, lot_id, "开标大厅已开放")
                second = await say(host, lot_id, "请各投标人签到")
                got = await take(events, 2)
            assert [int(e["id"]) for e in got] == [first, second] == [1, 2]
            assert got[0]["event"] == "hall.message"
            assert json.loads(got[1]["data"])["data"]["text"] == "请各投标人签到"

            # gone for a while: two messages it did not see
            missed = [await say(host, lot_id, f"第{i}条") for i in (3, 4)]
            async with watcher.stream("GET", f"/api/lots/{lot_id}/hall/stream",
                                      headers={"Last-Event-ID": "2"}) as response:
                events = sse_events(response.aiter_lines())
                replayed = await take(events, 2)
                live = await say(host, lot_id, "继续")
                (after,) = await take(events, 1)
            assert [int(e["id"]) for e in replayed] == missed == [3, 4]
            assert int(after["id"]) == live == 5
            assert json.loads(after["data"])["data"]["text"] == "继续"
    finally:
        a.stop()
        b.stop()


async def test_the_tool_signs_in_opens_and_hands_over_a_share(settings: Settings,
                                                             tmp_path: Path) -> None:
    """``tenderhall hall signin``, ``bid open`` and ``hall share`` from the users' machines."""
    server = servers.start(settings)
    try:
        world = await bid_world.build(settings, server.url, tmp_path, bidders=3)
        lot_id = world.tender["lots"][0]["id"]
        sealed = []
        for live in world.bidders:
            b = live.bidder
            p7m = seal(bid_zip(world.tender, b), b, [b.enc.cert, world.opening])
            async with live.client(server.url) as http:
                r = await submit(http, world.tender, b, p7m)
                assert r.status_code == 201, r.text
            path = tmp_path / f"{b.login}.p7m"
            path.write_bytes(p7m)
            sealed.append((live, path, r.json()))
        first, p7m_path, bid = sealed[0]
        enc_p12, login_p12 = tmp_path / "enc.p12", tmp_path / "login.p12"
        enc_p12.write_bytes(first.bidder.enc.pkcs12(b"pw"))
        login = world.ca.issue(cn="签到经办人", org=first.bidder.name,
                               credit_code=first.bidder.credit_code, purpose="login")
        login_p12.write_bytes(login.pkcs12(b"pw"))
        conn = await committed(settings.database.url)
        try:
            user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1",
                                          first.bidder.login)
            await login_service.bind_certificate(conn, SYSTEM, user_id=user_id,
                                                 certificate=login.cert_pem(), purpose="login")
        finally:
            await conn.close()
        env = {"TENDERHALL_API_KEY": first.api_key, "P12_PASSWORD": "pw",
               "TENDERHALL_URL": server.url}

        r = run_cli("hall", "signin", lot_id, "--login-p12", str(login_p12), env=env)
        assert r.returncode == 0 and "signed in as bidder" in r.stdout, r.stdout + r.stderr
        r = run_cli("bid", "open", bid["id"], "--p7m", str(p7m_path), "--p12", str(enc_p12),
                    env=env)
        assert r.returncode != 0 and "opening_not_started" in r.stdout + r.stderr, r.stdout
        await bid_world.set_deadline(settings, world.tender["id"],
                                     await bid_world.db_now(settings) - timedelta(seconds=2))
        r = run_cli("bid", "open", bid["id"], "--p7m", str(p7m_path), "--p12", str(enc_p12),
                    env=env)
        assert r.returncode == 0 and "total price 980000.00 yuan" in r.stdout, r.stdout + r.stderr
        # a bidder holds no share: the tool says so with the platform's code
        r = run_cli("hall", "share", lot_id, "--p12", str(enc_p12), env=env)
        assert r.returncode != 0 and "not_opening_officer" in r.stdout + r.stderr, r.stdout
        state = httpx.get(f"{server.url}/api/lots/{lot_id}/hall").json()
        assert [b["status"] for b in state["bids"]].count("opened") == 1
        assert state["signins"]["people"][0]["role"] == "bidder"
    finally:
        server.stop()
