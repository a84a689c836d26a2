"""Sealed-bid ingest against real server processes when what it depends on is slow or dies.

A slow OCSP responder must not hold the database pool; a server process killed
mid-part must not hold the bidder's upload for long. Data is committed (the servers
are other processes); each test has its own tender, CA and bidders.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from asn1crypto import ocsp as asn1_ocsp

from core.settings import Settings
from signing.ca import DevCA
from tests.conftest import committed
from tests.e2e import bid_world, servers
from tests.trading.bidding import MIB, b64, bid_zip, seal, upload
from trading.bids import uploads

RACERS = 20
OCSP_DELAY = 5.0  # the responder's answer comes this long after the request, at the soonest
POOL = 4  # the server's database pool: far fewer connections than finalizes in flight


class SlowResponder:
    """A real OCSP responder for the test's CA that answers ``delay`` seconds after each
    request at the soonest, and not before the test has released it.

    The status line and headers go out at once and the body trickles a byte a second
    until the answer is due: the platform's client (a 5 s timeout per read, not per
    answer) keeps waiting, so the test, not a timeout, decides when the answers land,
    and every finalize is provably waiting on OCSP while the test looks at the server.
    """

    def __init__(self, ca: DevCA, delay: float) -> None:
        self.ca, self.delay = ca, delay
        self.arrived = 0
        self.answered = 0
        self.all_arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.expected = RACERS
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ocsp"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            request = await reader.readexactly(length)
            came = time.monotonic()
            self.arrived += 1
            if self.arrived >= self.expected:
                self.all_arrived.set()
            answer = self.ca.ocsp_response(request)
            assert asn1_ocsp.OCSPResponse.load(answer)["response_status"].native == "successful"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(answer))
            sent = 0
            while time.monotonic() - came < self.delay or not self.release.is_set():
                if sent < len(answer) - 1:
                    writer.write(answer[sent:sent + 1])
                    sent += 1
                await writer.drain()
                await asyncio.sleep(1)
            writer.write(answer[sent:])
            await writer.drain()
            self.answered += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _in_transaction(settings: Settings) -> int:
    """Server connections to the test's database sitting in an open transaction."""
    conn = await committed(settings.database.url)
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")
        return n
    finally:
        await conn.close()


async def test_finalizes_waiting_on_a_slow_ocsp_responder_hold_no_connection(
        settings: Settings, tmp_path: Path) -> None:
    """20 finalizes toward a deadline, each waiting 5 s or more on OCSP, against a server
    with a pool of 4: all 20 reach the responder at once, the server answers other
    requests meanwhile with no transaction left open, and every finalize then completes,
    in time with its receipt or refused for the deadline alone."""
    server = servers.start(settings, DATABASE_POOL_MAX=str(POOL), DATABASE_POOL_MIN="1")
    world = await bid_world.build(settings, server.url, tmp_path, bidders=RACERS)
    responder = SlowResponder(world.ca, OCSP_DELAY)
    url = await responder.start()
    try:
        prepared = []
        for live in world.bidders:
            b = live.bidder
            p7m = seal(bid_zip(world.tender, b), b, [b.enc.cert, world.opening])
            async with live.client(server.url) as http:
                up = await upload(http, world.tender, p7m)
            prepared.append((live, up["id"], b.sign(p7m)))
        conn = await committed(settings.database.url)
        try:  # the issuing CA's responder is the slow one from now on
            await conn.execute("UPDATE trust_cas SET ocsp_url = $2 WHERE id = $1",
                               world.ca_ids[1], url)
        finally:
            await conn.close()
        deadline = await bid_world.db_now(settings) + timedelta(seconds=20)
        await bid_world.set_deadline(settings, world.tender["id"], deadline)
        clients = [live.client(server.url) for live, _, _ in prepared]

        async def fire(http: httpx.AsyncClient, upload_id: str,
                       signature: bytes) -> tuple[int, dict[str, Any], float]:
            started = time.monotonic()
            r = await http.post(f"/api/bid-uploads/{upload_id}/finalize",
                                json={"signature": b64(signature)})
            return r.status_code, r.json(), time.monotonic() - started

        try:
            fired = time.monotonic()
            tasks = [asyncio.create_task(fire(http, up, sig))
                     for http, (_, up, sig) in zip(clients, prepared, strict=True)]
            # every finalize is at the responder at once: none waits for a connection
            await asyncio.wait_for(responder.all_arrived.wait(), timeout=60)
            arrived = time.monotonic() - fired
            assert responder.answered == 0
            async with prepared[0][0].client(server.url) as other:
                assert (await other.get("/healthz")).status_code == 200
                r = await other.get(f"/api/tenders/{world.tender['id']}", timeout=10)
                assert r.status_code == 200, r.text
                r = await other.get(f"/api/bid-uploads/{prepared[0][1]}", timeout=10)
                assert r.status_code == 200 and r.json()["status"] == "open", r.text
            assert await _in_transaction(settings) == 0
            assert not any(t.done() for t in tasks) and responder.answered == 0
            responder.release.set()
            released = time.monotonic() - fired
            results = await asyncio.gather(*tasks)
        finally:
            for http in clients:
                await http.aclose()
        accepted = [body for status, body, _ in results if status == 201]
        refused = [body for status, body, _ in results if status != 201]
        for body in accepted:
            assert datetime.fromisoformat(body["received_at"]) < deadline
        for body in refused:
            assert body["code"] == "bid_deadline_passed", body
            assert datetime.fromisoformat(body["detail"]["now"]) >= deadline
        assert len(accepted) + len(refused) == RACERS and responder.answered == RACERS
        stored = await _count(settings, "SELECT count(*) FROM bids WHERE tender_id = $1",
                              world.tender["id"])
        assert stored == len(accepted)
        times = sorted(t for _, _, t in results)
        print(f"\n{RACERS} finalizes, OCSP held >= {OCSP_DELAY} s, pool {POOL}: "
              f"{len(accepted)} in, {len(refused)} late; finalize s: median "
              f"{statistics.median(times):.2f}, max {times[-1]:.2f}; all at the responder after "
              f"{arrived:.2f} s, released after {released:.2f} s")
    finally:
        await responder.stop()
        server.stop()
        await bid_world.retire(settings, world)


