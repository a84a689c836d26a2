"""Attached CMS signatures of any size, written and read as streams.

A bid is a ZIP of up to several GB that the bidder signs with the content
encapsulated, then envelopes. ``cms.sign`` would hold an attached content in
memory; here it is written as BER with indefinite lengths, the eContent a
constructed OCTET STRING of 64 KiB pieces (what ``openssl cms -sign -nodetach
-binary -stream`` writes), hashed on the way through. The content comes before
the certificates and signerInfos, so one pass is enough.

Reading turns the attached form (BER as above, or DER with one primitive
OCTET STRING as openssl writes without ``-stream``) back into the content,
copied chunk by chunk, and the equivalent detached SignedData. Dropping the
eContent changes nothing that is signed (the message-digest attribute covers
the content), so ``cms.verify`` checks the original signature on the pair.

Layout written:

    ContentInfo SEQUENCE (indefinite)
      contentType OID signedData
      [0] EXPLICIT (indefinite)
        SignedData SEQUENCE (indefinite)
          version, digestAlgorithms                 -- DER
          encapContentInfo SEQUENCE (indefinite)
            eContentType OID data
            [0] EXPLICIT (indefinite)
              OCTET STRING, constructed (indefinite): OCTET STRING pieces
          certificates [0], signerInfos SET         -- DER, from cms.sign
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO, cast

from asn1crypto import cms as asn1_cms
from cryptography import x509 as cx509

from signing import cms, sm2
from signing.ber import EOC, Reader, octet_piece, tlv
from signing.errors import MalformedSignature
from signing.keys import PrivateKey, SM2PrivateKey
from signing.pathval import TrustStore
from signing.stream import PIECE

__all__ = ["extract_attached_stream", "sign_attached_stream", "verify_attached_stream"]

SIGNED_DATA = asn1_cms.ContentType("signed_data").dump()
DATA = asn1_cms.ContentType("data").dump()
MAX_DEPTH = 32  # nesting of BER containers we follow; real signatures use well under 10


class _Tee:
    """The content as ``cms.sign`` reads it to hash, written out as pieces on the way."""

    def __init__(self, source: BinaryIO, out: BinaryIO) -> None:
        self.source, self.out, self.total = source, out, 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        for start in range(0, len(data), PIECE):
            self.out.write(octet_piece(data[start:start + PIECE]))
        self.total += len(data)
        return data


def sign_attached_stream(source: BinaryIO, out: BinaryIO, *, cert: cx509.Certificate,
                         key: PrivateKey, chain: Iterable[cx509.Certificate] = ()) -> int:
    """Sign ``source`` with the content encapsulated, into ``out``; returns the content length.

    ``cms.sign`` builds the SignerInfo (same attributes and algorithms as any
    other signature here) from the content streamed through it as if detached;
    the attached form differs only in the eContent written meanwhile.
    """
    # known before the content, and checked against what cms.sign chose afterwards
    algorithm = sm2.SM3 if isinstance(key, SM2PrivateKey) else "sha256"
    head = (asn1_cms.CMSVersion("v1").dump()
            + asn1_cms.DigestAlgorithms([{"algorithm": algorithm}]).dump())
    out.write(b"\x30\x80" + SIGNED_DATA + b"\xa0\x80" + b"\x30\x80" + head
              + b"\x30\x80" + DATA + b"\xa0\x80" + b"\x24\x80")
    tee = _Tee(source, out)
    detached = cms.sign(cast(BinaryIO, tee), cert=cert, key=key, chain=chain)
    out.write(EOC * 3)  # end of the pieces, of [0], of encapContentInfo
    signed = asn1_cms.ContentInfo.load(detached)["content"]
    if signed["version"].dump() + signed["digest_algorithms"].dump() != head:
        raise RuntimeError("cms.sign chose another version or digest algorithm than was written")
    out.write(b"".join(signed[name].dump() for name in ("certificates", "crls", "signer_infos")))
    out.write(EOC * 3)  # end of SignedData, of [0], of ContentInfo
    return tee.total


# ----------------------------------------------------------------- reading
class _Ber(Reader):
    """The shared reader, counting bytes so that definite lengths can be checked."""

    error = MalformedSignature

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(stream)
        self.pos = 0

    def exact(self, n: int) -> bytes:
        data = super().exact(n)
        self.pos += n
        return data

    def open(self, tag: int, what: str) -> int | None:
        """Enter a container: where it ends, or None if its length is indefinite."""
        got, length, _ = self.header()
        if got != tag:
            raise MalformedSignature({"reason": f"{what}: tag {got:#x}, expected {tag:#x}"})
        return None if length is None else self.pos + length

    def close(self, end: int | None) -> None:
        if end is None:
            self.expect_eoc()
        elif self.pos != end:
            raise MalformedSignature({"reason": "element longer than its container"})

    def whole(self, depth: int = 0) -> bytes:
        """One element, header included, with any indefinite lengths made definite."""
        tag, length, raw = self.header()
        if length is not None:
            return raw + self.exact(length)
        if not tag & 0x20 or depth > MAX_DEPTH:
            raise MalformedSignature({"reason": f"indefinite length on {tag:#x}"})
        parts = []
        while (part := self.whole(depth + 1)) != EOC:
            parts.append(part)
        return tlv(tag, b"".join(parts))

    def typed(self, tag: int, what: str) -> bytes:
        element = self.whole()
        if element[0] != tag:
            raise MalformedSignature({"reason": f"{what}: tag {element[0]:#x}, expected {tag:#x}"})
        return element

    def copy(self, n: int, out: BinaryIO) -> None:
        """A primitive's contents to ``out`` in chunks: it may be gigabytes."""
        left = n
        while left:
            chunk = self.stream.read(min(left, cms.CHUNK))
            if not chunk:
                raise MalformedSignature({"reason": "truncated"})
            out.write(chunk)
            left -= len(chunk)
            self.pos += len(chunk)

    def octets(self, tag: int, length: int | None, out: BinaryIO, depth: int = 0) -> None:
        """An OCTET STRING, primitive or constructed of pieces (BER), to ``out``."""
        if tag == 0x04 and length is not None:
            self.copy(length, out)
            return
        if tag != 0x24 or depth > MAX_DEPTH:
            raise MalformedSignature({"reason": f"eContent tag {tag:#x}"})
        end = None if length is None else self.pos + length
        while end is None or self.pos < end:
            tag, length, _ = self.header()
            if end is None and (tag, length) == (0, 0):
                return
            self.octets(tag, length, out, depth + 1)
        self.close(end)


