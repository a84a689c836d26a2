"""Sealed bids against real server processes: the deadline race, crashes, the bidder tool.

Data is committed (the servers are other processes); each test has its own
tender, CA and bidders, and retires its CA at the end.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from bidformat import price
from client import platform as client
from core.settings import Settings
from tests.conftest import committed, run_cli
from tests.e2e import bid_world, servers
from tests.trading.bidding import MIB, b64, bid_zip, seal, upload

RACERS = 200
EARLY = 20  # of them, finalizing well before the deadline


async def _count(settings: Settings, sql: str, *args: Any) -> Any:
    conn = await committed(settings.database.url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_finalizes_racing_the_deadline(settings: Settings, tmp_path: Path) -> None:
    """200 bidders finalize around the deadline: in before it with a receipt, or refused after."""
    server = servers.start(settings, DATABASE_POOL_MAX="20")
    world = await bid_world.build(settings, server.url, tmp_path, bidders=RACERS)
    try:
        gate = asyncio.Semaphore(20)

        async def prepare(live: bid_world.LiveBidder) -> tuple[bid_world.LiveBidder, str, bytes]:
            b = live.bidder
            p7m = seal(bid_zip(world.tender, b), b, [b.enc.cert, world.opening])
            async with gate, live.client(server.url) as http:
                up = await upload(http, world.tender, p7m)
            return live, up["id"], b.sign(p7m)

        prepared = await asyncio.gather(*(prepare(x) for x in world.bidders))
        # a client (its own connection) per bidder, made before the clock starts
        clients = [live.client(server.url) for live, _, _ in prepared]
        for http in clients:
            assert (await http.get("/healthz")).status_code == 200
        # the deadline 9 s from now by the database clock; finalizes from 3 s before it to
        # 2 s after, and a few from 8 s before: a busy machine delays the first ones (each
        # completes and reads back its object before the clock is read), and a parallel run
        # makes any machine busy; some must still get in
        deadline = await bid_world.db_now(settings) + timedelta(seconds=9)
        await bid_world.set_deadline(settings, world.tender["id"], deadline)
        offset = (await bid_world.db_now(settings)).timestamp() - time.time()
        racing = RACERS - EARLY
        spread = ([deadline.timestamp() - 8 + 5 * i / EARLY for i in range(EARLY)]
                  + [deadline.timestamp() - 3 + 5 * i / racing for i in range(racing)])

        async def fire(http: httpx.AsyncClient, item: tuple[bid_world.LiveBidder, str, bytes],
                       at: float) -> tuple[int, dict[str, Any]]:
            _, upload_id, signature = item
            await asyncio.sleep(max(0.0, at - offset - time.time()))
            r = await http.post(f"/api/bid-uploads/{upload_id}/finalize",
                                json={"signature": b64(signature)})
            return r.status_code, r.json()

        try:
            results = await asyncio.gather(*(fire(h, p, at) for h, p, at in zip(
                clients, prepared, spread, strict=True)))
        finally:
            for http in clients:
                await http.aclose()
        accepted = [body for status, body in results if status == 201]
        refused = [body for status, body in results if status != 201]
        assert accepted and refused, ("the race must cross the deadline", refused[:2])
        for body in accepted:
            assert datetime.fromisoformat(body["received_at"]) < deadline
        for body in refused:
            assert body["code"] == "bid_deadline_passed", body
            assert datetime.fromisoformat(body["detail"]["now"]) >= deadline
        # none lost, none doubled: exactly the accepted ones are stored, once each
        stored = await _count(settings, "SELECT count(*) FROM bids WHERE tender_id = $1",
                              world.tender["id"])
        orgs = await _count(settings, "SELECT count(DISTINCT organization_id) FROM bids "
                            "WHERE tender_id = $1", world.tender["id"])
        assert stored == orgs == len(accepted) == len({b["id"] for b in accepted})
        assert len(accepted) + len(refused) == RACERS
    finally:
        server.stop()
        await bid_world.retire(settings, world)


@pytest.mark.parametrize("point", ["bid.finalize.stored", "bid.finalize.recorded"])
async def test_a_finalize_killed_midway_leaves_all_or_nothing(
        settings: Settings, tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL inside finalize (after the S3 completion; after the insert, before commit)."""
    crashing = servers.start(settings, FAULT_POINTS=f"{point}=kill", FAULT_DIR=str(tmp_path))
    world = await bid_world.build(settings, crashing.url, tmp_path, bidders=1)
    try:
        live = world.bidders[0]
        b = live.bidder
        folder = tmp_path / "bid"
        folder.mkdir()
        p7m = seal(bid_zip(world.tender, b, padding=6 * MIB), b, [b.enc.cert, world.opening])
        (folder / "bid.p7m").write_bytes(p7m)
        (folder / "bid.p7m.p7s").write_bytes(b.sign(p7m))
        monkeypatch.setattr(client, "RETRIES", 1)
        async with live.client(crashing.url) as http:
            with pytest.raises(httpx.TransportError):
                await client.submit(http, tender_id=world.tender["id"], lot=1,
                                    p7m=folder / "bid.p7m", p7s=folder / "bid.p7m.p7s")
        crashing.proc.wait(timeout=10)
        assert crashing.killed() and (tmp_path / point).exists()
        crashing.stop()
        org = b.org_id
        assert await _count(settings, "SELECT count(*) FROM bids WHERE organization_id = $1",
                            org) == 0
        assert await _count(settings, "SELECT status FROM bid_uploads WHERE organization_id = $1",
                            org) == "open"

        restarted = servers.start(settings)
        try:
            async with live.client(restarted.url) as http:
                bid = await client.submit(http, tender_id=world.tender["id"], lot=1,
                                          p7m=folder / "bid.p7m", p7s=folder / "bid.p7m.p7s")
                again = await client.submit(http, tender_id=world.tender["id"], lot=1,
                                            p7m=folder / "bid.p7m", p7s=folder / "bid.p7m.p7s")
                assert again["id"] == bid["id"]
                receipt = await http.get(f"/api/bids/{bid['id']}/receipt.p7s")
                assert receipt.status_code == 200
        finally:
            restarted.stop()
        assert await _count(settings, "SELECT count(*) FROM bids WHERE organization_id = $1",
                            org) == 1
        assert await _count(settings, "SELECT count(*) FROM bid_uploads WHERE organization_id = $1",
                            org) == 1
    finally:
        await bid_world.retire(settings, world)


