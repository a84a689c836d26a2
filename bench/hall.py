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

The live clients stand in bench/hall_live.py, the opening's bids and baseline in
bench/hall_open.py, what bench/ingest.py does too in bench/common.py; this file runs them and
prints their tables.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIB, Run, bench_run, fmt_load, load_line, measure, restart, rss, services  # noqa: E402
from bench.hall_live import Latency, Phase, latency, raise_nofile, redis_phase, sse_phase  # noqa: E402
from bench.hall_open import check_read, platform_open, raw_open, seal_bids, stored_bids, submit_all  # noqa: E402
from tests.e2e import bid_world  # noqa: E402


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


# ------------------------------------------------------------------ live clients
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


async def live_clients(opts: argparse.Namespace, run: Run, world: bid_world.BidWorld,
                       tracked: dict[str, list[int]]) -> None:
    server = restart(run.running, run.settings)
    tracked = {**tracked, "api": [server.proc.pid]}
    print(f"live clients: API pid {server.proc.pid}")
    sse = await sse_phase(opts, server, world, tracked)
    raw = await redis_phase(opts, run.settings, {k: v for k, v in tracked.items() if k != "api"})
    report_live(opts, sse, raw)


# ------------------------------------------------------------------ the opening
async def opening(opts: argparse.Namespace, run: Run, world: bid_world.BidWorld,
                  tracked: dict[str, list[int]]) -> None:
    settings, store = run.settings, run.store
    bidders = world.bidders[:opts.bids]
    sealed, seal_s = await asyncio.to_thread(seal_bids, world, bidders, opts.size_mb * MIB,
                                             run.tmp / "bids")
    print(f"  sealed {len(sealed)} bids of {opts.size_mb} MiB in {seal_s:.1f} s (one core)")
    started = time.perf_counter()
    ids = await submit_all(run.running[0].url, world, sealed)
    print(f"  submitted through the API in {time.perf_counter() - started:.1f} s")
    stored = await stored_bids(settings, world.tender["id"], sealed, ids)
    mb = sum(o.size for o in stored) / 1e6
    await bid_world.set_deadline(settings, world.tender["id"],
                                 await bid_world.db_now(settings) - timedelta(seconds=1))
    server = restart(run.running, settings)  # its peak RSS is the opening's own
    idle = rss(server.proc.pid)
    tracked = {**tracked, "api": [server.proc.pid]}
    print(f"opening: {len(stored)} bids, {mb:.0f} MB, {opts.concurrency} at a time, "
          f"API pid {server.proc.pid} (idle {idle / MIB:.0f} MiB)")
    raws = []
    raw_s, _ = await measure("raw before", tracked, server.proc.pid,
                             asyncio.to_thread(raw_open, store, stored, opts.concurrency), mb)
    raws.append(raw_s)
    took: list[float] = []
    platform_s, peak = await measure(
        "platform", tracked, server.proc.pid,
        platform_open(server.url, sealed, stored, opts.concurrency, took), mb)
    raw_s, _ = await measure("raw after", tracked, server.proc.pid,
                             asyncio.to_thread(raw_open, store, stored, opts.concurrency), mb)
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
    async with bench_run("th-hall-") as run:
        tracked = {**services(run.settings), "bench": [os.getpid()]}
        print(f"database {run.db_name}, prefix {run.settings.storage.bucket_prefix}; tracked: "
              f"{', '.join(f'{k} {v}' for k, v in sorted(tracked.items()))}")
        started = time.perf_counter()
        world = await bid_world.build(run.settings, run.running[0].url, run.tmp,
                                      bidders=0 if opts.skip_open else opts.bids)
        print(f"  a published tender and {len(world.bidders)} bidders holding its documents "
              f"in {time.perf_counter() - started:.1f} s")
        if not opts.skip_clients:
            await live_clients(opts, run, world, tracked)
        if not opts.skip_open:
            await opening(opts, run, world, tracked)
    print(load_line(load_before))


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
