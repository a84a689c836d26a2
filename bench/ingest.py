"""Sealed-bid ingest through the API vs a raw S3 put of the same bytes, same server, same run.

N bidders (``--bidders``, default 50) each seal ``--size-mb`` of random content
(``seal_file``: sign, then envelope for the bidder's encryption certificate
and the lot's opening certificate, plus the outer ``bid.p7m.p7s``), then:

- raw: N threads put the same ``bid.p7m`` files with the minio SDK's
  ``put_object`` (16 MiB parts, one part in flight per object; over plain
  HTTP the SDK hashes each part with SHA-256 to sign it);
- platform: N concurrent ``client.platform.submit`` through one API
  process (start, 16 MiB parts, finalize), its peak RSS sampled every 50 ms;
- direct: N concurrent uploads of presigned parts straight to S3, completed,
  then read back whole with SHA-256 (what finalize would have to do then).

Each case prints aggregate MB/s and its ratio to raw, the CPU each process spent per GB,
and for the two bidder paths how long finalize took (median / worst): through the
API it checks a digest already computed; on the presigned path it must read the
whole object back first, so its time grows with the bid and with the crowd. With ``--big-bidders``
(default 2) bidders of a 1024 MB bid the API's peak RSS is measured again
(``--skip-big`` leaves it out). Everything runs on a database and bucket
prefix of its own, removed at the end. Run it against the bench profile, a
disk-backed radosgw (``scripts/services.sh start bench``, then
``scripts/with-env.sh bench python bench/ingest.py``): the test profile's
4 GiB memstore cannot hold 50 x 100 MB, and a full Ceph OSD stalls every
client. ``--store-mb`` says what the server holds; each phase must fit. The CPU counted is
that of the API process, this one, and this run's PostgreSQL, Redis, radosgw and OSD, found
by their ports (bench/common.py): not another profile's processes of the same names.

    python bench/ingest.py [--bidders 50] [--size-mb 100] [--big-bidders 2] [--skip-big]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    MIB,
    PART,
    Run,
    bench_run,
    empty,
    load_line,
    measure,
    restart,
    rss,
    seal_each,
    services,
)
from bidformat.sealing import seal_file  # noqa: E402
from core.storage import MinioStore  # noqa: E402
from signing import cms  # noqa: E402
from tests.conftest import committed  # noqa: E402
from tests.e2e import bid_world  # noqa: E402
from trading.bids import client  # noqa: E402
from trading.bids.uploads import BUCKET  # noqa: E402


@dataclass
class Row:
    case: str
    mb_s: float | None
    ratio: float | None
    peak: int | None
    note: str = ""


def seal_bids(world: bid_world.BidWorld, bidders: list[bid_world.LiveBidder], size: int,
              folder: Path) -> tuple[list[tuple[Path, Path]], float]:
    """Sealed ``bid.p7m`` + ``bid.p7m.p7s`` per bidder from one random content file."""
    def seal(i: int, live: bid_world.LiveBidder, content: Path) -> tuple[Path, Path]:
        b, out_dir = live.bidder, folder / f"b{i}"
        out_dir.mkdir()
        p7m, p7s = out_dir / "bid.p7m", out_dir / "bid.p7m.p7s"
        with content.open("rb") as source, p7m.open("wb") as out:
            seal_file(source, out, cert=b.signer.cert, key=b.signer.key, chain=b.signer.chain,
                      recipients=[b.enc.cert, world.opening])
        with p7m.open("rb") as f:
            p7s.write_bytes(cms.sign(f, cert=b.signer.cert, key=b.signer.key,
                                     chain=list(b.signer.chain)))
        return p7m, p7s

    return seal_each(bidders, size, folder, seal)


def raw_puts(store: MinioStore, files: list[tuple[Path, Path]], tag: str) -> float:
    def put(i: int, p7m: Path) -> None:
        with p7m.open("rb") as f:
            store.client.put_object(store.bucket(BUCKET), f"raw/{tag}/{i}.p7m", f,
                                    length=p7m.stat().st_size, part_size=PART,
                                    content_type="application/pkcs7-mime", num_parallel_uploads=1)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        for done in [pool.submit(put, i, p7m) for i, (p7m, _) in enumerate(files)]:
            done.result()
    return time.perf_counter() - started


def spread(seconds: list[float]) -> str:
    """Median and worst of per-bidder durations."""
    if not seconds:
        return ""
    ordered = sorted(seconds)
    return f"{ordered[len(ordered) // 2] * 1000:.0f} / {ordered[-1] * 1000:.0f} ms"


async def platform_submits(url: str, world: bid_world.BidWorld,
                           bidders: list[bid_world.LiveBidder],
                           files: list[tuple[Path, Path]], finalizes: list[float]) -> float:
    """Each bidder's tool, concurrently; ``finalizes`` gets each finalize request's duration."""
    async def sent(request: httpx.Request) -> None:
        request.extensions["sent_at"] = time.perf_counter()

    async def answered(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/finalize"):
            finalizes.append(time.perf_counter() - response.request.extensions["sent_at"])

    async def one(live: bid_world.LiveBidder, p7m: Path, p7s: Path) -> None:
        async with live.client(url) as http:
            http.event_hooks = {"request": [sent], "response": [answered]}
            await client.submit(http, tender_id=world.tender["id"], lot=1, p7m=p7m, p7s=p7s,
                                part_size=PART)

    started = time.perf_counter()
    await asyncio.gather(*(one(live, p7m, p7s) for live, (p7m, p7s) in zip(bidders, files,
                                                                           strict=True)))
    return time.perf_counter() - started


async def direct_parts(store: MinioStore, files: list[tuple[Path, Path]], tag: str,
                       finalizes: list[float]) -> float:
    """Presigned parts, then what finalize would do on that path: complete, read back, hash
    (``finalizes`` gets the duration of that last step per bidder)."""
    async def one(i: int, p7m: Path, http: httpx.AsyncClient, expected: str) -> None:
        key, size = f"direct/{tag}/{i}.p7m", (await asyncio.to_thread(p7m.stat)).st_size
        upload_id = await store.create_multipart(BUCKET, key, content_type="application/pkcs7-mime")
        etags = []
        for number, offset in enumerate(range(0, size, PART), start=1):
            length = min(PART, size - offset)
            url = await store.presigned_part_url(BUCKET, key, upload_id, number,
                                                 timedelta(minutes=15))
            body = client._file_part(p7m, offset, length, lambda _n: None)
            r = await http.put(url, content=body, headers={
                "content-length": str(length), "content-type": "application/octet-stream"})
            r.raise_for_status()
            etags.append((number, r.headers["etag"].strip('"')))
        finalizing = time.perf_counter()
        await store.complete_multipart(BUCKET, key, upload_id, etags)
        digest = hashlib.sha256()
        async for chunk in store.get_stream(BUCKET, key):
            digest.update(chunk)
        assert digest.hexdigest() == expected, key
        finalizes.append(time.perf_counter() - finalizing)

    digests = [await asyncio.to_thread(client.sha256_file, p7m) for p7m, _ in files]
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=300, trust_env=False,
                                 limits=httpx.Limits(max_connections=len(files) + 10)) as http:
        await asyncio.gather(*(one(i, p7m, http, digests[i]) for i, (p7m, _) in enumerate(files)))
    return time.perf_counter() - started


async def phases(opts: argparse.Namespace, run: Run, tracked: dict[str, list[int]]) -> list[Row]:
    """Each bid size against an API process of its own, so that each peak RSS is its own."""
    settings, store, server = run.settings, run.store, run.running[0]
    world = await bid_world.build(settings, server.url, run.tmp, bidders=opts.bidders)
    conn = await committed(settings.database.url)
    try:
        big = [] if opts.skip_big else await bid_world.add_bidders(
            conn, settings, world, server.url, opts.big_bidders)
        # the lot's default limit is 500 MB; 1 GB bids need more
        await conn.execute("UPDATE lots SET max_bid_bytes = 5368709120 WHERE tender_id = $1",
                           world.tender["id"])
    finally:
        await conn.close()
    rows: list[Row] = []
    tag = secrets.token_hex(3)
    for label, bidders, size_mb in ((f"{opts.size_mb} MB", world.bidders[:opts.bidders],
                                     opts.size_mb), ("1 GB", big, 1024)):
        if not bidders:
            continue
        if rows:  # a fresh process for the next size
            server = restart(run.running, settings)
        api = {**tracked, "api": [server.proc.pid]}
        rows.append(Row(f"api idle (pid {server.proc.pid})", None, None, rss(server.proc.pid)))
        files, seal_s = await asyncio.to_thread(seal_bids, world, bidders, size_mb * MIB,
                                                run.tmp / label.replace(" ", ""))
        mb, n = sum(p.stat().st_size for p, _ in files) / 1e6, len(files)
        rows.append(Row(f"seal {label} x{n} (one core)", mb / seal_s, None, None,
                        f"{seal_s:.1f} s"))
        seconds, peak = await measure(f"raw {label}", api, server.proc.pid,
                                      asyncio.to_thread(raw_puts, store, files, tag), mb)
        raw = mb / seconds
        rows.append(Row(f"raw put_object {label} x{n}", raw, 1.0, peak))
        print(f"  removed {await empty(store, BUCKET)} objects")
        finalizes: list[float] = []
        seconds, peak = await measure(
            f"platform {label}", api, server.proc.pid,
            platform_submits(server.url, world, bidders, files, finalizes), mb)
        rate = mb / seconds
        rows.append(Row(f"platform submit {label} x{n}", rate, rate / raw, peak,
                        f"finalize {spread(finalizes)}"))
        print(f"  removed {await empty(store, BUCKET)} objects")
        if bidders is not big:
            finalizes = []  # reused: the platform's were reported above
            seconds, _ = await measure(f"direct {label}", api, server.proc.pid,
                                       direct_parts(store, files, tag, finalizes), mb)
            rate = mb / seconds
            rows.append(Row(f"presigned + read-back {label} x{n}", rate, rate / raw, None,
                            f"finalize {spread(finalizes)}"))
            print(f"  removed {await empty(store, BUCKET)} objects")
        for p7m, _ in files:
            for f in p7m.parent.iterdir():
                f.unlink()
    return rows


async def main(opts: argparse.Namespace) -> None:
    # a phase holds every bidder's bid in the store at once: a server that runs out of space
    # blocks all its writers (a full Ceph OSD stalls every client, not only this run)
    peak_mb = max(opts.bidders * opts.size_mb, 0 if opts.skip_big else opts.big_bidders * 1024)
    if peak_mb * 1.05 > opts.store_mb:
        raise SystemExit(f"a phase would store ~{peak_mb} MB at once, more than --store-mb "
                         f"{opts.store_mb}: use fewer bidders or a smaller --size-mb")
    load_before = os.getloadavg()
    async with bench_run("th-ingest-") as run:
        print(f"{opts.bidders} bidders, API pid {run.running[0].proc.pid}, prefix "
              f"{run.settings.storage.bucket_prefix}, database {run.db_name}")
        rows = await phases(opts, run, {**services(run.settings), "bench": [os.getpid()]})
    print(f"\n{'case':38} {'MB/s':>9} {'ratio':>7} {'API peak RSS':>13}")
    for row in rows:
        print(f"{row.case:38} {'' if row.mb_s is None else f'{row.mb_s:9.1f}':>9} "
              f"{'' if row.ratio is None else f'{row.ratio:7.3f}':>7} "
              f"{'' if row.peak is None else f'{row.peak / MIB:9.0f} MiB':>13}  {row.note}")
    print(load_line(load_before))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bidders", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--big-bidders", type=int, default=2)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--store-mb", type=int, default=20000,
                        help="what the S3 server can hold (the bench profile: 32 GiB)")
    asyncio.run(main(parser.parse_args()))
