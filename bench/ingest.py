"""Sealed-bid ingest through the API vs a raw S3 put of the same bytes, same server, same run.

N bidders (``--bidders``, default 50) each seal ``--size-mb`` of random content
(``seal_file``: sign, then envelope for the bidder's encryption certificate
and the lot's opening certificate, plus the outer ``bid.p7m.p7s``), then:

- raw: N threads put the same ``bid.p7m`` files with the minio SDK's
  ``put_object`` (16 MiB parts, one part in flight per object; over plain
  HTTP the SDK hashes each part with SHA-256 to sign it);
- platform: N concurrent ``trading.bids.client.submit`` through one API
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
client. ``--store-mb`` says what the server holds; each phase must fit.

    python bench/ingest.py [--bidders 50] [--size-mb 100] [--big-bidders 2] [--skip-big]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.migrate import upgrade_async  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage import MinioStore  # noqa: E402
from signing import cms  # noqa: E402
from signing.ca import DevCA  # noqa: E402
from tests.conftest import committed, create_database, drop_database, past  # noqa: E402
from tests.e2e import bid_world, servers  # noqa: E402
from trading.bids import client  # noqa: E402
from trading.bids.sealing import seal_file  # noqa: E402

MIB = 1024 * 1024
PART = 16 * MIB
BUCKET = "bids"


class PeakRSS:
    """The highest resident set size of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc, self.stop = psutil.Process(pid), threading.Event()
        self.peak = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


