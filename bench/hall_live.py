"""The live half of bench/hall.py: SSE clients on one lot's hall, and the raw baseline of as
many Redis subscribers, each held by client processes, and every delivery's latency.

The clients live in processes of their own (``--client-procs``), started with ``spawn``, fresh
interpreters: each runs the bench's main module again and imports this one by name to find
``client_proc``, so what a client process needs stands here, at module level, taking nothing
from the parent but its arguments. Each reports the CPU it used: a client can cost more than
the server it measures (see ``follow_sse_lean``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import resource
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop
from redis.asyncio import Redis

from bench.common import PeakRSS, cpu_line, cpu_seconds, fmt_load, rss
from core.settings import Settings
from tests.conftest import PASSWORD
from tests.e2e import bid_world, servers

CONNECT_S = 300.0  # for every client to connect and read the first event
GRACE_S = 30.0  # after the last event, for the last deliveries
Log = list[tuple[int, float]]  # one client's arrivals: (sequence number, wall clock)


def raise_nofile(need: int) -> None:
    """Raise this process's open-file limit (its children inherit it) to ``need``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(f"{need} open files are needed, the hard limit is {hard}: "
                         "raise it (ulimit -Hn) or use fewer --clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


# ------------------------------------------------------------------ the client processes
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


# ------------------------------------------------------------------ a fan-out run and its latency
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

