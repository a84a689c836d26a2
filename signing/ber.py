"""BER/DER framing, written and read as streams, and PEM armour.

Everything in the platform that writes or reads a tag-length-value by hand
(streamed envelopes, attached signatures of any size, the SEQUENCE around a
timestamp rejection that asn1crypto cannot build) goes through this module,
so there is one length encoder and one reader to get right. Whole, in-memory
structures are asn1crypto's job; this module is for what must not be held in
memory or what asn1crypto's schemas do not allow.

PEM is asn1crypto's (``asn1crypto.pem``), so every module that accepts
"PEM or DER" accepts the same things.
"""

from __future__ import annotations

from typing import BinaryIO

from asn1crypto import pem

from signing.errors import MalformedEnvelope

__all__ = ["EOC", "INDEFINITE", "MAX_ELEMENT", "Reader", "der_to_pem", "encode_length",
           "octet_piece", "pem_to_der", "tlv"]

EOC = b"\x00\x00"  # end-of-contents, closing an indefinite length
INDEFINITE = b"\x80"
MAX_ELEMENT = 1 << 30  # no single element read here is larger (content pieces are 64 KiB)
MAX_LENGTH_OCTETS = 8


def encode_length(n: int | None) -> bytes:
    """The length octets: short form below 128, long form above, None for indefinite."""
    if n is None:
        return INDEFINITE
    if n < 0:
        raise ValueError("a length is not negative")
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, body: bytes) -> bytes:
    """One definite-length element with a single-byte tag."""
    return bytes([tag]) + encode_length(len(body)) + body


def octet_piece(data: bytes) -> bytes:
    """A primitive OCTET STRING: one piece of a constructed (streamed) one."""
    return tlv(0x04, data)


def pem_to_der(data: bytes) -> bytes:
    """DER as it is; the first PEM block's body decoded, whatever its label."""
    if not pem.detect(data):
        return data
    _, _, der = pem.unarmor(data.strip())
    decoded: bytes = der
    return decoded


def der_to_pem(der: bytes, label: str) -> bytes:
    armored: bytes = pem.armor(label, der)
    return armored


class Reader:
    """Just enough BER from a stream: single-byte tags, definite and indefinite lengths.

    ``error`` is what a malformed or truncated input raises; a reader of
    signatures sets its own.
    """

    error: type[Exception] = MalformedEnvelope

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def fail(self, reason: str) -> Exception:
        return self.error({"reason": reason})

    def exact(self, n: int) -> bytes:
        if n > MAX_ELEMENT:
            raise self.fail(f"element of {n} bytes")
        data = self.stream.read(n)
        if len(data) != n:
            raise self.fail("truncated")
        return data

    def length(self, first: int) -> tuple[int | None, bytes]:
        """The length whose first octet is ``first``: (value or None if indefinite, more octets)."""
        if first < 0x80:
            return first, b""
        if first == 0x80:
            return None, b""
        count = first & 0x7F
        if count > MAX_LENGTH_OCTETS:
            raise self.fail("length too long")
        more = self.exact(count)
        return int.from_bytes(more, "big"), more

    def header(self) -> tuple[int, int | None, bytes]:
        """(tag byte, length or None for indefinite, the raw header bytes)."""
        raw = self.exact(2)
        tag, first = raw[0], raw[1]
        if tag & 0x1F == 0x1F:
            raise self.fail("multi-byte tag")
        length, more = self.length(first)
        return tag, length, raw + more

    def element(self) -> bytes:
        """One complete definite-length element, header included."""
        tag, length, raw = self.header()
        if length is None:
            raise self.fail(f"indefinite length where definite expected ({tag:#x})")
        return raw + self.exact(length)

    def expect_eoc(self) -> None:
        if self.exact(2) != EOC:
            raise self.fail("missing end-of-contents")