class CuttingProxy:
    """Forwards to the server, and cuts the first connection after ``cut_after`` bytes sent."""

    def __init__(self, upstream: str, cut_after: int) -> None:
        self.host, port = upstream.removeprefix("http://").split(":")
        self.port = int(port)
        self.cut_after = cut_after
        self.cuts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        armed = self.cuts == 0

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            sent = 0
            try:
                while data := await src.read(65536):
                    sent += len(data)
                    if count and armed and sent > self.cut_after:
                        self.cuts += 1
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (writer, up_writer):
                    w.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def live(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[servers.Server,
                                                                           bid_world.BidWorld]]:
    server = servers.start(settings)
    world = await bid_world.build(settings, server.url, tmp_path, bidders=1)
    yield server, world
    server.stop()
    await bid_world.retire(settings, world)


async def test_an_upload_resumes_after_a_broken_connection(
        live: tuple[servers.Server, bid_world.BidWorld], tmp_path: Path,
        settings: Settings) -> None:
    server, world = live
    b = world.bidders[0].bidder
    p7m = seal(bid_zip(world.tender, b, padding=12 * MIB), b, [b.enc.cert, world.opening])
    (tmp_path / "bid.p7m").write_bytes(p7m)
    (tmp_path / "bid.p7m.p7s").write_bytes(b.sign(p7m))
    proxy = CuttingProxy(server.url, cut_after=7 * MIB)  # in the middle of the second part
    url = await proxy.start()
    seen: list[int] = []
    try:
        async with world.bidders[0].client(url) as http:
            bid = await client.submit(http, tender_id=world.tender["id"], lot=1,
                                      p7m=tmp_path / "bid.p7m", p7s=tmp_path / "bid.p7m.p7s",
                                      on_progress=lambda done, _t: seen.append(done),
                                      part_size=5 * MIB)
    finally:
        await proxy.stop()
    assert proxy.cuts == 1
    assert bid["size"] == len(p7m)
    # the platform recorded each part once: the cut part was sent again, not the first one
    parts = await _count(settings, "SELECT cardinality(part_etags) FROM bid_uploads "
                         "WHERE organization_id = $1", b.org_id)
    assert parts == 3
    assert max(seen) == len(p7m) and 5 * MIB in seen


