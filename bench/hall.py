"""The opening hall under load: live streams, and the opening of many large bids, each against
a raw baseline on the same machine in the same run.

Live clients. ``--clients`` (default 1000) Server-Sent-Event streams on one lot's hall
(``GET /api/lots/{id}/hall/stream``), all on ONE API process, held by ``--client-procs``
(4) client processes, each reporting the CPU it used. A client reads its stream by hand
over asyncio (HTTP/1.1, chunked, on uvloop): httpx (``--sse-client httpx``) parses in
pure Python and spent more CPU per delivery than the API itself (0.34 against 0.24
core-ms with 1000 clients), so on two cores it would be what is measured. Every client
has read the hall's first message (from the log, so it is subscribed) before the host
posts ``--events`` messages ``--interval`` s apart. A delivery's latency runs from the
event's own timestamp ``at`` (``clock_timestamp()`` at its INSERT, before the commit, as
the hall's log gives it; one clock on one machine) to its arrival at the client. The
latency from the moment the host's POST returned is printed beside it: it leaves out the
commit and the publish, and can be negative (the publish precedes the response). Raw
baseline: as many redis.asyncio pub/sub subscribers in the same client processes, messages
of the same shape PUBLISHed straight to Redis as far apart (latency from just before the
PUBLISH). Printed: p50 / p99 / max over every (event, client) pair, missed deliveries, how
long one event took to reach everyone (first to last arrival), the API's RSS idle, with
every client connected and at its peak, and the CPU of each process.

Opening. ``--bids`` bidders (default 200) each seal a bid with the tool's ``seal_folder``
(price.json and a stored file of ``--size-mb`` MiB) and submit it; the deadline is moved
to the past and, on a fresh API process, every bid is opened through
``POST /api/bids/{id}/open`` with the bidder's own content key (what ``tenderhall bid
decrypt --key-only`` prints), ``--concurrency`` (20) at a time. Raw baseline, run before and
after the platform with the same concurrency: the minio SDK's get of the same stored objects,
the bid's content cipher (AES-256-GCM, signing/stream.py; the tag is not checked: the bytes
include the envelope's framing) over every byte, and SHA-256 compared with the receipt's.
Printed: wall time, MB/s and the ratio, the API's peak RSS, CPU and core-seconds per GB of
this run's processes (its PostgreSQL, Redis, radosgw and OSD, found by their ports: not
another profile's processes of the same names).

Everything runs on a database and bucket prefix of its own, removed at the end. Run it on
the bench profile (a disk-backed radosgw):

    scripts/services.sh start bench
    scripts/with-env.sh bench .venv/bin/python bench/hall.py [--clients 1000] [--events 20]
        [--bids 200] [--size-mb 20] [--concurrency 20] [--skip-clients] [--skip-open]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import multiprocessing as mp
import os
import queue
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import uvloop
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import PeakRSS, api_server, empty, fmt_load, make_settings  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage import CHUNK, MinioStore  # noqa: E402
from signing import stream  # noqa: E402
from signing.envelope import unwrap_from  # noqa: E402
from tests.conftest import PASSWORD, committed, drop_database  # noqa: E402
from tests.e2e import bid_world, servers  # noqa: E402
from tests.trading.bidding import Bidder  # noqa: E402
from trading.bids import client, price  # noqa: E402
from trading.bids.sealing import seal_folder  # noqa: E402
from trading.bids.uploads import BUCKET  # noqa: E402

MIB = 1024 * 1024
PART = 16 * MIB
SUBMIT_AT_ONCE = 20  # bidders uploading at once (not measured)
CONNECT_S = 300.0  # for every client to connect and read the first event
GRACE_S = 30.0  # after the last event, for the last deliveries
Log = list[tuple[int, float]]  # one client's arrivals: (sequence number, wall clock)


# ------------------------------------------------------------------ processes and CPU
def raise_nofile(need: int) -> None:
    """Raise this process's open-file limit (its children inherit it) to ``need``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(f"{need} open files are needed, the hard limit is {hard}: "
                         "raise it (ulimit -Hn) or use fewer --clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def services(settings: Settings) -> dict[str, list[int]]:
    """This run's PostgreSQL, Redis and radosgw, by the ports they listen on, and the Ceph
    OSD behind that radosgw (by its configuration file): a test profile running beside
    has processes of the same names."""
    s3 = settings.storage.endpoint
    ports = {"postgres": urlsplit(settings.database.url).port,
             "redis": urlsplit(settings.redis.url).port,
             "radosgw": urlsplit(s3 if "://" in s3 else f"http://{s3}").port}
    found: dict[str, list[int]] = {}
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid:
            for label, port in ports.items():
                if conn.laddr.port == port and conn.pid not in found.get(label, []):
                    found.setdefault(label, []).append(conn.pid)
    for pid in found.get("radosgw", [])[:1]:
        cmd = psutil.Process(pid).cmdline()
        conf = cmd[cmd.index("--conf") + 1] if "--conf" in cmd[:-1] else None
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            if conf and proc.info["name"] == "ceph-osd" and conf in (proc.info["cmdline"] or []):
                found.setdefault("ceph-osd", []).append(proc.info["pid"])
    return found


