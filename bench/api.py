"""Public tender list vs a bare Litestar hello-world, same server, same run.

The hello-world is the ceiling the framework and server allow on this machine;
dividing by it leaves what the list itself costs (database, serialization), so
the numbers compare across machines. Starts the app twice, as deployed (answers
of the public list kept per process, core/readcache.py) and with
READ_CACHE_ENTRIES=0 (every read goes to the database), and the hello-world,
each under uvicorn (one worker, same flags); seeds published tenders in a
database of its own, loads each
endpoint with wrk in turn and prints requests per second, p50 and p99 latency and
the ratios to the hello-world and of the keyword search to the plain list.
``--runs`` repeats the whole sequence; each run's ratios come from that run alone
(a shared machine's load moves between runs, not within one row pair). Needs the
services of ``make bench`` (or DATABASE_URL, REDIS_URL, S3_* and SESSION_SECRET set).

    python bench/api.py [--seconds 10] [--connections 64] [--runs 2] [--tenders 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import audit, uscc  # noqa: E402
from core.db import connect  # noqa: E402
from core.identity import service as identity  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.settings import Settings  # noqa: E402

# Tender i gets REGIONS[i % 3] and PROCEDURES[i // 3 % 3], so a region filter
# still sees every procedure.
REGIONS = ("四川省成都市", "四川省雅安市", "重庆市")
PROCEDURES = ("open", "gp_open", "invited")
FILTER_REGION = REGIONS[1]
# One title in a hundred names KEYWORD, spread evenly over the dates (a first page of hits
# lies among the newest 2,000). NO_MATCH is in no title and no code: the search that finds
# nothing, which without a usable index has to read every row to say so.
KEYWORD = "污水处理"
KEYWORD_EVERY = 100
KEYWORD_AT = 42
NO_MATCH = "地铁隧道"
PAGE_SIZE = 20
WARM_UP_SECONDS = 2

# One statement for all rows: 10,000 single-row INSERTs would dominate the run.
# Published tenders must carry an ordered schedule (0003); thirteen minutes
# apart, 10,000 tenders span about three months.
SEED = """
    INSERT INTO tenders (code, title, region, procedure, sector, owner_org_id, budget, status,
                         published_at, documents_from, documents_until, bid_deadline)
    SELECT 'BENCH-' || lpad(i::text, 6, '0'),
           '基准测试' || CASE WHEN i % $6 = $7 THEN $5 ELSE '' END || '项目 ' || i,
           ($3::text[])[1 + i % 3], p, CASE WHEN p LIKE 'gp%' THEN 'goods' ELSE 'construction' END,
           $2, 1000000.00 + i, 'published', at, at, at + interval '6 days', at + interval '21 days'
    FROM generate_series(0, $1 - 1) AS i,
         LATERAL (SELECT ($4::text[])[1 + i / 3 % 3] AS p,
                         now() - i * interval '13 minutes' AS at) AS x
