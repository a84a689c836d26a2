"""Streamed envelopes: openssl opens ours, we open openssl's -stream output, memory stays flat."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import envelope, stream
from signing.ca import KeyType
from tests.conftest import ROOT
from tests.signing.conftest import PKI, damaged


def blob(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("aead", [True, False])
@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_streamed_envelope_opens_with_openssl_and_here(pki: PKI, tmp_path: Path, aead: bool,
                                                       key_type: KeyType) -> None:
    me = pki.ca1.issue(cn="流式投标人", purpose="encryption", key_type=key_type)
    content = blob(3 * stream.PIECE + 123)
    sealed = io.BytesIO()
    assert stream.seal_stream(io.BytesIO(content), sealed, [envelope.Recipient(me.cert)],
                              aead=aead) == len(content)
    path = tmp_path / "bid.p7m"
    path.write_bytes(sealed.getvalue())
    cert, key, _ = pki.files(me, f"stream-{key_type}")
    out = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in",
                          str(path), "-recip", str(cert), "-inkey", str(key)],
                         capture_output=True, check=False)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == content
    opened = io.BytesIO()
    stream.open_stream(io.BytesIO(sealed.getvalue()), opened, cert=me.cert, key=me.key)
    assert opened.getvalue() == content
    # the in-memory parser reads the BER form too (recipients for the S2 check)
    assert envelope.parse(sealed.getvalue()).is_for(me.cert)


@pytest.mark.parametrize("cipher", ["-aes256", "-aes-256-gcm"])
def test_openssl_streamed_output_opens_here(pki: PKI, tmp_path: Path, cipher: str) -> None:
    me = pki.ca1.issue(cn="接收", purpose="encryption", key_type="rsa2048")
    cert, _, _ = pki.files(me, "stream-recv")
    content = blob(5 * stream.PIECE + 7)
    (tmp_path / "in.bin").write_bytes(content)
    out = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-stream", cipher,
                          "-outform", "DER", "-in", str(tmp_path / "in.bin"), str(cert)],
                         capture_output=True, check=False)
    assert out.returncode == 0, out.stderr.decode()
    opened = io.BytesIO()
    stream.open_stream(io.BytesIO(out.stdout), opened, cert=me.cert, key=me.key)
    assert opened.getvalue() == content
    # and with a handed-over content key instead of the private key
    cek = envelope.unwrap_key(envelope.parse(out.stdout), me.cert, me.key)
    again = io.BytesIO()
    stream.open_stream(io.BytesIO(out.stdout), again, cek=cek)
    assert again.getvalue() == content


def test_tampering_and_wrong_keys(pki: PKI) -> None:
    me = pki.ca1.issue(cn="篡改", purpose="encryption", key_type="p256")
    content = blob(2 * stream.PIECE)
    sealed = io.BytesIO()
    stream.seal_stream(io.BytesIO(content), sealed, [envelope.Recipient(me.cert)])
    data = bytearray(sealed.getvalue())
    data[len(data) // 2] ^= 1
    with pytest.raises(envelope.WrongKey):
        stream.open_stream(io.BytesIO(bytes(data)), io.BytesIO(), cert=me.cert, key=me.key)
    with pytest.raises(envelope.WrongKey):
        stream.open_stream(io.BytesIO(sealed.getvalue()), io.BytesIO(), cek=b"\x01" * 32)
    for cut in (0, 10, len(data) // 3, len(data) - 3):
        with pytest.raises(envelope.EnvelopeError):
            stream.open_stream(io.BytesIO(sealed.getvalue()[:cut]), io.BytesIO(),
                               cert=me.cert, key=me.key)


MEMORY_SCRIPT = r"""
import io, json, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from signing import envelope, stream
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
size = int(sys.argv[1])

class Source(io.RawIOBase):
    def __init__(self): self.left = size
    def readable(self): return True
    def read(self, n=-1):
        n = min(n if n > 0 else 1 << 20, self.left)
        self.left -= n
        return b"\xab" * n

class Sink(io.RawIOBase):
    def __init__(self): self.n = 0
    def writable(self): return True
    def write(self, b): self.n += len(b); return len(b)

with open(sys.argv[4], "wb") as f:
    stream.seal_stream(Source(), f, [envelope.Recipient(cert)])
sink = Sink()
with open(sys.argv[4], "rb") as f:
    stream.open_stream(f, sink, cert=cert, key=key)
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({"written": sink.n, "peak_mb": peak / 1024}))
"""


def test_memory_stays_flat_for_200_mb(pki: PKI, tmp_path: Path) -> None:
    me = pki.ca1.issue(cn="大文件", purpose="encryption", key_type="p256")
    cert, key, _ = pki.files(me, "big")
    size = 200 * 1024 * 1024
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(size), str(cert), str(key),
                          str(tmp_path / "big.p7m")], cwd=ROOT, capture_output=True, text=True,
                         check=False, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["written"] == size
    print(f"\n200 MB sealed and opened as streams: peak RSS {result['peak_mb']:.0f} MB")
    assert result["peak_mb"] < 100, result


@pytest.fixture(scope="module")
def sealed_sample(pki: PKI) -> tuple[bytes, object, object]:
    me = pki.ca1.issue(cn="样本", purpose="encryption", key_type="rsa2048")
    out = io.BytesIO()
    stream.seal_stream(io.BytesIO(b"sample" * 5000), out, [envelope.Recipient(me.cert)])
    return out.getvalue(), me.cert, me.key


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_is_an_envelope_error(sealed_sample: tuple[bytes, object, object],
                                      data: st.DataObject) -> None:
    good, cert, key = sealed_sample
    kind, bad = damaged(data, good, flip=0x5A)
    out = io.BytesIO()
    try:
        stream.open_stream(io.BytesIO(bad), out, cert=cert, key=key)  # type: ignore[arg-type]
    except envelope.EnvelopeError:
        return
    # a change to a field nothing depends on (a version number, say) may still open;
    # what comes out is then exactly the sealed content, never anything else
    assert kind == "flipped" and out.getvalue() == b"sample" * 5000