def cpu_seconds(tracked: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each label's processes; PostgreSQL's include its backends,
    living and ended (the postmaster reaps them)."""
    found: dict[str, float] = {}
    for label, pids in tracked.items():
        total = 0.0
        for pid in pids:
            with suppress(psutil.Error):
                proc = psutil.Process(pid)
                t = proc.cpu_times()
                total += t.user + t.system
                if label == "postgres":
                    total += t.children_user + t.children_system
                    for child in proc.children():
                        with suppress(psutil.Error):
                            c = child.cpu_times()
                            total += c.user + c.system
        found[label] = total
    return found


def cpu_line(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    return ", ".join(f"{k} {(after[k] - before.get(k, 0)) / seconds * 100:.0f}%"
                     for k in sorted(after))


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


# ------------------------------------------------------------------ live clients
@dataclass(frozen=True)
class ClientSpec:
    kind: str  # "sse" (read by hand), "httpx" (the same stream through httpx) or "redis"
    target: str  # the API's URL, or Redis's
    where: str  # the stream's path, or the channel
    count: int
    first: int  # SSE: the number of the event that says a client is subscribed
    last: int  # the number of the last event to wait for
    index: int


def client_proc(spec: ClientSpec, out: Queue[Any], stop: Event, leave: Event) -> None:
    """A client process: ``spec.count`` clients; says when all are subscribed, when all
    have the last event (or ``stop``), then, once told to ``leave``, what each received."""
    raise_nofile(spec.count * 2 + 256)
    uvloop.run(_clients(spec, out, stop, leave))


async def follow_sse(http: httpx.AsyncClient, spec: ClientSpec, log: Log,
                     subscribed: Callable[[], None]) -> None:
    async with http.stream("GET", spec.where) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("id: "):
                continue  # a message arrives whole: its id line is as early as its end
            seq = int(line[4:])
            log.append((seq, time.time()))
            if seq == spec.first:
                subscribed()
            if seq >= spec.last:
                return


async def follow_sse_lean(spec: ClientSpec, log: Log, subscribed: Callable[[], None]) -> None:
    """The same stream read by hand over asyncio (HTTP/1.1, chunked): a fraction of the CPU
    httpx spends per event (h11 parses in pure Python), so the server is what is measured."""
    url = urlsplit(spec.target)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(f"GET {spec.where} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        status = await reader.readline()
        if status.split(b" ")[1:2] != [b"200"]:
            raise RuntimeError(f"HTTP {status.decode(errors='replace').strip()}")
        headers = b""
        while (line := await reader.readline()) not in (b"\r\n", b""):
            headers += line.lower()
        if b"transfer-encoding: chunked" not in headers:
            raise RuntimeError("the stream is not chunked")
        buffer = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            buffer += (await reader.readexactly(size + 2))[:-2]
            arrived = time.time()
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                message, buffer = buffer[:end], buffer[end + 4:]
                for field_ in message.split(b"\r\n"):
                    if field_.startswith(b"id: "):
                        seq = int(field_[4:])
                        log.append((seq, arrived))
                        if seq == spec.first:
                            subscribed()
                        if seq >= spec.last:
                            return
    finally:
        writer.close()


async def follow_redis(redis: Redis, spec: ClientSpec, log: Log,
                       subscribed: Callable[[], None]) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(spec.where)
        async for message in pubsub.listen():
            arrived = time.time()
            if message["type"] == "subscribe":
                subscribed()
            elif message["type"] == "message":
                seq = json.loads(message["data"])["seq"]
                log.append((seq, arrived))
                if seq >= spec.last:
                    return


async def _clients(spec: ClientSpec, out: Queue[Any], stop: Event, leave: Event) -> None:
    logs: list[Log] = [[] for _ in range(spec.count)]
    errors: list[str] = []
    ready = 0
    all_ready = asyncio.Event()  # every client subscribed, or failed

    def subscribed() -> None:
        nonlocal ready
        ready += 1
        if ready + len(errors) >= spec.count:
            all_ready.set()

    started = time.perf_counter()
    http = httpx.AsyncClient(
        base_url=spec.target, trust_env=False,
        timeout=httpx.Timeout(60, connect=CONNECT_S, pool=None),
        limits=httpx.Limits(max_connections=spec.count + 10, max_keepalive_connections=0))
    redis = Redis.from_url(spec.target) if spec.kind == "redis" else None

    async def one(i: int) -> None:
        try:
            if redis is not None:
                await follow_redis(redis, spec, logs[i], subscribed)
            elif spec.kind == "httpx":
                await follow_sse(http, spec, logs[i], subscribed)
            else:
                await follow_sse_lean(spec, logs[i], subscribed)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            if ready + len(errors) >= spec.count:
                all_ready.set()

    try:
        tasks = [asyncio.create_task(one(i)) for i in range(spec.count)]
        with suppress(TimeoutError):
            await asyncio.wait_for(all_ready.wait(), CONNECT_S)
        out.put(("ready", spec.index, ready, time.perf_counter() - started, errors[:3],
                 time.process_time()))
        # until every client has the last event, or the parent stops waiting for them
        everything = asyncio.gather(*tasks)
        either: set[asyncio.Future[Any]] = {
            everything, asyncio.ensure_future(asyncio.to_thread(stop.wait))}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        out.put(("done", spec.index, time.process_time()))
        await asyncio.to_thread(leave.wait)
        everything.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with suppress(asyncio.CancelledError):
            await everything
    finally:
        await http.aclose()
        if redis is not None:
            await redis.aclose()
    out.put(("logs", spec.index, logs, errors))


class Clients:
    """Client processes started together; their messages gathered by kind."""

    def __init__(self, specs: list[ClientSpec]) -> None:
        ctx = mp.get_context("spawn")
        self.out: Queue[Any] = ctx.Queue()
        self.stop, self.leave = ctx.Event(), ctx.Event()
        self.procs = [ctx.Process(target=client_proc, args=(s, self.out, self.stop, self.leave),
                                  daemon=True) for s in specs]
        for proc in self.procs:
            proc.start()

    async def gather(self, kind: str, seconds: float, *, then_stop: bool = False) -> list[Any]:
        """One ``kind`` message from each process, in process order; past ``seconds`` either
        tell them to stop waiting (``then_stop``) or give up."""
        got: list[Any] = []
        deadline = time.monotonic() + seconds
        while len(got) < len(self.procs):
            if time.monotonic() > deadline:
                if not then_stop or self.stop.is_set():
                    raise SystemExit(f"client processes: {len(got)} of {len(self.procs)} "
                                     f"said {kind!r} in time")
                self.stop.set()
                deadline = time.monotonic() + 60
            try:
                message = await asyncio.to_thread(self.out.get, True, 0.5)
            except queue.Empty:
                dead = [p.exitcode for p in self.procs if p.exitcode not in (None, 0)]
                if dead:
                    raise SystemExit(f"a client process died (exit {dead[0]})") from None
                continue
            if message[0] != kind:
                raise RuntimeError(f"expected {kind!r} from the client processes, got {message[0]!r}")
            got.append(message)
        return sorted(got, key=lambda m: m[1])

    def close(self) -> None:
        self.stop.set()
        self.leave.set()
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)


@dataclass
class Phase:
    """One fan-out run: what each client received, and what it cost."""

    label: str
    logs: list[Log]
    errors: list[str]
    sent: list[tuple[int, float, float]]  # sequence number, before sending, when it returned
    connect_s: float
    events_s: float
    client_cpu: list[float]  # each client process, during the events
    cpu: dict[str, float] = field(default_factory=dict)  # each tracked label, during the events
    rss: tuple[int, int, int] | None = None  # the API's: idle, all connected, peak


async def post_events(send: Callable[[int], Awaitable[tuple[int, float, float]]], count: int,
                      interval: float) -> list[tuple[int, float, float]]:
    """``send`` each event on a fixed schedule (a slow one does not push the rest back)."""
    start, sent = time.perf_counter(), []
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
        sent.append(await send(i))
    return sent


async def fan_out(label: str, specs: list[ClientSpec], opts: argparse.Namespace,
                  tracked: dict[str, list[int]],
                  send: Callable[[int], Awaitable[tuple[int, float, float]]],
                  server_pid: int | None = None) -> Phase:
    """Start the client processes, wait until every client is subscribed, send the events,
    wait for their deliveries; the API's RSS is sampled throughout."""
    idle = rss(server_pid) if server_pid else 0
    peak = PeakRSS(server_pid) if server_pid else None
    before_connect = cpu_seconds(tracked)
    clients = Clients(specs)
    try:
        ready = await clients.gather("ready", CONNECT_S + 60)
        connected = rss(server_pid) if server_pid else 0
        subscribed = sum(m[2] for m in ready)
        connect_s = max(m[3] for m in ready)
        before = cpu_seconds(tracked)
        print(f"  {label}: {subscribed} of {opts.clients} clients subscribed in {connect_s:.1f} s; "
              "core-seconds from starting the client processes: " + ", ".join(
                  f"{k} {before[k] - before_connect.get(k, 0):.2f}" for k in sorted(before)))
        for m in ready:
            for error in m[4]:
                print(f"    client process {m[1]}: {error}")
        started = time.perf_counter()
        sent = await post_events(send, opts.events, opts.interval)
        done = await clients.gather("done", GRACE_S, then_stop=True)
        events_s = time.perf_counter() - started
        after = cpu_seconds(tracked)
        peak_rss = peak.done() if peak else 0
        clients.leave.set()
        logs = await clients.gather("logs", 120)
    finally:
        clients.close()
        if peak:
            peak.done()
    print(f"  {label}: {opts.events} events in {events_s:.1f} s; CPU of a core: "
          f"{cpu_line(before, after, events_s)}; load {fmt_load(os.getloadavg())}")
    return Phase(label, [log for m in logs for log in m[2]], [e for m in logs for e in m[3]],
                 sent, connect_s, events_s,
                 [d[2] - r[5] for r, d in zip(ready, done, strict=True)],
                 {k: after[k] - before.get(k, 0) for k in after},
                 (idle, connected, peak_rss) if server_pid else None)


def specs_for(kind: str, target: str, where: str, opts: argparse.Namespace, first: int,
              last: int) -> list[ClientSpec]:
    procs = max(1, min(opts.client_procs, opts.clients))
    counts = [opts.clients // procs + (i < opts.clients % procs) for i in range(procs)]
    return [ClientSpec(kind, target, where, n, first, last, i) for i, n in enumerate(counts)]


def hall_wire(seq: int, at: float, text: str) -> str:
    """A message shaped as the hall publishes it (trading/opening/hall.py)."""
    return json.dumps({"seq": seq, "kind": "hall.message",
                       "at": datetime.fromtimestamp(at, UTC).isoformat(),
                       "data": {"from": "王经办", "role": "host", "text": text}},
                      ensure_ascii=False)


async def sse_phase(opts: argparse.Namespace, server: servers.Server, world: bid_world.BidWorld,
                    tracked: dict[str, list[int]]) -> tuple[Phase, dict[int, float]]:
    """The hall's stream; also the events' own timestamps, read back from the log."""
    lot_id = world.tender["lots"][0]["id"]
    async with httpx.AsyncClient(base_url=server.url, timeout=60, trust_env=False) as host:
        r = await host.post("/api/auth/login", json={"login": world.staff, "password": PASSWORD})
        r.raise_for_status()

        async def say(i: int) -> tuple[int, float, float]:
            sent = time.time()
            r = await host.post(f"/api/lots/{lot_id}/hall/messages",
                                json={"text": f"第{i + 1}条消息：开标大厅测试"})
            returned = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"message: {r.status_code} {r.text[:300]}")
            seq: int = r.json()["seq"]
            return seq, sent, returned

        first, _, _ = await say(-1)  # read by every client from the log: it is subscribed
        specs = specs_for(opts.sse_client, server.url, f"/api/lots/{lot_id}/hall/stream", opts, first,
                          first + opts.events)
        label = "SSE" if opts.sse_client == "sse" else "SSE (httpx)"
        phase = await fan_out(label, specs, opts, tracked, say, server.proc.pid)
        if [s for s, _, _ in phase.sent] != list(range(first + 1, first + opts.events + 1)):
            print(f"  warning: the hall numbered the events {[s for s, _, _ in phase.sent]}")
        r = await host.get(f"/api/lots/{lot_id}/hall/events", params={"after": first})
        r.raise_for_status()
        at = {e["seq"]: datetime.fromisoformat(e["at"]).timestamp() for e in r.json()}
    return phase, at


async def redis_phase(opts: argparse.Namespace, settings: Settings,
                      tracked: dict[str, list[int]]) -> Phase:
    channel = f"{settings.storage.bucket_prefix}:hall-raw"
    redis = Redis.from_url(settings.redis.url)
    try:
        async def publish(i: int) -> tuple[int, float, float]:
            sent = time.time()
            receivers = await redis.publish(channel, hall_wire(i + 1, sent,
                                                               f"第{i + 1}条消息：开标大厅测试"))
            if receivers != opts.clients:
                print(f"  warning: message {i + 1} reached {receivers} subscribers")
            return i + 1, sent, time.time()

        specs = specs_for("redis", settings.redis.url, channel, opts, 0, opts.events)
        return await fan_out("raw Redis", specs, opts, tracked, publish)
    finally:
        await redis.aclose()


@dataclass
class Latency:
    label: str
    deliveries: int
    missed: int
    repeated: int
    ms: list[float]
    spread_ms: list[float]  # per event: first to last arrival


def latency(label: str, phase: Phase, since: dict[int, float]) -> Latency:
    """Each (event, client) pair's latency from ``since[seq]`` to the client's first arrival."""
    ms: list[float] = []
    missed = repeated = 0
    arrivals: dict[int, list[float]] = {seq: [] for seq in since}
    for log in phase.logs:
        first: dict[int, float] = {}
        for seq, t in log:
            if seq in since:
                if seq in first:
                    repeated += 1
                else:
                    first[seq] = t
        for seq, t0 in since.items():
            if seq in first:
                ms.append((first[seq] - t0) * 1000)
                arrivals[seq].append(first[seq])
            else:
                missed += 1
    spread = [(max(a) - min(a)) * 1000 for a in arrivals.values() if a]
    return Latency(label, len(ms), missed, repeated, ms, spread)


def report_live(opts: argparse.Namespace, sse: tuple[Phase, dict[int, float]] | None,
                raw: Phase | None) -> None:
    rows: list[Latency] = []
    if sse is not None:
        phase, at = sse
        rows.append(latency("SSE, from the event's `at`", phase, at))
        rows.append(latency("SSE, from the POST's return", phase, {s: r for s, _, r in phase.sent}))
    if raw is not None:
        rows.append(latency("raw Redis, from before PUBLISH", raw, {s: b for s, b, _ in raw.sent}))
        rows.append(latency("raw Redis, from PUBLISH's return", raw,
                            {s: r for s, _, r in raw.sent}))
    expected = opts.clients * opts.events
    print(f"\nlive clients: {opts.clients} clients in {max(1, min(opts.client_procs, opts.clients))} "
          f"client processes, {opts.events} events {opts.interval} s apart, "
          f"{expected} (event, client) pairs expected")
    print(f"{'case':36} {'received':>9} {'missed':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'reach all p50/max ms':>21}")
    for row in rows:
        if not row.ms:
            print(f"{row.label:36} {0:>9} {row.missed:>7}")
            continue
        print(f"{row.label:36} {row.deliveries:>9} {row.missed:>7} {pct(row.ms, 0.5):8.1f} "
              f"{pct(row.ms, 0.99):8.1f} {max(row.ms):8.1f} "
              f"{pct(row.spread_ms, 0.5):10.1f} / {max(row.spread_ms):8.1f}"
              + (f"  ({row.repeated} repeated)" if row.repeated else ""))
    if sse is not None and raw is not None and rows[0].ms and rows[2].ms:
        a, b = rows[0].ms, rows[2].ms
        print(f"{'ratio SSE / raw Redis (first rows)':36} {'':>9} {'':>7} "
              f"{pct(a, 0.5) / pct(b, 0.5):8.1f} {pct(a, 0.99) / pct(b, 0.99):8.1f} "
              f"{max(a) / max(b):8.1f} "
              f"{pct(rows[0].spread_ms, 0.5) / max(pct(rows[2].spread_ms, 0.5), 1e-3):10.1f}")
    for phase in [p for p in (sse[0] if sse else None, raw) if p is not None]:
        busiest = max(phase.client_cpu) / phase.events_s * 100
        print(f"{phase.label}: client processes used {sum(phase.client_cpu):.2f} core-s during the "
              f"events (busiest {busiest:.0f}% of a core"
              + ("; it may be what is measured)" if busiest > 80 else ")")
              + f"; others: {', '.join(f'{k} {v:.2f}' for k, v in sorted(phase.cpu.items()))} core-s"
              + (f"; {len(phase.errors)} client errors, e.g. {phase.errors[0]}"
                 if phase.errors else ""))
    if sse is not None and sse[0].rss is not None:
        idle, connected, peak = sse[0].rss
        print(f"API RSS: idle {idle / MIB:.0f} MiB, {opts.clients} connected {connected / MIB:.0f} MiB "
              f"({(connected - idle) / max(opts.clients, 1) / 1024:.0f} KiB per client), "
              f"peak {peak / MIB:.0f} MiB")


async def live_clients(opts: argparse.Namespace, settings: Settings,
                       running: list[servers.Server], world: bid_world.BidWorld,
                       tracked: dict[str, list[int]]) -> None:
    server = restart(running, settings)
    tracked = {**tracked, "api": [server.proc.pid]}
    print(f"live clients: API pid {server.proc.pid}")
    sse = await sse_phase(opts, server, world, tracked)
    raw = await redis_phase(opts, settings, {k: v for k, v in tracked.items() if k != "api"})
    report_live(opts, sse, raw)


# ------------------------------------------------------------------ the opening
@dataclass(frozen=True)
class SealedBid:
    live: bid_world.LiveBidder
    p7m: Path
    p7s: Path
    key: bytes  # the content key, from the bidder's own recipient entry


@dataclass(frozen=True)
class Stored:
    bid_id: str
    object_key: str
    size: int
    sha256: bytes
    cipher: str
    key: bytes


def own_key(p7m: Path, bidder: Bidder) -> bytes:
    """What ``tenderhall bid decrypt --key-only`` prints (trading/bids/commands.py), unencoded."""
    with p7m.open("rb") as f:
        head = stream._read_head(stream._Reader(f))
    return unwrap_from(list(head.infos), bidder.enc.cert, bidder.enc.key)


def seal_bids(world: bid_world.BidWorld, bidders: list[bid_world.LiveBidder], size: int,
              folder: Path) -> tuple[list[SealedBid], float]:
    """Each bidder's folder (its price sheet, and one shared random file linked in) sealed
    with the tool's ``seal_folder``."""
    folder.mkdir()
    filler = folder / "filler.bin"
    with filler.open("wb") as out:
        for left in range(size, 0, -8 * MIB):
            out.write(os.urandom(min(8 * MIB, left)))
    sealed, started = [], time.perf_counter()
    for i, live in enumerate(bidders):
        b, source = live.bidder, folder / f"in{i}"
        source.mkdir()
        sheet = price.example(world.tender["code"], 1, b.name, b.credit_code, f"{980000 + i}.00")
        (source / "price.json").write_bytes(price.dump(sheet))
        os.link(filler, source / "技术标.bin")  # stored as it is: no deflate time
        done = seal_folder(source, folder / f"b{i}", cert=b.signer.cert, key=b.signer.key,
                           chain=b.signer.chain, encryption_cert=b.enc.cert,
                           opening_cert=world.opening, creator={"tool": "bench/hall.py"})
        shutil.rmtree(source)
        sealed.append(SealedBid(live, done.p7m, done.p7s, own_key(done.p7m, b)))
    seconds = time.perf_counter() - started
    filler.unlink()
    return sealed, seconds


async def submit_all(url: str, world: bid_world.BidWorld, sealed: list[SealedBid]) -> list[str]:
    """Every bid through the API, SUBMIT_AT_ONCE at a time; each file removed once sent."""
    gate = asyncio.Semaphore(SUBMIT_AT_ONCE)

    async def one(bid: SealedBid) -> str:
        async with gate, bid.live.client(url) as http:
            http.timeout = httpx.Timeout(600)
            done = await client.submit(http, tender_id=world.tender["id"], lot=1, p7m=bid.p7m,
                                       p7s=bid.p7s, part_size=PART)
        await asyncio.to_thread(shutil.rmtree, bid.p7m.parent)
        bid_id: str = done["id"]
        return bid_id

    return list(await asyncio.gather(*(one(b) for b in sealed)))


def raw_open(store: MinioStore, stored: list[Stored], at_once: int) -> float:
    """Get each object, run its content cipher over every byte, hash it, check the hash."""
    def one(o: Stored) -> None:
        digest = hashlib.sha256()
        mode = modes.GCM(bytes(12)) if "gcm" in o.cipher else modes.CBC(bytes(16))
        decryptor = Cipher(algorithms.AES(o.key), mode).decryptor()
        response = store.client.get_object(store.bucket(BUCKET), o.object_key)
        try:
            for chunk in response.stream(CHUNK):
                digest.update(chunk)
                decryptor.update(chunk)
        finally:
            response.close()
            response.release_conn()
        if digest.digest() != o.sha256:
            raise RuntimeError(f"{o.object_key}: SHA-256 differs from the receipt's")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        for done in [pool.submit(one, o) for o in stored]:
            done.result()
    return time.perf_counter() - started


async def platform_open(url: str, sealed: list[SealedBid], stored: list[Stored], at_once: int,
                        took: list[float]) -> float:
    """``POST /api/bids/{id}/open`` with each bidder's own key, ``at_once`` at a time, from one
    HTTP client (a client each would cost this process 55 ms of CPU apiece, for its TLS
    context, beside the API on the same cores)."""
    gate = asyncio.Semaphore(at_once)

    async def one(http: httpx.AsyncClient, bid: SealedBid, o: Stored) -> None:
        async with gate:
            started = time.perf_counter()
            r = await http.post(f"/api/bids/{o.bid_id}/open",
                                json={"content_key": base64.b64encode(o.key).decode()},
                                headers={"authorization": f"Bearer {bid.live.api_key}"})
            took.append(time.perf_counter() - started)
            if r.status_code != 201:
                raise RuntimeError(f"open {o.bid_id}: {r.status_code} {r.text[:300]}")

    async with httpx.AsyncClient(base_url=url, timeout=900, trust_env=False,
                                 limits=httpx.Limits(max_connections=at_once + 5)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http, b, o) for b, o in zip(sealed, stored, strict=True)))
        return time.perf_counter() - started


