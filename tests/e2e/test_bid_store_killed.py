"""The object store killed while a finalize completes the bid's upload.

radosgw keeps a completion it was killed in as "already in progress" until its own
lock times out (``rgw_mp_lock_max_time``, 600 s): retrying the completion cannot
succeed for ten minutes, which near a deadline is a lost bid. The platform must
answer 503 with Retry-After while the store is down, then resolve the completion:
take the object if it stands complete, else restart the upload under the same key,
so the bid gets in long before the store lets go. The test runs its own radosgw
(``tests.e2e.own_s3``) and kills that one, never the suite's shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from client import platform as client
from core.settings import Settings
from core.storage import MinioStore
from tests.conftest import committed
from tests.e2e import bid_world, own_s3, servers
from tests.trading.bidding import MIB, bid_zip, seal


class KillingProxy:
    """Passes S3 traffic to the gateway; when armed, kills the gateway right after it has
    been sent a whole CompleteMultipartUpload request (``POST ...?uploadId=``)."""

    def __init__(self, s3: own_s3.OwnS3) -> None:
        self.s3 = s3
        self.armed = False
        self.killed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.s3.port)
        except OSError:
            writer.close()
            return

        async def upstream() -> None:
            pending: int | None = None  # body bytes of the completion still to pass
            try:
                while data := await reader.read(65536):
                    if self.armed and pending is None and data.startswith(b"POST ") \
                            and b"uploadId=" in data.split(b"\r\n", 1)[0]:
                        head, _, body = data.partition(b"\r\n\r\n")
                        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                       if line.lower().startswith(b"content-length:")), 0)
                        pending = length - len(body)
                    elif pending is not None:
                        pending -= len(data)
                    up_writer.write(data)
                    await up_writer.drain()
                    if pending is not None and pending <= 0 and self.armed:
                        self.armed = False
                        self.s3.kill_gateway()
                        self.killed.set()
            except (ConnectionError, OSError):
                pass
            finally:
                up_writer.close()
                writer.close()

        async def downstream() -> None:
            try:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        await asyncio.gather(upstream(), downstream())

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_the_store_killed_mid_completion_holds_no_bid_out(
        settings: Settings, tmp_path: Path) -> None:
    s3 = await asyncio.to_thread(own_s3.start, settings)
    proxy = KillingProxy(s3)
    server = None
    world = None
    try:
        url = await proxy.start()
        # in a thread: the proxy serves the server's start from this loop
        server = await asyncio.to_thread(functools.partial(servers.start, settings,
                                                           S3_ENDPOINT=url))
        world = await bid_world.build(settings, server.url, tmp_path, bidders=1)
        deadline = await bid_world.db_now(settings) + timedelta(minutes=5)  # < the store's 10
        await bid_world.set_deadline(settings, world.tender["id"], deadline)
        live = world.bidders[0]
        b = live.bidder
        p7m = seal(bid_zip(world.tender, b, padding=6 * MIB), b, [b.enc.cert, world.opening])
        (tmp_path / "bid.p7m").write_bytes(p7m)
        (tmp_path / "bid.p7m.p7s").write_bytes(b.sign(p7m))
        answers: list[tuple[int, str, str | None]] = []

        async def seen(r: httpx.Response) -> None:
            if r.request.url.path.endswith("/finalize"):
                await r.aread()
                answers.append((r.status_code, r.json().get("code", ""),
                                r.headers.get("retry-after")))

        async def submit() -> dict[str, Any]:
            async with live.client(server.url, event_hooks={"response": [seen]}) as http:
                return await client.submit(http, tender_id=world.tender["id"], lot=1,
                                           p7m=tmp_path / "bid.p7m",
                                           p7s=tmp_path / "bid.p7m.p7s", part_size=5 * MIB)

        proxy.armed = True
        submitting = asyncio.create_task(submit())
        await asyncio.wait_for(proxy.killed.wait(), timeout=120)
        conn = await committed(settings.database.url)
        try:
            s3_upload_id = await conn.fetchval(
                "SELECT s3_upload_id FROM bid_uploads WHERE organization_id = $1", b.org_id)
        finally:
            await conn.close()
        # Whether the killed gateway got as far as taking its completion lock is a matter of
        # microseconds; the test takes it in the gateway's place when the upload is still
        # there, so that every run meets the worst case: a completion locked for 10 minutes.
        stuck = await asyncio.to_thread(s3.hold_completion_lock, s3_upload_id)
        # the bidder's tool meets the store down: the gateway comes back once the platform has
        # answered so (a fixed second raced the platform's own retries on a busy machine, and a
        # gateway back within them left no 503 to see)
        for _ in range(600):
            if any(status == 503 for status, _, _ in answers):
                break
            await asyncio.sleep(0.1)
        await asyncio.to_thread(s3.start)  # the gateway back, the cluster's state as it was
        bid = None
        for _ in range(3):  # the tool gives up after about 15 s of 503s; run again, as a user would
            try:
                bid = await submitting
                break
            except client.PlatformError as exc:
                assert exc.status == 503, exc
                submitting = asyncio.create_task(submit())
        assert bid is not None
        assert datetime.fromisoformat(bid["received_at"]) < deadline

        statuses = [status for status, _, _ in answers]
        assert 500 not in statuses, answers
        assert any(status == 503 and code == "storage_unavailable" and retry
                   for status, code, retry in answers), answers
        if stuck:
            assert (409, "bid_upload_restarted", None) in answers, answers
        assert statuses[-1] == 201, answers
        # what is stored is the bid as sent, in the store the platform used
        store = MinioStore(replace(settings.storage, endpoint=s3.endpoint))
        try:
            conn = await committed(settings.database.url)
            try:
                key = await conn.fetchval("SELECT object_key FROM bids WHERE id = $1",
                                          bid["id"])
                restarts = await conn.fetchval(
                    "SELECT count(*) FROM audit_log WHERE action = 'bid_upload.restarted' "
                    "AND object_id = (SELECT upload_id::text FROM bids WHERE id = $1)", bid["id"])
            finally:
                await conn.close()
            assert await store.get_bytes("bids", key) == p7m
            assert restarts == (1 if stuck else 0)
        finally:
            await store.aclose()
        print(f"\nkilled mid-completion, store lock held: {stuck}; finalize answers: "
              f"{[(s, c) for s, c, _ in answers]}")
    finally:
        with contextlib.suppress(Exception):
            await proxy.stop()
        if server is not None:
            server.stop()
        if world is not None:
            await bid_world.retire(settings, world)
        await asyncio.to_thread(s3.stop)
