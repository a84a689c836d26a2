"""Attached signatures as streams: openssl reads ours, we read openssl's, memory stays flat."""

from __future__ import annotations

import io
import os
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import cms, envelope, sm2, stream
from signing.ca import Issued, KeyType
from signing.signed_stream import (
    extract_attached_stream,
    sign_attached_stream,
    verify_attached_stream,
)
from tests.signing.conftest import PKI, damaged

MB = 1024 * 1024


def openssl(*args: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False,
                          timeout=120)


def signed(who: Issued, content: bytes) -> bytes:
    out = io.BytesIO()
    assert sign_attached_stream(io.BytesIO(content), out, cert=who.cert, key=who.key,
                                chain=who.chain[:1]) == len(content)
    return out.getvalue()


def extracted(data: bytes) -> tuple[bytes, bytes]:
    """(the detached signature, the content)."""
    out = io.BytesIO()
    detached = extract_attached_stream(io.BytesIO(data), out)
    return detached, out.getvalue()


@pytest.mark.parametrize("key_type", ["p256", "rsa2048"])
async def test_ours_verifies_with_openssl_and_here(pki: PKI, tmp_path: Path,
                                                   key_type: KeyType) -> None:
    who = pki.ca1.issue(cn="流式签名投标人", purpose="signing", key_type=key_type)
    content = os.urandom(3 * stream.PIECE + 123)
    ours = signed(who, content)
    assert ours.startswith(b"\x30\x80") and b"\xa0\x80\x24\x80" in ours  # BER, pieces
    (tmp_path / "ours.p7m").write_bytes(ours)
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "ours.p7m",
                  "-CAfile", pki.root_file(pki.ca1), "-purpose", "any",
                  "-out", tmp_path / "content.bin")
    assert out.returncode == 0, out.stderr.decode()
    assert (tmp_path / "content.bin").read_bytes() == content

    detached, got = extracted(ours)
    assert got == content
    verified = await cms.verify(detached, trust=pki.trust(), content=got)
    assert verified.signer == who.cert
    assert verified.content is None and verified.digest_algorithm == "sha256"
    # the detached form is plain DER that openssl verifies beside the content too
    (tmp_path / "detached.p7s").write_bytes(detached)
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "detached.p7s",
                  "-content", tmp_path / "content.bin", "-CAfile", pki.root_file(pki.ca1),
                  "-purpose", "any", "-out", os.devnull)
    assert out.returncode == 0, out.stderr.decode()
    # the in-memory verifier reads the BER form as it is
    assert (await cms.verify(ours, trust=pki.trust())).content == content

    with (tmp_path / "bid.zip").open("w+b") as sink:
        verified = await verify_attached_stream(io.BytesIO(ours), sink, trust=pki.trust())
    assert verified.signer == who.cert
    assert (tmp_path / "bid.zip").read_bytes() == content


async def test_sm2_verifies_here(pki: PKI, tmp_path: Path) -> None:
    """OpenSSL 3.0's cms -verify cannot check SM2 (no distinguishing identifier): here only."""
    who = pki.ca3.issue(cn="国密流式投标人", purpose="signing", key_type="sm2")
    content = os.urandom(2 * stream.PIECE + 5)
    detached, got = extracted(signed(who, content))
    assert got == content
    verified = await cms.verify(detached, trust=pki.trust(pki.ca3), content=got)
    assert verified.digest_algorithm == sm2.SM3
    with (tmp_path / "sm2.zip").open("w+b") as sink:
        await verify_attached_stream(io.BytesIO(signed(who, content)), sink,
                                     trust=pki.trust(pki.ca3))


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize("ca_name", ["ca1", "ca2"])
async def test_openssl_attached_signature_extracts_and_verifies(pki: PKI, tmp_path: Path,
                                                                streamed: bool,
                                                                ca_name: str) -> None:
    ca = getattr(pki, ca_name)
    who = ca.issue(cn="openssl 投标人", purpose="signing")
    cert, key, chain = pki.files(who, f"attached-{ca_name}")
    content = os.urandom(5 * stream.PIECE + 7)
    (tmp_path / "bid.zip").write_bytes(content)
    args = ["cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-md", "sha256",
            "-in", tmp_path / "bid.zip", "-signer", cert, "-inkey", key, "-certfile", chain]
    out = openssl(*args, *(["-stream"] if streamed else []))
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.startswith(b"\x30\x80") == streamed
    detached, got = extracted(out.stdout)
    assert got == content
    trust = pki.trust(pki.ca1, pki.ca2)
    assert (await cms.verify(detached, trust=trust, content=got)).signer == who.cert
    # nothing but the eContent is gone: the signer info is the very same
    original = asn1_cms.ContentInfo.load(out.stdout)["content"]
    again = asn1_cms.ContentInfo.load(detached)["content"]
    assert again["signer_infos"].dump() == original["signer_infos"].dump()
    assert again["encap_content_info"]["content"].native is None