async def measure(label: str, tracked: dict[str, list[int]], server_pid: int,
                  run: Callable[[], Awaitable[float]], megabytes: float) -> tuple[float, int]:
    """Wall seconds and the API's peak RSS of ``run``; prints the CPU it took."""
    before = cpu_seconds(tracked)
    peak = PeakRSS(server_pid)
    try:
        seconds = await run()
    finally:
        top = peak.done()
    after = cpu_seconds(tracked)
    per_gb = ", ".join(f"{k} {(after[k] - before.get(k, 0)) / megabytes * 1000:.2f}"
                       for k in sorted(after))
    print(f"  {label}: {megabytes:.0f} MB in {seconds:.1f} s ({megabytes / seconds:.1f} MB/s); "
          f"CPU of a core: {cpu_line(before, after, seconds)}; load {fmt_load(os.getloadavg())}\n"
          f"    core-seconds per GB: {per_gb}")
    return seconds, top


async def stored_bids(settings: Settings, tender_id: str, sealed: list[SealedBid],
                      ids: list[str]) -> list[Stored]:
    conn = await committed(settings.database.url)
    try:
        rows = {str(r["id"]): r for r in await conn.fetch(
            "SELECT id, object_key, size, p7m_sha256, content_cipher FROM bids "
            "WHERE tender_id = $1 AND status = 'submitted'", tender_id)}
    finally:
        await conn.close()
    return [Stored(i, rows[i]["object_key"], rows[i]["size"], bytes(rows[i]["p7m_sha256"]),
                   rows[i]["content_cipher"], b.key) for i, b in zip(ids, sealed, strict=True)]


