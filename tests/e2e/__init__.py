"""End-to-end tests: real server processes, a real browser."""

from __future__ import annotations

import time

import httpx


def wait_healthy(url: str, seconds: float = 30) -> bool:
    """Poll /healthz until it answers 200; False if it never does in time. One client for all
    the polls: a new one each time costs 40 ms of CPU (its TLS context), a dozen per start."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            try:
                if http.get(f"{url}/healthz").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    return False
