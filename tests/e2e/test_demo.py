"""The scripted demo life cycle, run by the real commands against a real server and worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
        assert wait_healthy(env["URL"]), "the demo server did not start"
        yield env
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(timeout=15)
        web_log.close()


def test_demo_life_cycle_runs_twice(demo_env: dict[str, str]) -> None:
    for attempt in (1, 2):
        out = subprocess.run([*CLI, "demo", "--url", demo_env["URL"]], cwd=ROOT, env=demo_env,
                             capture_output=True, text=True, check=False, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[")]
        assert len(lines) == 6, out.stdout
        assert "6 bidders, 12 experts" in lines[0]
        assert "postgresql ok, redis ok, s3 ok" in lines[1]
        assert "bidder1 signed in" in lines[2] and "bidder2 signed in" in lines[2]
        assert ("already published" in lines[3]) == (attempt == 2)
        assert "6 bidders obtained the documents (6 holders recorded)" in lines[4]
        assert "RFC 3161 timestamp" in lines[5]
        assert "password for all: demo-test-pass" in out.stdout
    listing = httpx.get(f"{demo_env['URL']}/api/tenders/", params={"q": "YA-JT-2026-0001"}).json()
    assert listing["total"] == 1
    # the worker renders and seals the notice PDF after the publication committed
    tender_id = listing["items"][0]["id"]
    for _ in range(60):
        pdf = httpx.get(f"{demo_env['URL']}/api/tenders/{tender_id}/notices/0/pdf")
        if pdf.status_code == 200:
            break
        time.sleep(0.5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text
    assert b"/ByteRange" in pdf.content  # sealed
