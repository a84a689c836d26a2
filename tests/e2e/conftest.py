"""Fixtures for the browser tests: the app under uvicorn and Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from core.settings import Settings
from tests.conftest import ROOT
from tests.e2e import wait_healthy

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_server(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn, on the test run's database and buckets."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": settings.database.url,
           "S3_BUCKET_PREFIX": settings.storage.bucket_prefix, "LOG_JSON": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(err.decode() or "server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian chromium is installed by make test (scripts/sysdeps.sh)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()
