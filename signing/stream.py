"""Envelopes of any size, sealed and opened as streams.

The in-memory ``envelope.seal`` is fine for shares and receipts; a bid of
hundreds of megabytes is sealed here: the content is encrypted in chunks and
written as BER with indefinite lengths, the encrypted content as a
constructed OCTET STRING of 64 KiB pieces (what ``openssl cms -stream``
writes). Memory stays at one chunk whatever the size. Opening reads the same
layout back, whoever wrote it.

CBC (EnvelopedData) has no integrity of its own: a changed ciphertext opens
to changed plaintext. Bids are signed inside the envelope, so the inner
signature catches it; GCM (AuthEnvelopedData, the default) refuses it here.

Layout (AuthEnvelopedData, RFC 5083; EnvelopedData for CBC is the same with
no MAC at the end):

    ContentInfo SEQUENCE (indefinite)
      contentType OID
      [0] EXPLICIT (indefinite)
        SEQUENCE (indefinite)
          version, recipientInfos            -- ordinary DER
          authEncryptedContentInfo SEQUENCE (indefinite)
            contentType, contentEncryptionAlgorithm   -- DER
            [0] IMPLICIT OCTET STRING, constructed (indefinite): OCTET STRING pieces
          mac OCTET STRING                   -- AuthEnvelopedData only
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from asn1crypto import algos, cms, core
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from signing import envelope as env
from signing.ber import EOC, Reader, octet_piece
from signing.envelope import (
    MalformedEnvelope,
    Recipient,
    WrongKey,
    _recipient_info,
)

PIECE = 64 * 1024
# The bid tools and the opening read envelope heads with this reader.
_Reader = Reader


def seal_stream(source: BinaryIO, out: BinaryIO, recipients: Sequence[Recipient], *,
                aead: bool = True) -> int:
    """Encrypt ``source`` into ``out`` for every recipient; returns the bytes of content."""
    cek = os.urandom(32)
    infos = cms.RecipientInfos([_recipient_info(r, cek) for r in recipients])
    has_kari = any(i.name == "kari" for i in infos)
    if aead:
        nonce = os.urandom(12)
        alg = algos.EncryptionAlgorithm({"algorithm": "aes256_gcm",
                                         "parameters": algos.CcmParams({
                                             "aes_nonce": nonce, "aes_icvlen": 16})})
        encryptor: Any = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
        content_type, version = "authenticated_enveloped_data", core.Integer(0)
    else:
        iv = os.urandom(16)
        alg = algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv})
        encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
        content_type, version = "enveloped_data", core.Integer(2 if has_kari else 0)
    padder = None if aead else padding.PKCS7(128).padder()

    out.write(b"\x30\x80" + cms.ContentType(content_type).dump() + b"\xa0\x80" + b"\x30\x80")
    out.write(version.dump() + infos.dump())
    out.write(b"\x30\x80" + cms.ContentType("data").dump() + alg.dump() + b"\xa0\x80")
    total = 0
    while chunk := source.read(PIECE):
        total += len(chunk)
        if padder is not None:
            chunk = padder.update(chunk)
        sealed = encryptor.update(chunk)
        if sealed:
            out.write(octet_piece(sealed))
    tail = encryptor.update(padder.finalize()) if padder is not None else b""
    tail += encryptor.finalize()
    if tail:
        out.write(octet_piece(tail))
    out.write(EOC + EOC)  # end of the encrypted content, of authEncryptedContentInfo
    if aead:
        out.write(core.OctetString(encryptor.tag).dump())
    out.write(EOC + EOC + EOC)  # end of the body, of [0], of ContentInfo
    return total


# ----------------------------------------------------------------- reading
@dataclass
class _Head:
    aead: bool
    infos: cms.RecipientInfos
    alg: algos.EncryptionAlgorithm
    open_lengths: list[int | None]  # the enclosing lengths, innermost first


def _read_head(r: _Reader) -> _Head:
    try:
        tag, outer_len, _ = r.header()
        if tag != 0x30:
            raise MalformedEnvelope({"reason": "not a SEQUENCE"})
        kind = cms.ContentType.load(r.element()).native
        if kind not in ("enveloped_data", "authenticated_enveloped_data"):
            raise MalformedEnvelope({"content_type": kind})
        _, explicit_len, _ = r.header()  # [0] EXPLICIT
        _, body_len, _ = r.header()
        r.element()  # version
        first = r.element()
        if first[0] == 0xA0:  # originatorInfo (EnvelopedData only): skip
            first = r.element()
        infos = cms.RecipientInfos.load(first)
        infos.native  # noqa: B018 - parse now: malformed recipients are malformed input
        _, eci_len, _ = r.header()
        r.element()  # contentType
        alg = algos.EncryptionAlgorithm.load(r.element())
        alg.native  # noqa: B018
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedEnvelope({"reason": type(exc).__name__}) from None
    return _Head(kind == "authenticated_enveloped_data", infos, alg,
                 [eci_len, body_len, explicit_len, outer_len])


def open_stream(source: BinaryIO, out: BinaryIO, *, cek: bytes | None = None,
                cert: object = None, key: object = None) -> int:
    """Decrypt a (BER or DER) envelope from ``source`` into ``out``, chunk by chunk.

    Give either the content key, or a recipient's certificate and private key.
    Returns the bytes of plaintext written. A GCM envelope's tag is checked at
    the end; the caller must discard ``out`` if this raises.
    """

    r = _Reader(source)
    head = _read_head(r)
    if cek is None:
        if cert is None or key is None:
            raise WrongKey({"reason": "no key given"})
        cek = env.unwrap_from(list(head.infos), cert, key)  # type: ignore[arg-type]
    eci_len, *enclosing = head.open_lengths
    if head.aead:
        written = _open_gcm(r, head.alg, cek, out, eci_indefinite=eci_len is None)
    else:
        written = _open_cbc(r, head.alg, cek, out)
        if eci_len is None:
            r.expect_eoc()
    # every indefinite length opened must be closed: a cut-off file is refused
    for length in enclosing:
        if length is None:
            r.expect_eoc()
    return written


def _open_gcm(r: _Reader, alg: algos.EncryptionAlgorithm, cek: bytes, out: BinaryIO, *,
              eci_indefinite: bool) -> int:
    try:
        nonce = algos.CcmParams.load(alg["parameters"].dump())["aes_nonce"].native
        gcm = Cipher(algorithms.AES(cek), modes.GCM(nonce)).decryptor()
    except (ValueError, TypeError) as exc:
        raise WrongKey({"reason": type(exc).__name__}) from None
    written = 0
    for piece in _content_pieces(r):  # the tag comes after the content: checked at the end
        plain = gcm.update(piece)
        out.write(plain)
        written += len(plain)
    if eci_indefinite:
        r.expect_eoc()
    try:
        mac = core.OctetString.load(r.element()).native
        gcm.finalize_with_tag(mac)
    except Exception as exc:  # InvalidTag: wrong key, or the content was altered
        raise WrongKey({"reason": type(exc).__name__}) from None
    return written


def _open_cbc(r: _Reader, alg: algos.EncryptionAlgorithm, cek: bytes, out: BinaryIO) -> int:
    name = alg["algorithm"].native
    if name not in ("aes128_cbc", "aes192_cbc", "aes256_cbc"):
        raise MalformedEnvelope({"algorithm": name})
    try:
        decryptor = Cipher(algorithms.AES(cek), modes.CBC(alg["parameters"].native)).decryptor()
    except ValueError as exc:
        raise WrongKey({"reason": type(exc).__name__}) from None
    unpadder = padding.PKCS7(128).unpadder()
    written = 0
    try:
        for piece in _content_pieces(r):
            plain = unpadder.update(decryptor.update(piece))
            out.write(plain)
            written += len(plain)
        last = unpadder.update(decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        raise WrongKey({"reason": "padding"}) from None
    out.write(last)
    return written + len(last)


def _content_pieces(r: _Reader) -> Iterator[bytes]:
    tag, length, _ = r.header()
    if tag == 0x80:  # primitive [0]: all in one piece
        yield r.exact(length or 0)
        return
    if tag != 0xA0:
        raise MalformedEnvelope({"reason": f"encrypted content tag {tag:#x}"})
    if length is not None:  # constructed, definite: pieces up to that length
        remaining = length
        while remaining > 0:
            _, n, raw = r.header()
            data = r.exact(n or 0)
            remaining -= len(raw) + len(data)
            yield data
        return
    while True:
        head = r.exact(2)
        if head == EOC:
            return
        if head[0] != 0x04:
            raise MalformedEnvelope({"reason": f"piece tag {head[0]:#x}"})
        n, _ = r.length(head[1])
        if n is None:
            raise MalformedEnvelope({"reason": "indefinite length on a primitive piece"})
        yield r.exact(n)
