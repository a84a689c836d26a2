"""What the platform can tell about a sealed bid without opening it (S2).

Only the envelope's head is read: its content type, the content-encryption
algorithm and the recipients (issuer and serial number of each certificate
the content key is wrapped for). That is enough to refuse a bid that is not
encrypted at all, not encrypted for the lot's opening certificate, or sealed
for the opening certificate alone (the bidder then could not open its own bid
at the no-show opening, and only the officers' shares could), and it needs no
key: the platform holds none that opens a bid.

Receipts and the API name a recipient as its issuer in RFC 4514 form (the
same form as the signer's subject) and its serial number in hex, lower case,
zero-padded to whole bytes (what ``openssl x509 -serial`` prints, in lower case).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from signing.envelope import MalformedEnvelope, _asn1_cert, recipient_ids
from signing.stream import _read_head, _Reader
from trading.bids.errors import NoOwnRecipient, NotEncrypted, WrongRecipients

HEAD_BYTES = 65536  # recipients and algorithms of any sensible envelope fit in this
CIPHERS = frozenset({"aes128_gcm", "aes192_gcm", "aes256_gcm", "aes128_cbc", "aes192_cbc",
                     "aes256_cbc", "sm4_cbc"})
_ENVELOPES = {"enveloped_data", "authenticated_enveloped_data"}


@dataclass(frozen=True)
class EnvelopeHead:
    kind: str
    cipher: str
    recipients: list[dict[str, Any]]  # [{"issuer": RFC 4514, "serial": hex, "issuer_der"}]


def serial_hex(serial: int) -> str:
    """A serial number as whole bytes of hex: 0x0a1b is "0a1b", never "a1b"."""
    digits = format(serial, "x")
    return digits if len(digits) % 2 == 0 else "0" + digits


def issuer_name(name: asn1_x509.Name) -> str:
    """An issuer as RFC 4514, written as ``x509.Name.rfc4514_string`` writes a subject."""
    rdns = []
    for rdn in name.chosen:
        attrs = []
        for attr in rdn:
            value = attr["value"].native
            attrs.append(x509.NameAttribute(ObjectIdentifier(attr["type"].dotted),
                                            value if isinstance(value, str) else str(value)))
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns).rfc4514_string()


def _content_type(head: bytes) -> str | None:
    """The ContentInfo's content type, or None when the bytes are not CMS at all."""
    try:
        r = _Reader(io.BytesIO(head))
        tag, _, _ = r.header()
        if tag != 0x30:
            return None
        return str(asn1_cms.ContentType.load(r.element()).native)
    except (MalformedEnvelope, ValueError, TypeError):
        return None


def inspect(head: bytes, *, size: int) -> EnvelopeHead:
    """Parse the head of ``bid.p7m``; NotEncrypted for anything that is not an envelope."""
    kind = _content_type(head)
    if kind not in _ENVELOPES:
        looks_like = ("zip" if head.startswith(b"PK\x03\x04") else
                      "pdf" if head.startswith(b"%PDF") else kind or "not CMS")
        raise NotEncrypted({"found": looks_like})
    try:
        parsed = _read_head(_Reader(io.BytesIO(head)))
    except MalformedEnvelope as exc:
        if size > len(head) and exc.detail == {"reason": "truncated"}:
            raise MalformedEnvelope({"reason": f"envelope head larger than {HEAD_BYTES} bytes"},
                                    message="数字信封头部过大（接收者过多）",
                                    message_en="The envelope's head is too large") from None
        raise
    cipher = str(parsed.alg["algorithm"].native)
    if cipher not in CIPHERS:
        raise MalformedEnvelope({"cipher": cipher}, message="不支持的内容加密算法",
                                message_en="Unsupported content-encryption algorithm")
    recipients = [{"issuer": issuer_name(issuer), "serial": serial_hex(serial),
                   "issuer_der": issuer.dump().hex()}
                  for issuer, serial in recipient_ids(list(parsed.infos))]
    return EnvelopeHead(kind, cipher, recipients)


def require_recipient(head: EnvelopeHead, cert: x509.Certificate) -> None:
    """The lot's opening certificate must be among the recipients (S2, and the fallback of
    S6), and so must another one: the bidder's own encryption certificate, with which the
    bidder opens the bid at the opening (docs/bid-format.md, section 1)."""
    c = _asn1_cert(cert)
    issuer_hex = c.issuer.dump().hex()
    serial = serial_hex(c.serial_number)
    listed = [{"issuer": r["issuer"], "serial": r["serial"]} for r in head.recipients]
    opening = [r for r in head.recipients
               if r["issuer_der"] == issuer_hex and r["serial"] == serial]
    if not opening:
        raise WrongRecipients({"recipients": listed, "expected_serial": serial})
    if len(opening) == len(head.recipients):
        raise NoOwnRecipient({"recipients": listed})