@dataclass
class Row:
    case: str
    mb_s: float | None
    ratio: float | None
    peak: int | None
    note: str = ""


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the API process, this process and the storage daemons."""
    found: dict[str, float] = {}
    for proc in psutil.process_iter(["pid", "name", "cpu_times"]):
        pid, name, t = proc.info["pid"], proc.info["name"], proc.info["cpu_times"]
        label = "api" if pid == server_pid else "bench" if pid == os.getpid() else name
        if t is not None and label in ("api", "bench", "radosgw", "ceph-osd", "postgres"):
            found[label] = found.get(label, 0.0) + t.user + t.system
    return found


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


async def make_settings(tmp: Path) -> tuple[Settings, str]:
    base = Settings.from_env()
    name = f"th_bench_{secrets.token_hex(4)}"
    url = await create_database(base.database.url, name)
    await upgrade_async(url)
    ca = DevCA(tmp / "platform-ca")
    ca.init("基准测试平台CA", crl_url="http://127.0.0.1:9/crl.der", key_type="p256", now=past(10))
    files = {}
    for purpose in ("platform", "tsa"):
        issued = ca.issue(cn=f"基准测试{purpose}", org="天衡平台", purpose=purpose, key_type="p256")
        pem = issued.cert_pem() + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in issued.chain)
        (tmp / f"{purpose}.crt").write_bytes(pem)
        (tmp / f"{purpose}.key").write_bytes(issued.key_pem())
        files[purpose] = (str(tmp / f"{purpose}.crt"), str(tmp / f"{purpose}.key"))
    return replace(
        base, database=replace(base.database, url=url),
        storage=replace(base.storage, bucket_prefix=f"th-bench{secrets.token_hex(3)}"),
        platform_cert_file=files["platform"][0], platform_key_file=files["platform"][1],
        tsa_cert_file=files["tsa"][0], tsa_key_file=files["tsa"][1]), name


def seal_bids(world: bid_world.BidWorld, bidders: list[bid_world.LiveBidder], size: int,
              folder: Path) -> tuple[list[tuple[Path, Path]], float]:
    """Sealed ``bid.p7m`` + ``bid.p7m.p7s`` per bidder from one random content file."""
    folder.mkdir()
    content = folder / "content.bin"
    with content.open("wb") as out:
        for left in range(size, 0, -8 * MIB):
            out.write(os.urandom(min(8 * MIB, left)))
    sealed, started = [], time.perf_counter()
    for i, live in enumerate(bidders):
        b, out_dir = live.bidder, folder / f"b{i}"
        out_dir.mkdir()
        p7m, p7s = out_dir / "bid.p7m", out_dir / "bid.p7m.p7s"
        with content.open("rb") as source, p7m.open("wb") as out:
            seal_file(source, out, cert=b.signer.cert, key=b.signer.key, chain=b.signer.chain,
                      recipients=[b.enc.cert, world.opening])
        with p7m.open("rb") as f:
            p7s.write_bytes(cms.sign(f, cert=b.signer.cert, key=b.signer.key,
                                     chain=list(b.signer.chain)))
        sealed.append((p7m, p7s))
    seconds = time.perf_counter() - started
    content.unlink()
    return sealed, seconds


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


async def empty(store: MinioStore, only: str | None = None, *, drop: bool = False) -> int:
    """Remove every version, delete marker and unfinished upload under the run's prefix
    (``only``: in one bucket); with ``drop``, the buckets too."""
    def work() -> int:
        removed = 0
        for name in [b.name for b in store.client.list_buckets()
                     if b.name.startswith(store.settings.bucket_prefix + "-")
                     and (only is None or b.name == store.bucket(only))]:
            for obj in store.client.list_objects(name, recursive=True, include_version=True):
                store.client._execute(
                    "DELETE", name, obj.object_name,
                    headers={"x-amz-bypass-governance-retention": "true"},
                    query_params={"versionId": obj.version_id} if obj.version_id else {})
                removed += 1
            uploads = store.client._list_multipart_uploads(name)
            for up in uploads.uploads:
                store.client._abort_multipart_upload(name, up.object_name, up.upload_id)
            if drop:
                store.client.remove_bucket(name)
        return removed
    return await asyncio.to_thread(work)


async def measure(label: str, server: servers.Server, run: Callable[[], Awaitable[float]],
                  megabytes: float) -> tuple[float, int]:
    before = cpu_seconds(server.proc.pid)
    rss = PeakRSS(server.proc.pid)
    try:
        seconds = await run()
    finally:
        peak = rss.done()
    after = cpu_seconds(server.proc.pid)
    busy = ", ".join(f"{k} {(after[k] - before.get(k, 0)) / seconds * 100:.0f}%"
                     for k in sorted(after))
    per_gb = ", ".join(f"{k} {(after[k] - before.get(k, 0)) / megabytes * 1000:.2f}"
                       for k in sorted(after))
    print(f"  {label}: {megabytes:.0f} MB in {seconds:.1f} s; CPU of a core: {busy}; "
          f"load {fmt_load(os.getloadavg())}\n    core-seconds per GB: {per_gb}")
    return megabytes / seconds, peak


def api_server(settings: Settings) -> servers.Server:
    return servers.start(settings, BID_LOCK_MODE="GOVERNANCE",
                         REDIS_QUEUE=f"{settings.storage.bucket_prefix}:queue")


async def phases(opts: argparse.Namespace, settings: Settings, servers_: list[servers.Server],
                 store: MinioStore, tmp: Path) -> list[Row]:
    """Each bid size against an API process of its own, so that each peak RSS is its own."""
    server = servers_[0]
    world = await bid_world.build(settings, server.url, tmp, bidders=opts.bidders)
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
            server.stop()
            server = api_server(settings)
            servers_[0] = server
        rows.append(Row(f"api idle (pid {server.proc.pid})", None, None,
                        psutil.Process(server.proc.pid).memory_info().rss))
        files, seal_s = await asyncio.to_thread(seal_bids, world, bidders, size_mb * MIB,
                                                tmp / label.replace(" ", ""))
        mb, n = sum(p.stat().st_size for p, _ in files) / 1e6, len(files)
        rows.append(Row(f"seal {label} x{n} (one core)", mb / seal_s, None, None,
                        f"{seal_s:.1f} s"))
        raw, peak = await measure(f"raw {label}", server,
                                  lambda f=files: asyncio.to_thread(raw_puts, store, f, tag), mb)
        rows.append(Row(f"raw put_object {label} x{n}", raw, 1.0, peak))
        print(f"  removed {await empty(store, BUCKET)} objects")
        finalizes: list[float] = []
        rate, peak = await measure(f"platform {label}", server, lambda b=bidders, f=files, t=finalizes,
                                   u=server.url: platform_submits(u, world, b, f, t), mb)
        rows.append(Row(f"platform submit {label} x{n}", rate, rate / raw, peak,
                        f"finalize {spread(finalizes)}"))
        print(f"  removed {await empty(store, BUCKET)} objects")
        if bidders is not big:
            finalizes = []  # reused: the platform's were reported above
            rate, _ = await measure(f"direct {label}", server,
                                    lambda f=files, t=finalizes: direct_parts(store, f, tag, t), mb)
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
    with tempfile.TemporaryDirectory(prefix="th-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        settings, db_name = await make_settings(tmp)
        running = [api_server(settings)]
        store = MinioStore(settings.storage)
        print(f"{opts.bidders} bidders, API pid {running[0].proc.pid}, prefix "
              f"{settings.storage.bucket_prefix}, database {db_name}")
        try:
            rows = await phases(opts, settings, running, store, tmp)
        finally:
            running[0].stop()
            try:
                print(f"  removed {await empty(store, drop=True)} objects and the buckets")
            finally:
                await drop_database(Settings.from_env().database.url, db_name)
    print(f"\n{'case':38} {'MB/s':>9} {'ratio':>7} {'API peak RSS':>13}")
    for row in rows:
        print(f"{row.case:38} {'' if row.mb_s is None else f'{row.mb_s:9.1f}':>9} "
              f"{'' if row.ratio is None else f'{row.ratio:7.3f}':>7} "
              f"{'' if row.peak is None else f'{row.peak / MIB:9.0f} MiB':>13}  {row.note}")
    print(f"load average before {fmt_load(load_before)}, after {fmt_load(os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bidders", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--big-bidders", type=int, default=2)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--store-mb", type=int, default=20000,
                        help="what the S3 server can hold (the bench profile: 32 GiB)")
    asyncio.run(main(parser.parse_args()))