"""


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    query: dict[str, str | int]
    expect_total: int
    expect_items: int
    server: str = "app"  # "hello", "app" (answers kept) or "unkept" (READ_CACHE_ENTRIES=0)


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def seed(url: str, count: int) -> None:
    conn = await connect(url)
    try:
        async with conn.transaction():
            org = await identity.create_organization(
                conn, audit.SYSTEM, credit_code=uscc.make("91511800MA62BENCH"[:17]),
                name="基准测试招标人", kind="tenderer", region="四川省雅安市")
            await conn.execute(SEED, count, org["id"], list(REGIONS), list(PROCEDURES),
                               KEYWORD, KEYWORD_EVERY, KEYWORD_AT)
        await conn.execute("ANALYZE tenders")
    finally:
        await conn.close()


def endpoints(tenders: int) -> list[Endpoint]:
    def items(total: int, page: int) -> int:
        return max(0, min(PAGE_SIZE, total - (page - 1) * PAGE_SIZE))

    in_region = len(range(REGIONS.index(FILTER_REGION), tenders, len(REGIONS)))
    with_keyword = len(range(KEYWORD_AT, tenders, KEYWORD_EVERY))
    # four fifths of the way down: OFFSET 7980 with the default 10,000
    deep = max(1, tenders * 4 // 5 // PAGE_SIZE)
    first: dict[str, str | int] = {"page": 1, "page_size": PAGE_SIZE}
    keyword: dict[str, str | int] = {"q": KEYWORD, "page": 1, "page_size": PAGE_SIZE}
    return [
        Endpoint("bare hello-world", "/", {}, 0, 0, "hello"),
        Endpoint("tender list, page 1", "/api/tenders/", first, tenders, items(tenders, 1)),
        Endpoint(f"tender list, page {deep}", "/api/tenders/",
                 {"page": deep, "page_size": PAGE_SIZE}, tenders, items(tenders, deep)),
        Endpoint("tender list, region, page 2", "/api/tenders/",
                 {"region": FILTER_REGION, "page": 2, "page_size": PAGE_SIZE},
                 in_region, items(in_region, 2)),
        Endpoint("tender list, keyword 1%", "/api/tenders/", keyword,
                 with_keyword, items(with_keyword, 1)),
        Endpoint("tender list, keyword no hit", "/api/tenders/",
                 {"q": NO_MATCH, "page": 1, "page_size": PAGE_SIZE}, 0, 0),
        # the same reads with nothing kept: what each read costs the database and the house
        Endpoint("nothing kept: list, page 1", "/api/tenders/", first, tenders,
                 items(tenders, 1), "unkept"),
        Endpoint("nothing kept: keyword 1%", "/api/tenders/", keyword, with_keyword,
                 items(with_keyword, 1), "unkept"),
    ]


def url_of(port: int, endpoint: Endpoint) -> str:
    query = f"?{urlencode(endpoint.query)}" if endpoint.query else ""
    return f"http://127.0.0.1:{port}{endpoint.path}{query}"


def start(args: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server at {url} did not start")


def check(url: str, endpoint: Endpoint) -> None:
    """A list that answers fast but empty, or with the wrong rows, measures nothing."""
    if not endpoint.query:
        return
    body = httpx.get(url, timeout=30).raise_for_status().json()
    if body["total"] != endpoint.expect_total or len(body["items"]) != endpoint.expect_items:
        raise SystemExit(f"{url}: total {body['total']}, {len(body['items'])} items; expected "
                         f"{endpoint.expect_total}, {endpoint.expect_items}")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def wrk_flags(seconds: int, connections: int) -> list[str]:
    # wrk drops a request slower than its 2 s default timeout from the latency
    # figures and counts it as a socket error: a slow list would either fail the
    # run or flatter its p99.
    return ["-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]


def load(url: str, seconds: int, connections: int) -> Result:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it)")
    run = subprocess.run([wrk, *wrk_flags(seconds, connections), url],
                         capture_output=True, text=True, check=False)
    out = run.stdout + run.stderr
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    # wrk prints these lines only when something went wrong
    failed = re.search(r"Non-2xx or 3xx responses|Socket errors", out)
    if run.returncode != 0 or rps is None or p50 is None or p99 is None or failed is not None:
        raise SystemExit(f"wrk failed or saw errors on {url}:\n{out}")
    return Result(float(rps.group(1)), float(p50.group(1)) * _UNIT_MS[p50.group(2)],
                  float(p99.group(1)) * _UNIT_MS[p99.group(2)])


def measure(database_url: str, opts: argparse.Namespace,
            ) -> list[list[tuple[Endpoint, Result]]]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level",
               "warning", "--no-access-log"]
    ports = {"hello": free_port(), "app": free_port(), "unkept": free_port()}
    targets = [(e, url_of(ports[e.server], e)) for e in endpoints(opts.tenders)]
    first = {e.server: url for e, url in reversed(targets)}  # each server's first URL
    servers: list[subprocess.Popen[bytes]] = []
    try:
        servers.append(start([*uvicorn, "--port", str(ports["app"]), "--factory",
                              "app:create_app"], env, first["app"]))
        servers.append(start([*uvicorn, "--port", str(ports["unkept"]), "--factory",
                              "app:create_app"], {**env, "READ_CACHE_ENTRIES": "0"},
                             first["unkept"]))
        servers.append(start([*uvicorn, "--port", str(ports["hello"]), "bench.hello:app"], env,
                             first["hello"]))
        for endpoint, url in targets:
            check(url, endpoint)
        for _, url in targets:  # warm up every server and every query's plan
            load(url, WARM_UP_SECONDS, opts.connections)
        return [[(e, load(url, opts.seconds, opts.connections)) for e, url in targets]
                for _ in range(opts.runs)]
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=10)


async def create_database(base_url: str, name: str, tenders: int) -> str:
    admin = await connect(base_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    await upgrade_async(url)
    await seed(url, tenders)
    return url


async def drop_database(base_url: str, name: str) -> None:
    admin = await connect(base_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def report(runs: list[list[tuple[Endpoint, Result]]], opts: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores; uvicorn 1 worker each (the app twice: answers "
          f"kept, and READ_CACHE_ENTRIES=0); "
          f"wrk {' '.join(wrk_flags(opts.seconds, opts.connections))}; "
          f"{opts.tenders} published tenders")
    for n, results in enumerate(runs, start=1):
        hello = results[0][1]
        plain = results[1][1]
        print(f"run {n}/{len(runs)}")
        print(f"{'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'req/s / hello':>14} {'req/s / list':>13}  query")
        for endpoint, r in results:
            query = "&".join(f"{k}={v}" for k, v in endpoint.query.items())
            print(f"{endpoint.label:<30} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                  f"{r.rps / hello.rps:>14.4f} {r.rps / plain.rps:>13.2f}  "
                  f"{endpoint.path}{'?' + query if query else ''}")
    labels = [e.label for e, _ in runs[0]]

    def summary(list_label: str, keyword_label: str) -> str:
        at = labels.index(list_label)
        ratios = [r[at][1].rps / r[0][1].rps for r in runs]
        p99s = [r[at][1].p99_ms for r in runs]
        keyword = [r[at][1].rps / r[labels.index(keyword_label)][1].rps for r in runs]
        return (f"req/s / hello min {min(ratios):.4f} median {statistics.median(ratios):.4f}; "
                f"p99 min {min(p99s):.1f} ms median {statistics.median(p99s):.1f} ms; "
                f"list / keyword 1% median {statistics.median(keyword):.2f}x")

    print(f"over {len(runs)} runs at {opts.connections} connections:")
    print(f"  tender list, page 1, answers kept: "
          f"{summary('tender list, page 1', 'tender list, keyword 1%')}")
    print(f"  tender list, page 1, nothing kept: "
          f"{summary('nothing kept: list, page 1', 'nothing kept: keyword 1%')}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tenders", type=int, default=10000)
    opts = parser.parse_args()
    if opts.tenders < 2 * PAGE_SIZE * len(REGIONS):
        parser.error(f"--tenders must be at least {2 * PAGE_SIZE * len(REGIONS)}: "
                     "the region query reads its second page")

    base = Settings.from_env().database.url
    name = f"th_bench_{secrets.token_hex(4)}"
    try:
        url = asyncio.run(create_database(base, name, opts.tenders))
        runs = measure(url, opts)
    finally:
        asyncio.run(drop_database(base, name))
    report(runs, opts)


if __name__ == "__main__":
    main()