async def test_the_bidder_tool_end_to_end(live: tuple[servers.Server, bid_world.BidWorld],
                                          tmp_path: Path) -> None:
    """seal -> submit -> status -> decrypt (own key) -> withdraw, as a bidder runs them."""
    server, world = live
    live_bidder = world.bidders[0]
    b = live_bidder.bidder
    password = secrets.token_urlsafe(8)
    sign_p12 = tmp_path / "signing.p12"
    sign_p12.write_bytes(b.signer.pkcs12(password.encode(), "signing"))
    enc_p12 = tmp_path / "encryption.p12"
    enc_p12.write_bytes(b.enc.pkcs12(password.encode(), "encryption"))
    (tmp_path / "encryption.crt.pem").write_bytes(b.enc.cert_pem())
    folder = tmp_path / "投标文件"
    folder.mkdir()
    sheet = price.example(world.tender["code"], 1, b.name, b.credit_code, "1234567.80")
    (folder / "price.json").write_bytes(price.dump(sheet))
    (folder / "商务标.pdf").write_bytes(b"%PDF-1.7 commercial part " * 1000)
    env = {"TENDERHALL_API_KEY": live_bidder.api_key, "P12_PASSWORD": password,
           "TENDERHALL_URL": server.url}
    out = tmp_path / "sealed"

    r = run_cli("bid", "seal", str(folder), "--tender", world.tender["id"], "--lot", "1",
                "--p12", str(sign_p12), "--encryption-cert", str(tmp_path / "encryption.crt.pem"),
                "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert (out / "bid.p7m").exists() and (out / "bid.p7m.p7s").exists()
    creator = json.loads((out / "device.json").read_text())["creator"]
    assert creator["tool"] == "tenderhall" and len(creator["machine_code"]) == 16

    r = run_cli("bid", "submit", str(out), "--tender", world.tender["id"], "--lot", "1", env=env)
    assert r.returncode == 0, r.stderr
    receipt = json.loads((out / "receipt" / "receipt.json").read_text())
    assert receipt["bidder"]["credit_code"] == b.credit_code

    r = run_cli("bid", "status", "--tender", world.tender["id"], env=env)
    assert r.returncode == 0 and "submitted" in r.stdout, r.stderr

    root = tmp_path / "root.pem"
    root.write_bytes(world.ca.root.public_bytes(Encoding.PEM))
    r = run_cli("bid", "decrypt", str(out / "bid.p7m"), "--p12", str(enc_p12), "--out",
                str(tmp_path / "opened"), "--roots", str(root), env=env)
    assert r.returncode == 0, r.stderr
    assert price.parse((tmp_path / "opened" / "price.json").read_bytes()) == sheet
    assert (tmp_path / "opened" / "商务标.pdf").read_bytes() == (folder / "商务标.pdf").read_bytes()
    r = run_cli("bid", "decrypt", str(out / "bid.p7m"), "--p12", str(enc_p12), "--key-only",
                env=env)
    assert r.returncode == 0 and len(r.stdout.strip()) == 44, r.stderr  # a 32-byte key, base64

    bid_id = receipt["bid"]
    r = run_cli("bid", "withdraw", bid_id, "--p12", str(sign_p12), env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("bid", "withdraw", bid_id, "--p12", str(sign_p12), env=env)
    assert r.returncode != 0 and "bid_not_current" in r.stderr
