"""The platform as a real process: started on a free port, stopped, or killed outright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.commands import KEEP_ALIVE_S
from core.settings import Settings
from tests.conftest import ROOT
from tests.e2e import wait_healthy

LOGS = ROOT / "var" / "test-servers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a server needs to work on the test run's database, buckets and keys."""
    return {**os.environ, "DATABASE_URL": settings.database.url,
            "S3_BUCKET_PREFIX": settings.storage.bucket_prefix, "LOG_JSON": "true",
            # sign-in failures and jobs in the shared Redis: the run's own, as in-process
            "LOGIN_KEY_PREFIX": settings.login.key_prefix, "REDIS_QUEUE": settings.redis.queue,
            "PLATFORM_CERT_FILE": settings.platform_cert_file,
            "PLATFORM_KEY_FILE": settings.platform_key_file,
            "TSA_CERT_FILE": settings.tsa_cert_file, "TSA_KEY_FILE": settings.tsa_key_file,
            "SHARE_HOLD_KEY": settings.share_hold_key, **extra}


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def killed(self) -> bool:
        """True once the process ended by SIGKILL (a crash test's own doing)."""
        return self.proc.poll() == -9


def start(settings: Settings, **extra: str) -> Server:
    """A server process; its log goes to a file (a pipe nobody reads would fill and stall it)."""
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"server-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:create_app", "--factory", "--host",
             "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--timeout-keep-alive", str(KEEP_ALIVE_S),
             "--http", "core.server:BoundedHttpToolsProtocol"],
            cwd=ROOT, env=server_env(settings, **extra), stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url):
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(log.read_text()[-4000:] or "server did not start")
    return Server(url, proc, log)
