"""A small PKI for the signing tests: three independent development CAs (P-256, RSA, SM2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import strategies as st

from signing.ca import DevCA, Issued
from signing.pathval import TrustStore


@dataclass
class PKI:
    ca1: DevCA
    ca2: DevCA
    ca3: DevCA  # SM2/SM3
    dir: Path

    def trust(self, *cas: DevCA, mode: str = "hard-fail") -> TrustStore:
        cas = cas or (self.ca1,)
        return TrustStore(
            roots=[TrustStore.load_cert(ca.root.public_bytes(serialization.Encoding.PEM)) for ca in cas],
            intermediates=[TrustStore.load_cert(ca.issuing.public_bytes(serialization.Encoding.PEM))
                           for ca in cas],
            crls=[ca.crl_der() for ca in cas], revocation_mode=mode)

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def files(self, issued: Issued, name: str) -> tuple[Path, Path, Path]:
        """cert, key and chain (issuing CA) as PEM files for openssl."""
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain[:1])
        return (self.write(f"{name}.crt", issued.cert_pem()), self.write(f"{name}.key", issued.key_pem()),
                self.write(f"{name}.chain", chain))

    def root_file(self, ca: DevCA) -> Path:
        return self.write(f"{ca.meta['name']}-root.pem", ca.root.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    ca1 = DevCA(base / "ca1")
    ca1.init("天衡测试CA一", crl_url="http://127.0.0.1:8000/ca/ca1/crl.der", key_type="p256",
             now=past(100))
    ca2 = DevCA(base / "ca2")
    ca2.init("天衡测试CA二", crl_url="http://127.0.0.1:8000/ca/ca2/crl.der", key_type="rsa2048",
             now=past(100))
    ca3 = DevCA(base / "ca3")
    ca3.init("国密测试CA三", crl_url="http://127.0.0.1:8000/ca/ca3/crl.der", key_type="sm2",
             now=past(100))
    return PKI(ca1, ca2, ca3, base)


def past(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def damaged(data: st.DataObject, good: bytes, *, flip: int = 0xFF) -> tuple[str, bytes]:
    """Random bytes, a truncation of ``good``, or ``good`` with one byte flipped."""
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return kind, data.draw(st.binary(max_size=3000))
    if kind == "truncated":
        return kind, good[:data.draw(st.integers(0, len(good) - 1))]
    pos = data.draw(st.integers(0, len(good) - 1))
    return kind, good[:pos] + bytes([good[pos] ^ flip]) + good[pos + 1:]
