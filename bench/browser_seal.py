"""Sealing and uploading a bid in the page against the bidder tool, same file, same run.

One bidder, one file of ``--size-mb`` random bytes (nothing deflates it):

- tool: ``tenderhall bid seal`` then ``tenderhall bid submit`` (its own process, as a bidder
  runs it), timed from start to the receipt;
- page: Debian chromium through Playwright, the sealing page (templates/bids/seal.html): the
  PKCS#12 opened in the page, the file picked, the price sheet filled, timed from the click on
  "seal and submit" to the receipt on the page. The page's memory is the peak resident set of
  the chromium renderer processes, sampled every 50 ms with psutil
  (``performance.measureUserAgentSpecificMemory`` needs a cross-origin-isolated page, which
  the platform's pages are not), against the same renderer's before the seal.

Each prints MB/s (bid.p7m bytes / seconds) and the page's ratio to the tool (goal >= 0.5).
``--sizes`` runs the page alone again at larger sizes, to show that its memory does not grow
with the bid (the lot's ``max_bid_bytes`` is raised for the run). It runs on a database,
bucket prefix and API process of its own (bench/common.py), removed at the end:

    scripts/with-env.sh bench python bench/browser_seal.py [--size-mb 100] [--sizes 500,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psutil
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MIB, bench_run  # noqa: E402
from core.auth import create_api_key  # noqa: E402
from core.identity import service as identity  # noqa: E402
from tests.conftest import PASSWORD, committed, credit_code  # noqa: E402
from tests.e2e import bid_world  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
P12_PASSWORD = "bench-p12"


class RendererPeak:
    """The peak RSS of chromium's renderer processes under this process, every 50 ms."""

    def __init__(self) -> None:
        self.stop, self.peak = threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def now() -> int:
        total = 0
        for p in psutil.Process().children(recursive=True):
            try:
                if "--type=renderer" in " ".join(p.cmdline()):
                    total = max(total, p.memory_info().rss)
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


async def bidder(settings: Any, url: str, world: bid_world.BidWorld, tmp: Path) -> dict[str, Any]:
    code = credit_code()
    name = f"基准投标单位{secrets.token_hex(3)}"
    conn = await committed(settings.database.url)
    try:
        async with conn.transaction():
            org = await identity.create_organization(conn, bid_world.SYSTEM, credit_code=code,
                                                     name=name, kind="bidder")
            login = f"bench-{secrets.token_hex(4)}"
            user = await identity.create_user(conn, bid_world.SYSTEM, login=login, name="经办",
                                              roles=["bidder"], password=PASSWORD,
                                              organization_id=org["id"])
            _, key = await create_api_key(conn, secret_key=settings.web.session_secret,
                                          user_id=user, name="bench tool", days=1)
            await conn.execute("UPDATE lots SET max_bid_bytes = 5368709120 WHERE tender_id = $1",
                               world.tender["id"])
    finally:
        await conn.close()
    signer = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="signing")
    enc = world.ca.issue(cn=f"{name}经办人", org=name, credit_code=code, purpose="encryption")
    (tmp / "sign.p12").write_bytes(signer.pkcs12(P12_PASSWORD.encode()))
    (tmp / "enc.crt").write_bytes(enc.cert.public_bytes(Encoding.PEM))
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 headers={"authorization": f"Bearer {key}"}) as http:
        (await http.post(f"/api/tenders/{world.tender['id']}/documents/obtain")).raise_for_status()
    return {"login": login, "name": name, "code": code, "api_key": key}


def random_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for left in range(size, 0, -8 * MIB):
            out.write(os.urandom(min(8 * MIB, left)))