def extract_attached_stream(source: BinaryIO, out: BinaryIO) -> bytes:
    """Copy the encapsulated content of a SignedData to ``out``; return it detached (DER).

    Raises MalformedSignature for anything but a well-formed attached
    SignedData; what ``out`` received must then be discarded.
    """
    return _extract(_Ber(source), out)


def _extract(r: _Ber, out: BinaryIO) -> bytes:
    outer = r.open(0x30, "ContentInfo")
    if r.typed(0x06, "contentType") != SIGNED_DATA:
        raise MalformedSignature({"reason": "not signed_data"})
    explicit = r.open(0xA0, "content")
    body = r.open(0x30, "SignedData")
    head = r.typed(0x02, "version") + r.typed(0x31, "digestAlgorithms")
    encap = r.open(0x30, "encapContentInfo")
    content_type = r.typed(0x06, "eContentType")
    tag, length, _ = (0, 0, b"") if encap is not None and r.pos == encap else r.header()
    if (tag, length) == (0, 0):
        raise MalformedSignature({"reason": "no encapsulated content (a detached signature)"})
    if tag != 0xA0:
        raise MalformedSignature({"reason": f"eContent: tag {tag:#x}"})
    e_content = None if length is None else r.pos + length
    tag, length, _ = r.header()
    r.octets(tag, length, out)
    r.close(e_content)
    r.close(encap)
    rest = []  # certificates, crls, signerInfos: kept as they are
    while body is None or r.pos < body:
        element = r.whole()
        if element == EOC and body is None:
            break
        rest.append(element)
    else:  # a definite SignedData: its last element must end exactly at its end
        r.close(body)
    if [e[0] for e in rest] not in ([0x31], [0xA0, 0x31], [0xA1, 0x31], [0xA0, 0xA1, 0x31]):
        raise MalformedSignature({"reason": "certificates, crls, signerInfos out of place"})
    r.close(explicit)
    r.close(outer)
    if r.stream.read(1):
        raise MalformedSignature({"reason": "data after the signature"})
    signed = tlv(0x30, head + tlv(0x30, content_type) + b"".join(rest))
    der = tlv(0x30, SIGNED_DATA + tlv(0xA0, signed))
    try:
        asn1_cms.ContentInfo.load(der, strict=True)["content"]["signer_infos"].native  # noqa: B018
    except cms._PARSE_ERRORS as exc:
        raise MalformedSignature({"reason": type(exc).__name__}) from None
    return der


async def verify_attached_stream(source: BinaryIO, out: BinaryIO, *, trust: TrustStore,
                                 purpose: str = "signing",
                                 moment: datetime | None = None) -> cms.Verified:
    """Extract the content to ``out`` (read and written: ``w+b``) and verify the signature.

    The copy runs in a thread: gigabytes of file I/O would otherwise stall the
    event loop. ``out`` is read back from where it stood, so it must be seekable.
    """
    start = out.tell()
    detached = await asyncio.to_thread(extract_attached_stream, source, out)
    out.truncate()
    out.seek(start)
    return await cms.verify(detached, trust=trust, content=out, purpose=purpose, moment=moment)
