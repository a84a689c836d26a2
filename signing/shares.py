"""Opening keys split k-of-n among opening officers (Shamir's secret sharing).

Every lot gets an EC P-256 key pair and an "opening certificate" for it;
bids are enveloped to that certificate as well as to the bidder's own. The
private key is split into n shares, any k of which rebuild it, and each share
is sealed in a CMS envelope to one officer's encryption certificate. Only the
certificate and the sealed shares are kept: the whole private key exists in
memory while the shares are made and again, after the deadline, while k
officers' shares open the bids of bidders who could not decrypt their own.

Sharing uses pycryptodome's maintained Shamir implementation over GF(2^128)
(16-byte secrets); the 32-byte scalar is split as two halves with the same
share indices. Each share names its lot, and the rebuilt key must match the
lot's certificate, so shares of one lot never open another.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from Crypto.Protocol.SecretSharing import Shamir
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import DomainError
from signing import envelope
from signing.ca import aki, finish_certificate, ski
from signing.keys import PrivateKey

MAGIC = b"THS1"
_SHARE = struct.Struct(">4s16sBBB16s16s")  # magic, lot, index, k, n, half 1, half 2


class ShareError(DomainError):
    code = "opening_share_invalid"
    message = "开标密钥分片无效"
    message_en = "The opening key share is not valid"


class NotEnoughShares(ShareError):
    code = "opening_shares_insufficient"
    message = "开标密钥分片数量不足"
    message_en = "Not enough opening key shares"


class ShareForAnotherLot(ShareError):
    code = "opening_share_wrong_lot"
    message = "该分片属于其他标段"
    message_en = "This share belongs to another lot"


class SharesDoNotMatch(ShareError):
    code = "opening_shares_mismatch"
    message = "分片无法还原本标段的开标密钥"
    message_en = "The shares do not rebuild this lot's opening key"


@dataclass(frozen=True)
class SealedShare:
    index: int
    officer: x509.Certificate
    envelope: bytes  # CMS envelope to the officer's encryption certificate


@dataclass(frozen=True)
class OpeningKey:
    lot_id: UUID
    certificate: x509.Certificate
    k: int
    shares: list[SealedShare]


def _encode(lot_id: UUID, index: int, k: int, n: int, half1: bytes, half2: bytes) -> bytes:
    return _SHARE.pack(MAGIC, lot_id.bytes, index, k, n, half1, half2)


def decode(raw: bytes) -> tuple[UUID, int, int, int, bytes, bytes]:
    if len(raw) != _SHARE.size:
        raise ShareError({"reason": "length"})
    magic, lot, index, k, n, half1, half2 = _SHARE.unpack(raw)
    if magic != MAGIC:
        raise ShareError({"reason": "magic"})
    return UUID(bytes=lot), index, k, n, half1, half2


def _opening_certificate(lot_id: UUID, lot_name: str, key: ec.EllipticCurvePrivateKey,
                         issuer_cert: x509.Certificate | None, issuer_key: PrivateKey | None,
                         valid_until: datetime) -> x509.Certificate:
    """Issued by the platform's CA, or self-signed (an officers' ceremony has no CA key)."""
    now = datetime.now(UTC)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "开标证书 Opening certificate"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, str(lot_id)),
        x509.NameAttribute(NameOID.COMMON_NAME, lot_name[:64] or str(lot_id)),
    ])
    signer: PrivateKey = issuer_key if issuer_key is not None else key
    return finish_certificate(
        x509.CertificateBuilder().subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, True, False, False, False, False),
                       critical=True)
        .add_extension(ski(key), critical=False)
        .add_extension(aki(signer), critical=False), key, signer)


def create_opening_key(lot_id: UUID, *, lot_name: str, officers: Sequence[x509.Certificate],
                       k: int, issuer_cert: x509.Certificate | None,
                       issuer_key: PrivateKey | None, valid_until: datetime) -> OpeningKey:
    """Make the lot's key pair and certificate, seal k-of-n shares, forget the key."""
    n = len(officers)
    if not 2 <= k <= n <= 255:
        raise ShareError({"k": k, "n": n}, message="开标人数须满足 2 ≤ k ≤ n ≤ 255",
                         message_en="Opening officers need 2 <= k <= n <= 255")
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    first = Shamir.split(k, n, scalar[:16], ssss=False)
    second = Shamir.split(k, n, scalar[16:], ssss=False)
    cert = _opening_certificate(lot_id, lot_name, key, issuer_cert, issuer_key, valid_until)
    sealed = []
    for (index, half1), (index2, half2), officer in zip(first, second, officers, strict=True):
        assert index == index2
        raw = _encode(lot_id, index, k, n, half1, half2)
        sealed.append(SealedShare(index, officer,
                                  envelope.seal(raw, [envelope.Recipient(officer)])))
    del key, scalar, first, second  # the whole key exists nowhere after this
    return OpeningKey(lot_id, cert, k, sealed)


def unseal_share(sealed: bytes, officer_cert: x509.Certificate, officer_key: PrivateKey) -> bytes:
    """The officer's side: open one's own share with one's own encryption key."""
    return envelope.open_with_private_key(sealed, officer_cert, officer_key)


def recombine(lot_id: UUID, certificate: x509.Certificate,
              shares: Sequence[bytes]) -> ec.EllipticCurvePrivateKey:
    """Rebuild the lot's opening key from unsealed shares; it must match the certificate."""
    decoded = [decode(raw) for raw in shares]
    for lot, *_ in decoded:
        if lot != lot_id:
            raise ShareForAnotherLot({"share_lot": str(lot)})
    by_index = {d[1]: d for d in decoded}
    k = decoded[0][2] if decoded else 2
    if len(by_index) < k:
        raise NotEnoughShares({"have": len(by_index), "need": k})
    chosen = list(by_index.values())[:k]
    try:
        half1 = Shamir.combine([(d[1], d[4]) for d in chosen], ssss=False)
        half2 = Shamir.combine([(d[1], d[5]) for d in chosen], ssss=False)
        value = int.from_bytes(half1 + half2, "big")
        key = ec.derive_private_key(value, ec.SECP256R1())
    except ValueError:
        raise SharesDoNotMatch() from None
    expected = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    rebuilt = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if rebuilt != expected:
        raise SharesDoNotMatch()
    return key