async def check_read(settings: Settings, lot_id: str) -> str:
    """The lot after the opening: its status and how many bids it read."""
    conn = await committed(settings.database.url)
    try:
        row = await conn.fetchrow(
            "SELECT o.status, (SELECT count(*) FROM bid_openings x WHERE x.lot_id = o.lot_id) n "
            "FROM lot_openings o WHERE o.lot_id = $1", lot_id)
    finally:
        await conn.close()
    return "no opening" if row is None else f"{row['status']}, {row['n']} bids read"


async def opening(opts: argparse.Namespace, settings: Settings, running: list[servers.Server],
                  world: bid_world.BidWorld, store: MinioStore, tmp: Path,
                  tracked: dict[str, list[int]]) -> None:
    bidders = world.bidders[:opts.bids]
    sealed, seal_s = await asyncio.to_thread(seal_bids, world, bidders, opts.size_mb * MIB,
                                             tmp / "bids")
    print(f"  sealed {len(sealed)} bids of {opts.size_mb} MiB in {seal_s:.1f} s (one core)")
    started = time.perf_counter()
    ids = await submit_all(running[0].url, world, sealed)
    print(f"  submitted through the API in {time.perf_counter() - started:.1f} s")
    stored = await stored_bids(settings, world.tender["id"], sealed, ids)
    mb = sum(o.size for o in stored) / 1e6
    await bid_world.set_deadline(settings, world.tender["id"],
                                 await bid_world.db_now(settings) - timedelta(seconds=1))
    server = restart(running, settings)  # its peak RSS is the opening's own
    idle = rss(server.proc.pid)
    tracked = {**tracked, "api": [server.proc.pid]}
    print(f"opening: {len(stored)} bids, {mb:.0f} MB, {opts.concurrency} at a time, "
          f"API pid {server.proc.pid} (idle {idle / MIB:.0f} MiB)")
    raws = []
    raw_s, _ = await measure("raw before", tracked, server.proc.pid,
                             lambda: asyncio.to_thread(raw_open, store, stored, opts.concurrency), mb)
    raws.append(raw_s)
    took: list[float] = []
    platform_s, peak = await measure(
        "platform", tracked, server.proc.pid,
        lambda: platform_open(server.url, sealed, stored, opts.concurrency, took), mb)
    raw_s, _ = await measure("raw after", tracked, server.proc.pid,
                             lambda: asyncio.to_thread(raw_open, store, stored, opts.concurrency), mb)
    raws.append(raw_s)
    lot = await check_read(settings, world.tender["lots"][0]["id"])
    raw_rate = mb / (sum(raws) / len(raws))
    print(f"\nopening: {len(stored)} bids x {opts.size_mb} MiB ({mb:.0f} MB stored), "
          f"{opts.concurrency} at a time; the lot: {lot}")
    print(f"{'case':44} {'seconds':>8} {'MB/s':>8} {'ratio':>7}  note")
    for label, seconds in (("raw: get + AES-256-GCM + SHA-256, before", raws[0]),
                           ("raw: the same, after", raws[1])):
        print(f"{label:44} {seconds:8.1f} {mb / seconds:8.1f} {mb / seconds / raw_rate:7.3f}")
    print(f"{'platform: POST /api/bids/{id}/open':44} {platform_s:8.1f} {mb / platform_s:8.1f} "
          f"{mb / platform_s / raw_rate:7.3f}  per request p50 {pct(took, 0.5):.1f} s, "
          f"max {max(took):.1f} s; API RSS idle {idle / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB")
    print("ratio = MB/s / the mean raw MB/s (= mean raw seconds / seconds)")