async def _count(settings: Settings, sql: str, *args: Any) -> Any:
    conn = await committed(settings.database.url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_a_server_killed_mid_part_lets_the_resume_in_within_the_lease(
        settings: Settings, tmp_path: Path) -> None:
    """SIGKILL a server while it streams a part: the resume on another server is refused
    only until the dead one's short lease lapses, and the refusal says so (Retry-After);
    after waiting that long, the part is taken and the bid goes in."""
    first = servers.start(settings)
    world = await bid_world.build(settings, first.url, tmp_path, bidders=1)
    second = servers.start(settings)
    try:
        live = world.bidders[0]
        b = live.bidder
        p7m = seal(bid_zip(world.tender, b, padding=6 * MIB), b, [b.enc.cert, world.opening])
        part = 5 * MIB
        async with live.client(first.url) as http:
            r = await http.post(f"/api/tenders/{world.tender['id']}/lots/1/bid-uploads", json={
                "size": len(p7m), "idempotency_key": "killed-mid-part-1", "part_size": part})
            up = r.json()
        leased = asyncio.Event()
        gate = asyncio.Event()

        async def slow_body() -> Any:
            yield p7m[:MIB]
            leased.set()
            await gate.wait()  # the server holds the lease and has part of the body
            yield p7m[MIB:part]

        async def send() -> None:
            async with live.client(first.url) as http:
                await http.put(f"/api/bid-uploads/{up['id']}/parts/1", content=slow_body(),
                               headers={"content-length": str(part)})

        sending = asyncio.create_task(send())
        await asyncio.wait_for(leased.wait(), timeout=30)
        busy = None
        for _ in range(100):  # the lease is taken once the server has read the headers
            busy = await _count(settings, "SELECT busy_until FROM bid_uploads WHERE id = $1",
                                up["id"])
            if busy is not None:
                break
            await asyncio.sleep(0.1)
        assert busy is not None
        first.proc.kill()
        first.proc.wait(timeout=10)
        gate.set()
        with contextlib.suppress(httpx.TransportError):
            await sending

        async with live.client(second.url) as http:
            r = await http.put(f"/api/bid-uploads/{up['id']}/parts/1", content=p7m[:part])
            refusals = 0
            while r.status_code == 409:
                assert r.json()["code"] == "bid_upload_busy", r.text
                wait = int(r.headers["retry-after"])
                assert 1 <= wait <= uploads.LEASE.total_seconds()
                refusals += 1
                assert refusals <= 2, "the lease must lapse when Retry-After says"
                await asyncio.sleep(wait)
                r = await http.put(f"/api/bid-uploads/{up['id']}/parts/1", content=p7m[:part])
            assert r.status_code == 200 and r.json()["parts_done"] == 1, r.text
            r = await http.put(f"/api/bid-uploads/{up['id']}/parts/2", content=p7m[part:])
            assert r.status_code == 200, r.text
            r = await http.post(f"/api/bid-uploads/{up['id']}/finalize",
                                json={"signature": b64(b.sign(p7m))})
            assert r.status_code == 201, r.text
        print(f"\nresumed after {refusals} refusal(s) with Retry-After")
    finally:
        first.stop()
        second.stop()
        await bid_world.retire(settings, world)


async def test_concurrent_finalizes_of_one_upload_make_one_bid(
        settings: Settings, tmp_path: Path) -> None:
    """Five finalizes of one upload at once, over two server processes: one completes the
    upload and makes the bid (201), the others wait for it and answer with that bid (200)."""
    first = servers.start(settings)
    world = await bid_world.build(settings, first.url, tmp_path, bidders=1)
    second = servers.start(settings)
    try:
        live = world.bidders[0]
        b = live.bidder
        p7m = seal(bid_zip(world.tender, b, padding=6 * MIB), b, [b.enc.cert, world.opening])
        async with live.client(first.url) as http:
            up = await upload(http, world.tender, p7m)
        body = {"signature": b64(b.sign(p7m))}

        async def fire(url: str) -> httpx.Response:
            async with live.client(url) as http:
                return await http.post(f"/api/bid-uploads/{up['id']}/finalize", json=body)

        answers = await asyncio.gather(*(fire(url) for url in
                                         [first.url, second.url] * 2 + [first.url]))
        assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 201], [
            r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
        assert await _count(settings, "SELECT count(*) FROM bids WHERE upload_id = $1",
                            up["id"]) == 1
    finally:
        first.stop()
        second.stop()
        await bid_world.retire(settings, world)
