"""End-to-end tests: real server processes, a real browser."""

from __future__ import annotations

import time

import httpx


def wait_healthy(url: str, seconds: float = 30) -> bool:
    """Poll /healthz until it answers 200; False if it never does in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