# ------------------------------------------------------------------ the run
def restart(running: list[servers.Server], settings: Settings) -> servers.Server:
    """A fresh API process in place of the running one (each phase's RSS its own)."""
    running[0].stop()
    running[0] = api_server(settings)
    return running[0]


def preflight(opts: argparse.Namespace) -> None:
    if not opts.skip_open:
        if opts.bids < 3:
            raise SystemExit("--bids must be at least 3: a lot opens with three bids (S5)")
        need_mb = opts.bids * opts.size_mb * 1.05
        if need_mb > opts.store_mb:
            raise SystemExit(f"{opts.bids} x {opts.size_mb} MiB is more than --store-mb "
                             f"{opts.store_mb}: the S3 server could fill up")
        free_mb = shutil.disk_usage(tempfile.gettempdir()).free / MIB
        if need_mb * 1.5 > free_mb:
            raise SystemExit(f"{tempfile.gettempdir()} has {free_mb:.0f} MiB free; the sealed "
                             f"bids need about {need_mb:.0f} MiB and the opening more")
    raise_nofile(opts.clients * 2 + 1024)


async def main(opts: argparse.Namespace) -> None:
    preflight(opts)
    load_before = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {fmt_load(load_before)}, open files "
          f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    with tempfile.TemporaryDirectory(prefix="th-hall-") as tmp_name:
        tmp = Path(tmp_name)
        settings, db_name = await make_settings(tmp)
        tracked = {**services(settings), "bench": [os.getpid()]}
        print(f"database {db_name}, prefix {settings.storage.bucket_prefix}; tracked: "
              f"{', '.join(f'{k} {v}' for k, v in sorted(tracked.items()))}")
        running = [api_server(settings)]
        store = MinioStore(settings.storage)
        try:
            started = time.perf_counter()
            world = await bid_world.build(settings, running[0].url, tmp,
                                          bidders=0 if opts.skip_open else opts.bids)
            print(f"  a published tender and {len(world.bidders)} bidders holding its documents "
                  f"in {time.perf_counter() - started:.1f} s")
            if not opts.skip_clients:
                await live_clients(opts, settings, running, world, tracked)
            if not opts.skip_open:
                await opening(opts, settings, running, world, store, tmp, tracked)
        finally:
            running[0].stop()
            try:
                print(f"  removed {await empty(store, drop=True)} objects and the buckets")
            finally:
                await drop_database(Settings.from_env().database.url, db_name)
    print(f"load average before {fmt_load(load_before)}, after {fmt_load(os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-procs", type=int, default=4,
                        help="processes holding the clients (and the raw subscribers)")
    parser.add_argument("--sse-client", choices=("sse", "httpx"), default="sse",
                        help="read the streams by hand over asyncio (default) or with httpx")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between events")
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20, help="bids opened at once")
    parser.add_argument("--skip-clients", action="store_true")
    parser.add_argument("--skip-open", action="store_true")
    parser.add_argument("--store-mb", type=int, default=20000,
                        help="what the S3 server can hold (the bench profile: 32 GiB)")
    asyncio.run(main(parser.parse_args()))
