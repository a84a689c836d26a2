"""An S3 server of a test's own (single-node Ceph radosgw, memstore), to break on purpose.

The suite's shared S3 server is never stopped by a test. A test that must kill the
store mid-request starts this one (scripts/ceph.sh, about 4 s on the project's
machines), kills and restarts its gateway as it needs, and stops it at the end.
The cluster (mon, OSD) stays up while the gateway is killed, as when a gateway
process dies in production: what radosgw left in RADOS, its completion locks
included, is still there when the gateway comes back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from tests.conftest import ROOT

CEPH = ROOT / "scripts" / "ceph.sh"
META_POOL = "default.rgw.buckets.non-ec"  # where radosgw keeps a multipart upload's meta object


def _free_block(size: int = 20) -> int:
    """A port P with P..P+size-1 all free on loopback (ceph.sh uses 20 from P)."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(2000) * 20
        try:
            held = []
            for port in range(base, base + size):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
        return base
    raise RuntimeError("no free block of ports")


@dataclass
class OwnS3:
    state: Path
    port: int
    env: dict[str, str]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CEPH), *args], env=self.env, capture_output=True, text=True,
                              check=False, timeout=180)

    def start(self) -> None:
        out = self._run("start", str(self.state), str(self.port), "memstore")
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])

    def kill_gateway(self) -> None:
        """SIGKILL radosgw (only it: the cluster stays up)."""
        pid = int((self.state / "rgw.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)

    def rados(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["rados", *args], env={**self.env, "CEPH_CONF": str(
            self.state / "ceph.conf")}, capture_output=True, text=True, check=False, timeout=60)

    def hold_completion_lock(self, s3_upload_id: str) -> bool:
        """Take radosgw's completion lock on an upload's meta object, as a gateway killed
        mid-completion leaves it (for rgw_mp_lock_max_time, 600 s); False when the upload's
        meta object is gone (the completion finished before the kill)."""
        listed = self.rados("-p", META_POOL, "ls").stdout.split()
        meta = next((o for o in listed if s3_upload_id in o and o.endswith(".meta")), None)
        if meta is None:
            return False
        out = self.rados("-p", META_POOL, "lock", "get", meta, "RGWCompleteMultipart",
                         "--lock-cookie", "killed-gateway", "--lock-duration", "600",
                         "--lock-type", "exclusive")
        if out.returncode != 0:  # the killed gateway holds it already
            assert "Device or resource busy" in out.stderr or "exists" in out.stderr, out.stderr
        return True

    def stop(self) -> None:
        self._run("stop", str(self.state))
        shutil.rmtree(self.state, ignore_errors=True)


def start(settings: Settings) -> OwnS3:
    # short and free of spaces: ceph.sh refuses others
    state = Path(f"/tmp/th-s3-{secrets.token_hex(4)}")
    env = {**os.environ, "S3_ACCESS_KEY": settings.storage.access_key,
           "S3_SECRET_KEY": settings.storage.secret_key}
    s3 = OwnS3(state, _free_block(), env)
    s3.start()
    return s3