def tool(url: str, world: bid_world.BidWorld, who: dict[str, Any], folder: Path,
         tmp: Path) -> tuple[float, int]:
    """``tenderhall bid seal`` + ``submit``: seconds and bid.p7m bytes."""
    sheet = {"format": 1, "tender_code": world.tender["code"], "lot": 1,
             "bidder": {"name": who["name"], "credit_code": who["code"]}, "total_price": "100.00"}
    (folder / "price.json").write_text(json.dumps(sheet, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "TENDERHALL_URL": url, "P12_PASSWORD": P12_PASSWORD,
           "TENDERHALL_API_KEY": who["api_key"], "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "from app import cli; cli()", "bid"]
    out = tmp / "out"
    started = time.perf_counter()
    subprocess.run([*cli, "seal", str(folder), "--tender", world.tender["id"], "--lot", "1",
                    "--p12", str(tmp / "sign.p12"), "--encryption-cert", str(tmp / "enc.crt"),
                    "--out", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
    sealed = time.perf_counter()
    subprocess.run([*cli, "submit", str(out), "--tender", world.tender["id"], "--lot", "1"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    done = time.perf_counter()
    print(f"  tool: seal {sealed - started:.1f} s, submit {done - sealed:.1f} s")
    size = (out / "bid.p7m").stat().st_size
    (folder / "price.json").unlink()
    return done - started, size


def page(url: str, world: bid_world.BidWorld, who: dict[str, Any], content: Path,
         tmp: Path) -> tuple[float, int, int, int]:
    """The sealing page: seconds, bid.p7m bytes, renderer RSS before and at its peak."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        try:
            p = browser.new_context(base_url=url, locale="zh-CN").new_page()
            p.goto(f"/login?next={quote('/', safe='')}")
            p.fill("input[name=login]", who["login"])
            p.fill("input[name=password]", PASSWORD)
            p.get_by_test_id("login-submit").click()
            p.wait_for_load_state()
            p.goto(f"/tenders/{world.tender['id']}/lots/1/seal")
            p.get_by_test_id("p12-file").set_input_files(str(tmp / "sign.p12"))
            p.get_by_test_id("p12-password").fill(P12_PASSWORD)
            p.get_by_test_id("picker-use").click()
            expect(p.get_by_test_id("seal-holder")).to_be_visible()
            p.get_by_test_id("seal-enc-cert").set_input_files(str(tmp / "enc.crt"))
            p.get_by_test_id("seal-files").set_input_files(str(content))
            p.get_by_test_id("seal-total").fill("100.00")
            p.wait_for_timeout(500)
            before = RendererPeak.now()
            peak = RendererPeak()
            started = time.perf_counter()
            p.get_by_test_id("seal-submit").click()
            card = p.get_by_test_id("seal-receipt")
            expect(card).to_be_visible(timeout=3_600_000)
            seconds = time.perf_counter() - started
            top = peak.done()
            size = int(card.locator("tr[data-check=size] td").nth(2).inner_text())
            for name, ms in p.evaluate("() => performance.getEntriesByType('measure')"
                                       ".map((m) => [m.name, m.duration])"):
                print(f"  {size / MIB:6.0f} MB  {name:<52}{ms / 1000:7.2f} s")
            bad = card.locator("tr[data-ok=false]").count()
            if bad:
                raise SystemExit(f"the page's receipt has {bad} failed checks")
        finally:
            browser.close()
    return seconds, size, before, top


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--sizes", default="", help="more page-only sizes in MB, e.g. 500,1000")
    args = parser.parse_args()
    async with bench_run("browser-seal-") as run:
        url = run.running[0].url
        world = await bid_world.build(run.settings, url, run.tmp, bidders=0)
        who = await bidder(run.settings, url, world, run.tmp)
        folder = run.tmp / "bid"
        folder.mkdir()
        content = folder / "content.bin"
        random_file(content, args.size_mb * MIB)
        print(f"one bidder, {args.size_mb} MB of random content, {os.cpu_count()} cores")
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            t_tool, s_tool = await loop.run_in_executor(pool, tool, url, world, who, folder, run.tmp)
            t_page, s_page, before, top = await loop.run_in_executor(
                pool, page, url, world, who, content, run.tmp)
            rows: list[tuple[str, float, float | None, int | None, int | None]] = [
                ("tool (seal + submit)", s_tool / MIB / t_tool, 1.0, None, None),
                ("page (seal + upload)", s_page / MIB / t_page,
                 (s_page / t_page) / (s_tool / t_tool), before, top)]
            for mb in [int(x) for x in args.sizes.split(",") if x]:
                content.unlink()
                random_file(content, mb * MIB)
                t, s, b, peak = await loop.run_in_executor(pool, page, url, world, who, content,
                                                           run.tmp)
                rows.append((f"page, {mb} MB", s / MIB / t, None, b, peak))
        print(f"{'case':<24}{'MB/s':>8}{'ratio':>8}{'renderer RSS before':>22}{'peak':>10}")
        for case, speed, ratio, base, high in rows:
            print(f"{case:<24}{speed:>8.1f}{'' if ratio is None else f'{ratio:.3f}':>8}"
                  f"{'' if base is None else f'{base / MIB:.0f} MiB':>22}"
                  f"{'' if high is None else f'{high / MIB:.0f} MiB':>10}")
        await bid_world.retire(run.settings, world)


if __name__ == "__main__":
    asyncio.run(main())
