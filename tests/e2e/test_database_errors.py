"""A real server when the database fails under it: every answer is the JSON error body with
its own code, never a plain-text 500; a database out of reach is a 503 with Retry-After.

The server reaches a database of this test's own through a TCP relay that the test cuts,
as a crashed or unreachable PostgreSQL looks from the server's side (connections dropped,
new ones refused), without touching the suite's shared PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import httpx
import pytest

from core import audit
from core.db import connect
from core.identity import service as identity
from core.migrate import upgrade_async
from core.settings import Settings
from tests.conftest import PASSWORD
from tests.e2e import servers
from tests.e2e.servers import free_port

# A COMMIT that fails: a deferred constraint trigger that refuses every new session as a
# serialization failure would (SQLSTATE 40001), at COMMIT and not before.
FAIL_AT_COMMIT = """
    CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'refused at commit' USING ERRCODE = '40001';
    END $$;
    CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON sessions
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit();
"""


class Relay:
    """A TCP relay to PostgreSQL, in a thread of its own; ``cut()`` drops every connection
    and stops listening."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._link, "127.0.0.1", self.port), self.loop).result(10)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        async def cut() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.links):
                writer.transport.abort()
        asyncio.run_coroutine_threadsafe(cut(), self.loop).result(10)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
async def own_db(scratch_db: str) -> str:
    """A migrated database of this test's own, with one user and a COMMIT that fails."""
    await upgrade_async(scratch_db)
    conn = await connect(scratch_db)
    try:
        await identity.create_user(conn, audit.SYSTEM, login="commit.fails", name="提交失败",
                                   roles=["expert"], password=PASSWORD)
        await conn.execute(FAIL_AT_COMMIT)
    finally:
        await conn.close()
    return scratch_db


@pytest.fixture
def relay(own_db: str) -> Iterator[tuple[Relay, str]]:
    parts = urlsplit(own_db)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay.start()
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{relay.port}"
    relayed = urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2
                                        else host))
    yield relay, relayed
    relay.stop()


def _json_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["message"] and body["message_en"]


def test_commit_failure_and_database_outage_answer_json_with_a_code(
        settings: Settings, relay: tuple[Relay, str]) -> None:
    cut, url = relay
    server = servers.start(replace(settings, database=replace(settings.database, url=url)))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            # the COMMIT itself fails (a deferred check): no 2xx, and a retryable 503
            r = http.post("/api/auth/login", json={"login": "commit.fails",
                                                   "password": PASSWORD})
            _json_error(r, 503, "try_again")
            assert r.headers["retry-after"] == "1"
            assert "set-cookie" not in r.headers or "th_session=" not in r.headers["set-cookie"]
            assert http.get("/api/tenders/").status_code == 200

            cut.cut()  # the database is gone: pooled connections dropped, new ones refused
            # (reads the process had kept may still be served for the moment it takes to
            # notice its listening connection went too: these ask what it never kept)
            for n in range(2):  # the first finds its pooled connection broken, then none
                r = http.get("/api/tenders/", params={"q": f"outage {n}"})
                _json_error(r, 503, "database_unavailable")
                assert int(r.headers["retry-after"]) > 0
            r = http.post("/api/auth/login", json={"login": "commit.fails",
                                                   "password": PASSWORD})
            _json_error(r, 503, "database_unavailable")
            # a bid part (short transactions of its own, as a finalize's) likewise
            r = http.put(f"/api/bid-uploads/{uuid4()}/parts/1", content=b"x" * 10)
            _json_error(r, 503, "database_unavailable")
    finally:
        server.stop()
