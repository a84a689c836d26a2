"""Fixtures for the browser tests: the app under uvicorn and Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from core.settings import Settings
from tests.conftest import ROOT
from tests.e2e import servers

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="module")
def live_server(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn, on the test run's database and buckets."""
    server = servers.start(settings)
    yield server.url
    server.stop()


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
