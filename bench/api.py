"""Tender list vs a bare Litestar hello-world, same server, same run.

Starts both under uvicorn (one worker each, same flags), seeds published
tenders in a database of its own, loads each with wrk in turn, and prints
requests per second of each and their ratio. Needs the services of
``make bench`` (or DATABASE_URL, REDIS_URL, S3_* and SESSION_SECRET set).

    python bench/api.py [--seconds 10] [--connections 32] [--tenders 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import audit, uscc  # noqa: E402
from core.db import connect  # noqa: E402
from core.identity import service as identity  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.settings import Settings  # noqa: E402


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
            await conn.executemany(
                """INSERT INTO tenders (code, title, region, owner_org_id, budget, status,
                                        published_at)
                   VALUES ($1, $2, '四川省雅安市', $3, $4, 'published', now() - $5 * interval '1 minute')""",
                [(f"BENCH-{i:05d}", f"基准测试项目 {i}", org["id"], Decimal("1000000.00") + i, i)
                 for i in range(count)])
    finally:
        await conn.close()


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


def load(url: str, seconds: int, connections: int) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it)")
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None or errors is not None:
        raise SystemExit(f"wrk failed or saw errors:\n{out}")
    return float(match.group(1))


def measure(database_url: str, opts: argparse.Namespace) -> tuple[float, float]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level",
               "warning", "--no-access-log"]
    app_port, hello_port = free_port(), free_port()
    list_url = f"http://127.0.0.1:{app_port}/api/tenders/?page=3&page_size=20"
    hello_url = f"http://127.0.0.1:{hello_port}/"
    app = start([*uvicorn, "--port", str(app_port), "--factory", "app:create_app"], env, list_url)
    hello = start([*uvicorn, "--port", str(hello_port), "bench.hello:app"], env, hello_url)
    try:
        assert len(httpx.get(list_url).json()["items"]) == 20
        load(list_url, 2, opts.connections)  # warm up both
        load(hello_url, 2, opts.connections)
        hello_rps = load(hello_url, opts.seconds, opts.connections)
        list_rps = load(list_url, opts.seconds, opts.connections)
    finally:
        for proc in (app, hello):
            proc.terminate()
            proc.wait(timeout=10)
    return hello_rps, list_rps


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenders", type=int, default=500)
    opts = parser.parse_args()

    base = Settings.from_env().database.url
    name = f"th_bench_{secrets.token_hex(4)}"
    try:
        url = asyncio.run(create_database(base, name, opts.tenders))
        hello_rps, list_rps = measure(url, opts)
    finally:
        asyncio.run(drop_database(base, name))
    print(f"machine: {os.cpu_count()} cores; uvicorn 1 worker each; wrk -t2 -c{opts.connections} "
          f"-d{opts.seconds}s")
    print(f"bare Litestar hello-world   {hello_rps:10.0f} req/s")
    print(f"GET /api/tenders (20 of {opts.tenders}) {list_rps:10.0f} req/s")
    print(f"ratio tender list / hello   {list_rps / hello_rps:10.2f}")


if __name__ == "__main__":
    main()
