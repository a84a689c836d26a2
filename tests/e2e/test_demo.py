"""The scripted demo life cycle, run by the real commands against a real server and worker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Settings
from tests.conftest import ROOT
from tests.e2e import wait_healthy

CLI = [sys.executable, "-c", "from app import cli; cli()"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def demo_env(settings: Settings, scratch_db: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A database of its own: the demo commits, and other tests must not see its data."""
    port = _port()
    migrated = subprocess.run([*CLI, "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "DATABASE_URL": scratch_db}, check=False)
    assert migrated.returncode == 0, migrated.stderr
    env = {**os.environ, "DATABASE_URL": scratch_db,
           "S3_BUCKET_PREFIX": settings.storage.bucket_prefix,
           "REDIS_QUEUE": f"test:demo:{port}", "DEV_CA_DIR": str(tmp_path / "ca"),
           "DEMO_PASSWORD": "demo-test-pass", "URL": f"http://127.0.0.1:{port}"}
    pki = subprocess.run([*CLI, "demo-pki", "--crl-base", f"http://127.0.0.1:{port}/ca"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert pki.returncode == 0, pki.stderr
    env["TSA_CERT_FILE"] = str(tmp_path / "ca" / "tsa" / "tsa.crt.pem")
    env["TSA_KEY_FILE"] = str(tmp_path / "ca" / "tsa" / "tsa.key.pem")
    env["PLATFORM_CERT_FILE"] = str(tmp_path / "ca" / "platform" / "platform.crt.pem")
    env["PLATFORM_KEY_FILE"] = str(tmp_path / "ca" / "platform" / "platform.key.pem")
    web_log = (tmp_path / "web.log").open("w")
    web = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:create_app", "--factory",
                            "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=web_log)
    worker = subprocess.Popen([*CLI, "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # the server makes its buckets (object lock) before it answers: on a busy S3 server
        # that alone has taken more than the usual 30 s
        assert wait_healthy(env["URL"], seconds=120), "the demo server did not start"
        yield env
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(timeout=15)
        web_log.close()


def test_demo_life_cycle_runs_twice(demo_env: dict[str, str], tmp_path: Path) -> None:
    for attempt in (1, 2):
        out = subprocess.run([*CLI, "demo", "--url", demo_env["URL"]], cwd=ROOT, env=demo_env,
                             capture_output=True, text=True, check=False, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[")]
        assert len(lines) == 15, out.stdout
        assert "6 bidders, 12 experts" in lines[0]
        assert "postgresql ok, redis ok, s3 ok" in lines[1]
        assert "bidder1 signed in" in lines[2] and "bidder2 signed in" in lines[2]
        assert ("already published" in lines[3]) == (attempt == 2)
        assert "6 bidders obtained the documents (6 holders recorded)" in lines[4]
        assert "6 bidders sealed and submitted 9 bids (lot 1: 6, lot 2: 3; " + (
            "9 new)" if attempt == 1 else "kept)") in lines[5], lines[5]
        if attempt == 1:
            assert "bidder2 replaced its lot 1 bid" in lines[6] and "superseded" in lines[6]
            assert "demo clock" in lines[7] and "demo.schedule_shifted" in lines[7]
            assert "refused, bid_deadline_passed 投标截止时间已过" in lines[8], lines[8]
            # the worker may have closed the documents period in between; the deadline is ours
            assert re.search(r"chronograph fired (documents_closed and )?deadline", lines[9])
        else:
            assert "already replaced its lot 1 bid (kept)" in lines[6]
            assert "the bid deadline passed at" in lines[7] and "(kept)" in lines[7]
            # late is late, whether or not bidding has been closed since
            assert "refused, bid_deadline_passed 投标截止时间已过" in lines[8], lines[8]
        # the first run leaves the tender opened (both lots read), so the second finds it so
        assert f"tender {'bidding_closed' if attempt == 1 else 'opened'}" in lines[9], lines[9]
        assert "lot 1: 6 bids, lot 2: 3 bids" in lines[9]
        # the opening: eight bids opened by their bidders, bidder6's by the officers' shares
        if attempt == 1:
            assert "bidders decrypted 8 bids" in lines[10], lines[10]
            assert "lot 1: 5 of 6 read, lot 2: 3 of 3 read" in lines[10], lines[10]
            assert "2 of the 3 officers handed over their shares" in lines[11], lines[11]
        else:
            assert "(8 kept)" in lines[10] and "lot 1: 6 of 6 read" in lines[10], lines[10]
            assert "0 of the 3 officers" in lines[11], lines[11]
        assert "demo action" in lines[11] and "discarded the key" in lines[11], lines[11]
        assert "objected to lot 1's reading and the host answered" in lines[12], lines[12]
        assert "signed opening record" in lines[12], lines[12]
        assert "RFC 3161 timestamp" in lines[13]
        # the portal's back catalogue, written once
        assert ("portal: 40 tenders of the past two months in 8 cities" in lines[14]) == (
            attempt == 1), lines[14]
        assert ("portal: 40 tenders of the past two months kept" in lines[14]) == (
            attempt == 2), lines[14]
        assert "password for all: demo-test-pass" in out.stdout
        assert f"My bids: {demo_env['URL']}/bids" in out.stdout
    url = demo_env["URL"]
    listing = httpx.get(f"{url}/api/tenders/", params={"q": "YA-JT-2026-0001"}).json()
    assert listing["total"] == 1
    # a portal: the scripted tender among forty others, in every section of the home page
    assert httpx.get(f"{url}/api/tenders/").json()["total"] == 41
    home = httpx.get(f"{url}/").text
    for section in ("tender-list", "change-list", "opening-list", "next-page"):
        assert f'data-testid="{section}"' in home, section
    # the worker renders and seals the notice PDF after the publication committed
    tender_id = listing["items"][0]["id"]
    for _ in range(60):
        pdf = httpx.get(f"{url}/api/tenders/{tender_id}/notices/0/pdf")
        if pdf.status_code == 200:
            break
        time.sleep(0.5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text
    assert b"/ByteRange" in pdf.content  # sealed
    _check_bids(demo_env, tmp_path, tender_id)
    _check_opening(demo_env, tmp_path, listing["items"][0])


def _check_opening(env: dict[str, str], tmp_path: Path, tender: dict[str, Any]) -> None:
    """Eight bids opened by their bidders and bidder6's by the officers; the signed record."""
    url = env["URL"]
    detail = httpx.get(f"{url}/api/tenders/{tender['id']}").json()
    lot1 = next(x for x in detail["lots"] if x["number"] == 1)
    state = httpx.get(f"{url}/api/lots/{lot1['id']}/hall").json()
    by = sorted(b["reading"]["by"] for b in state["bids"])
    assert by == ["bidder"] * 5 + ["officers"], state["bids"]
    with _signed_in(url, "bidder6") as http:
        mine = http.get("/api/bids/mine", params={"tender_id": tender["id"]}).json()
    (own,) = [b for b in mine if b["lot_number"] == 1]
    officers = next(b for b in state["bids"] if b["reading"]["by"] == "officers")
    assert officers["bid_id"] == own["id"]
    assert [j["answer"] is not None for j in state["objections"]] == [True]
    records = sorted((tmp_path / "records").glob("opening-record-lot1-v*.pdf"))
    assert records, "the demo keeps the signed record"
    out = subprocess.run(["pdfsig", "-nocert", "-no-ocsp", str(records[-1])],
                         capture_output=True, text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr


@contextmanager
def _signed_in(url: str, login: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/api/auth/login", json={"login": login, "password": "demo-test-pass"})
        assert r.status_code == 200, r.text
        yield http


def _check_bids(env: dict[str, str], tmp_path: Path, tender_id: str) -> None:
    """Six bidders with current bids, one superseded, receipts that openssl checks."""
    url = env["URL"]
    statuses: dict[tuple[str, int], list[str]] = {}
    for i in range(1, 7):
        with _signed_in(url, f"bidder{i}") as http:
            mine = http.get("/api/bids/mine", params={"tender_id": tender_id}).json()
        for bid in mine:
            statuses.setdefault((f"bidder{i}", bid["lot_number"]), []).append(bid["status"])
    assert {k for k, v in statuses.items() if "submitted" in v} == {
        *((f"bidder{i}", 1) for i in range(1, 7)), ("bidder1", 2), ("bidder4", 2), ("bidder5", 2)}
    assert all(v == ["submitted"] for k, v in statuses.items() if k != ("bidder2", 1))
    assert sorted(statuses["bidder2", 1]) == ["submitted", "superseded"]
    with _signed_in(url, "agency.li") as http:
        counts = http.get(f"/api/tenders/{tender_id}/bid-counts").json()
    assert [(c["number"], c["bids"]) for c in counts] == [(1, 6), (2, 3)]
    assert _demo_shifts(env["DATABASE_URL"]) == 1  # audited once, not again on the second run

    # the revised bid's receipt, checked by openssl alone, names the bid it replaces
    folder = tmp_path / "bids" / "bidder2"
    sealed, receipt = folder / "lot-1-revised" / "sealed", folder / "lot-1-revised" / "sealed" / "receipt"
    root = tmp_path / "ca" / "ca-a" / "root.crt.pem"
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(receipt / "receipt.p7s"),
                  "-CAfile", str(root), "-purpose", "any")
    assert out.returncode == 0, out.stderr
    fields = json.loads(out.stdout)
    assert fields == json.loads((receipt / "receipt.json").read_bytes())
    first = json.loads((folder / "lot-1" / "sealed" / "receipt" / "receipt.json").read_bytes())
    assert fields["replaces"] == first["bid"] and first["replaces"] is None
    assert fields["bid_p7m"]["sha256"] == hashlib.sha256(
        (sealed / "bid.p7m").read_bytes()).hexdigest()
    assert fields["received_at"] < fields["bid_deadline"]
    out = openssl("ts", "-verify", "-data", str(receipt / "receipt.p7s"), "-in",
                  str(receipt / "receipt.tst"), "-token_in", "-CAfile", str(root),
                  "-untrusted", env["TSA_CERT_FILE"])
    assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stderr

    # a bidder opens its own sealed bid with the tool (an SM2 one: CA 丙)
    opened = subprocess.run(
        [*CLI, "bid", "decrypt", str(tmp_path / "bids" / "bidder3" / "lot-1" / "sealed" / "bid.p7m"),
         "--p12", str(tmp_path / "certs" / "bidder3-encryption.p12"),
         "--roots", str(tmp_path / "ca" / "ca-c" / "root.crt.pem"), "--out",
         str(tmp_path / "opened")], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**env, "P12_PASSWORD": "demo-test-pass"}, timeout=60)
    assert opened.returncode == 0, opened.stderr
    sheet = json.loads((tmp_path / "opened" / "price.json").read_bytes())
    assert sheet["total_price"] == "22978000.00" and sheet["lot"] == 1
    assert (tmp_path / "opened" / "投标函.pdf").read_bytes().startswith(b"%PDF")


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False,
                          timeout=60)


def _demo_shifts(database_url: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            found: int = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'demo.schedule_shifted'")
            return found
        finally:
            await conn.close()
    return asyncio.run(count())