async def test_empty_content(pki: PKI) -> None:
    who = pki.ca1.issue(cn="空内容", purpose="signing")
    detached, got = extracted(signed(who, b""))
    assert got == b""
    await cms.verify(detached, trust=pki.trust(), content=b"")


def _peak(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_50_mb_round_trip_in_flat_memory(pki: PKI, tmp_path: Path) -> None:
    who = pki.ca1.issue(cn="大文件", purpose="signing")
    paths = {n: tmp_path / n for n in ("bid.zip", "ours.p7m", "out.zip", "theirs.p7m", "out2.zip")}
    with paths["bid.zip"].open("wb") as f:
        for _ in range(50):
            f.write(os.urandom(MB))
    with paths["bid.zip"].open("rb") as src, paths["ours.p7m"].open("wb") as dst:
        peak = _peak(lambda: sign_attached_stream(src, dst, cert=who.cert, key=who.key,
                                                  chain=who.chain[:1]))
    assert peak < 8 * MB, peak
    result: list[bytes] = []
    with paths["ours.p7m"].open("rb") as src, paths["out.zip"].open("wb") as dst:
        peak = _peak(lambda: result.append(extract_attached_stream(src, dst)))
    assert peak < 8 * MB, peak
    assert paths["out.zip"].read_bytes() == paths["bid.zip"].read_bytes()
    with paths["out.zip"].open("rb") as content:
        await cms.verify(result[0], trust=pki.trust(), content=content)

    # openssl's DER form: the content in one primitive OCTET STRING, copied in chunks all the same
    cert, key, chain = pki.files(who, "big")
    out = openssl("cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", paths["bid.zip"],
                  "-signer", cert, "-inkey", key, "-certfile", chain, "-out", paths["theirs.p7m"])
    assert out.returncode == 0, out.stderr.decode()
    with paths["theirs.p7m"].open("rb") as src, paths["out2.zip"].open("wb") as dst:
        peak = _peak(lambda: extract_attached_stream(src, dst))
    assert peak < 8 * MB, peak
    assert paths["out2.zip"].read_bytes() == paths["bid.zip"].read_bytes()


class _Huge(io.RawIOBase):
    """A DER SignedData whose eContent is one primitive OCTET STRING of over 2 GiB, made up on read."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self.parts = [head, tail]
        self.filler = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.parts[0]:
            data, self.parts[0] = self.parts[0][:n], self.parts[0][n:]
            return data
        if self.filler:
            take = min(n, self.filler)
            self.filler -= take
            return b"\xab" * take
        data, self.parts[1] = self.parts[1][:n], self.parts[1][n:]
        return data


def test_primitive_octet_string_past_2_gib_is_copied(pki: PKI) -> None:
    """Longer than any element the BER reader takes whole: the eContent must be copied."""
    who = pki.ca1.issue(cn="超大", purpose="signing")
    detached = asn1_cms.ContentInfo.load(cms.sign(b"x", cert=who.cert, key=who.key))["content"]
    size = (1 << 31) + 5

    def tlv(tag: int, body_len: int) -> bytes:
        raw = body_len.to_bytes((body_len.bit_length() + 7) // 8, "big")
        return bytes([tag, 0x80 | len(raw)]) + raw

    tail = b"".join(detached[n].dump() for n in ("certificates", "signer_infos"))
    octets = tlv(0x04, size)
    encap = asn1_cms.ContentType("data").dump() + tlv(0xA0, len(octets) + size) + octets
    encap = tlv(0x30, len(encap) + size) + encap
    body = detached["version"].dump() + detached["digest_algorithms"].dump() + encap
    body_len = len(body) + size + len(tail)
    inner = tlv(0x30, body_len) + body
    info = asn1_cms.ContentType("signed_data").dump() + tlv(0xA0, len(inner) + size + len(tail))
    head = tlv(0x30, len(info) + len(inner) + size + len(tail)) + info + inner

    class Sink(io.RawIOBase):
        written = 0

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.written += len(b)
            return len(b)

    sink = Sink()
    der = extract_attached_stream(_Huge(head, size, tail), sink)  # type: ignore[arg-type]
    assert sink.written == size
    assert asn1_cms.ContentInfo.load(der)["content"]["signer_infos"].dump() == \
        detached["signer_infos"].dump()


async def test_changed_content_does_not_verify(pki: PKI) -> None:
    who = pki.ca1.issue(cn="篡改", purpose="signing")
    content = os.urandom(2 * stream.PIECE)
    ours = bytearray(signed(who, content))
    at = ours.index(content[stream.PIECE:stream.PIECE + 32])
    ours[at] ^= 1
    detached, got = extracted(bytes(ours))
    assert got != content
    with pytest.raises((cms.ContentMismatch, cms.BadSignature)):
        await cms.verify(detached, trust=pki.trust(), content=got)


def test_not_an_attached_signature_is_malformed(pki: PKI) -> None:
    who = pki.ca1.issue(cn="格式", purpose="signing")
    ours = signed(who, os.urandom(stream.PIECE + 9))
    for cut in (0, 1, 11, 60, len(ours) // 2, len(ours) - 100, len(ours) - 2, len(ours) - 1):
        with pytest.raises(cms.MalformedSignature):
            extracted(ours[:cut])
    with pytest.raises(cms.MalformedSignature):
        extracted(ours + b"\x00")
    sealed = io.BytesIO()
    recipient = pki.ca1.issue(cn="收件", purpose="encryption")
    stream.seal_stream(io.BytesIO(b"bid"), sealed, [envelope.Recipient(recipient.cert)])
    with pytest.raises(cms.MalformedSignature) as info:
        extracted(sealed.getvalue())
    assert info.value.detail == {"reason": "not signed_data"}
    with pytest.raises(cms.MalformedSignature):
        extracted(os.urandom(4000))
    with pytest.raises(cms.MalformedSignature) as info:
        extracted(cms.sign(b"bid", cert=who.cert, key=who.key, detached=True))
    assert "detached" in info.value.detail["reason"]


@pytest.fixture(scope="module")
def small_signed(pki: PKI) -> tuple[bytes, bytes]:
    who = pki.ca1.issue(cn="样本流", purpose="signing")
    content = os.urandom(stream.PIECE + 100)
    return content, signed(who, content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_damage_never_verifies_changed_content(pki: PKI, small_signed: tuple[bytes, bytes],
                                                     data: st.DataObject) -> None:
    content, good = small_signed
    kind, blob = damaged(data, good)
    try:
        detached, got = extracted(blob)
        verified = await cms.verify(detached, trust=pki.trust(), content=got)
    except cms.SignatureError as exc:
        if kind != "flipped":
            assert isinstance(exc, cms.MalformedSignature)
    else:
        # a flip in a field nobody checks (a chain certificate's byte) can verify; never new content
        assert kind == "flipped" and got == content and verified.signer is not None
