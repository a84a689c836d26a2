"""What the benches (bench/hall.py, bench/ingest.py) share: a run of their own (a database,
keys, buckets and an API process, removed at the end), random content sealed per bidder, and
what each measured step cost.

The CPU of a step is counted per process, for the processes ``services()`` finds: this run's
PostgreSQL, Redis and radosgw by the ports its settings give, and the Ceph OSD behind that
radosgw by its configuration file; the caller adds the API process and its own. Counting every
process of those names, as bench/ingest.py once did, also counted another profile's (the test
profile's PostgreSQL or radosgw running beside the bench's) in this run's figures.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psutil
from cryptography.hazmat.primitives import serialization

from core.migrate import upgrade_async
from core.settings import Settings
from core.storage import MinioStore
from signing.ca import DevCA
from tests.conftest import create_database, drop_database, past
from tests.e2e import bid_world, servers

MIB = 1024 * 1024
PART = 16 * MIB  # the bidder's tool's part size
T = TypeVar("T")


# ------------------------------------------------------------------ processes and CPU
class PeakRSS:
    """The highest resident set size of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc, self.stop = psutil.Process(pid), threading.Event()
        self.peak: int = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


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


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def load_line(before: tuple[float, float, float]) -> str:
    return (f"load average before {fmt_load(before)}, after {fmt_load(os.getloadavg())}; "
            f"{os.cpu_count()} CPUs")


async def measure(label: str, tracked: dict[str, list[int]], server_pid: int,
                  run: Awaitable[float], megabytes: float) -> tuple[float, int]:
    """Wall seconds and the API's peak RSS of awaiting ``run`` (a coroutine not started yet,
    so that it starts on the clock); prints the CPU it took."""
    before = cpu_seconds(tracked)
    peak = PeakRSS(server_pid)
    try:
        seconds = await run
    finally:
        top = peak.done()
    after = cpu_seconds(tracked)
    per_gb = ", ".join(f"{k} {(after[k] - before.get(k, 0)) / megabytes * 1000:.2f}"
                       for k in sorted(after))
    print(f"  {label}: {megabytes:.0f} MB in {seconds:.1f} s ({megabytes / seconds:.1f} MB/s); "
          f"CPU of a core: {cpu_line(before, after, seconds)}; load {fmt_load(os.getloadavg())}\n"
          f"    core-seconds per GB: {per_gb}")
    return seconds, top


# ------------------------------------------------------------------ the run's own world
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


def api_server(settings: Settings) -> servers.Server:
    return servers.start(settings, BID_LOCK_MODE="GOVERNANCE",
                         REDIS_QUEUE=f"{settings.storage.bucket_prefix}:queue")


def restart(running: list[servers.Server], settings: Settings) -> servers.Server:
    """A fresh API process in place of the running one (each phase's RSS its own)."""
    running[0].stop()
    running[0] = api_server(settings)
    return running[0]


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
                if up.upload_id is not None:
                    store.client._abort_multipart_upload(name, up.object_name, up.upload_id)
            if drop:
                store.client.remove_bucket(name)
        return removed
    return await asyncio.to_thread(work)


@dataclass
class Run:
    tmp: Path
    settings: Settings
    db_name: str
    running: list[servers.Server]  # the API process; a phase may put a fresh one in its place
    store: MinioStore


@asynccontextmanager
async def bench_run(prefix: str) -> AsyncIterator[Run]:
    """A temporary folder, a database and bucket prefix of the run's own, and an API process
    on them; at the end the API stopped, every object and bucket removed, the database dropped
    (even when the run failed part way)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp_name:
        tmp = Path(tmp_name)
        settings, db_name = await make_settings(tmp)
        running = [api_server(settings)]
        store = MinioStore(settings.storage)
        try:
            yield Run(tmp, settings, db_name, running, store)
        finally:
            running[0].stop()
            try:
                print(f"  removed {await empty(store, drop=True)} objects and the buckets")
            finally:
                await drop_database(Settings.from_env().database.url, db_name)


def seal_each(bidders: list[bid_world.LiveBidder], size: int, folder: Path,
              seal: Callable[[int, bid_world.LiveBidder, Path], T]) -> tuple[list[T], float]:
    """``seal(i, bidder, content)`` for each bidder, and the seconds they took together, over
    one random ``content`` file of ``size`` bytes written first in the new ``folder`` (random:
    nothing deflates it) and removed after."""
    folder.mkdir()
    content = folder / "content.bin"
    with content.open("wb") as out:
        for left in range(size, 0, -8 * MIB):
            out.write(os.urandom(min(8 * MIB, left)))
    started = time.perf_counter()
    sealed = [seal(i, live, content) for i, live in enumerate(bidders)]
    seconds = time.perf_counter() - started
    content.unlink()
    return sealed, seconds
