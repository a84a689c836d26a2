"""CMS SignedData (RFC 5652): sign, and verify with path validation and revocation.

Signatures are built here with asn1crypto (signed attributes: content type,
signing time, message digest, signing-certificate-v2) so that detached
content of any size is hashed as a stream; they verify with ``openssl cms
-verify``. Verification answers with one specific error per failure, checked
in this order: malformed input, content mismatch, bad signature, then the
signer's certificate (unknown issuer, expired or not yet valid, revoked,
revocation unknown, wrong key usage).

Which moment a certificate must be valid at is the caller's choice: "now" by
default, or a trusted time (a verified timestamp, the platform's own receipt
time). The signer's self-reported signing time is returned but never trusted
for validity, since the signer controls it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

from signing import sm2
from signing.ber import pem_to_der
from signing.errors import (
    BadSignature,
    CertificateExpired,
    CertificateRevoked,
    ContentMismatch,
    MalformedSignature,
    RevocationUnknown,
    SignatureError,
    TimestampMismatch,
    UnknownIssuer,
    WrongKeyUsage,
)
from signing.keys import PrivateKey, SM2PrivateKey, sign_bytes, signature_algorithm
from signing.pathval import SIGNATURE_VALIDATOR, TrustStore, validate_certificate

__all__ = [
    "BadSignature", "CertificateExpired", "CertificateRevoked", "ContentMismatch",
    "MalformedSignature", "RevocationUnknown", "SignatureError", "TrustStore", "UnknownIssuer",
    "Verified", "VerifiedTimestamp", "WrongKeyUsage", "pem_to_der", "sign",
    "validate_certificate", "verify", "verify_token",
]

HASHES: dict[str, Callable[[], hashlib._Hash]] = {
    "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512,
    "sha1": hashlib.sha1, sm2.SM3: lambda: hashlib.new("sm3")}
CHUNK = 1024 * 1024


# ----------------------------------------------------------------- signing
def _asn1_cert(cert: cx509.Certificate) -> x509.Certificate:
    return x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _digest_stream(content: bytes | BinaryIO, algorithm: str) -> tuple[bytes, bytes | None]:
    """(digest, the bytes if they were given as bytes)."""
    h = HASHES[algorithm]()
    if isinstance(content, bytes | bytearray | memoryview):
        h.update(content)
        return h.digest(), bytes(content)
    while chunk := content.read(CHUNK):
        h.update(chunk)
    return h.digest(), None


def _encap(content_type: str, raw: bytes | None) -> object:
    if content_type == "tst_info" and raw is not None:
        return core.ParsableOctetString(raw)
    return raw


def _sign_raw(key: PrivateKey, data: bytes) -> tuple[bytes, algos.SignedDigestAlgorithm]:
    # GM/T 0010 names the SM2 signature "sm2-1" (1.2.156.10197.1.301.1) in a SignerInfo.
    name = sm2.SM2_SIGN if isinstance(key, SM2PrivateKey) else signature_algorithm(key)
    return sign_bytes(key, data), algos.SignedDigestAlgorithm({"algorithm": name})


def sign(content: bytes | BinaryIO, *, cert: cx509.Certificate, key: PrivateKey,
         chain: Iterable[cx509.Certificate] = (), detached: bool = True,
         signing_time: datetime | None = None, content_type: str = "data",
         include_signer_cert: bool = True,
         timestamp: Callable[[bytes], bytes] | None = None) -> bytes:
    """CMS SignedData (DER) over ``content``; detached content may be a stream.

    ``content_type`` is "data" for documents, "tst_info" for timestamp tokens.
    ``timestamp``, given the SHA-256 of the signature value, returns an RFC 3161
    token (DER), embedded as the signature timestamp (unsigned attribute).
    """
    if not detached and not isinstance(content, bytes | bytearray):
        content = content.read()
    # SM2 signs over SM3 (GM/T 0010); RSA and ECDSA over SHA-256.
    algorithm = sm2.SM3 if isinstance(key, SM2PrivateKey) else "sha256"
    digest, raw = _digest_stream(content, algorithm)
    signer = _asn1_cert(cert)
    ess_cert = {"cert_hash": hashlib.sha256(signer.dump()).digest(),
                "issuer_serial": {"issuer": [x509.GeneralName({"directory_name": signer.issuer})],
                                  "serial_number": signer.serial_number}}
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
        cms.CMSAttribute({"type": "signing_time",
                          "values": [cms.Time({"utc_time": signing_time or datetime.now(UTC)})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
        cms.CMSAttribute({"type": "signing_certificate_v2",
                          "values": [{"certs": [ess_cert]}]}),
    ])
    signature, sig_alg = _sign_raw(key, attrs.dump())
    info_fields: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": signer.issuer, "serial_number": signer.serial_number}}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
        "signed_attrs": attrs,
        "signature_algorithm": sig_alg,
        "signature": signature,
    }
    if timestamp is not None:
        token = timestamp(hashlib.sha256(signature).digest())
        info_fields["unsigned_attrs"] = cms.CMSAttributes([cms.CMSAttribute({
            "type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]})])
    signer_info = cms.SignerInfo(info_fields)
    fields: dict[str, object] = {
        "version": "v3" if content_type != "data" else "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": algorithm})],
        "encap_content_info": {"content_type": content_type,
                               "content": None if detached else _encap(content_type, raw)},
        "signer_infos": [signer_info],
    }
    if include_signer_cert:
        fields["certificates"] = [signer, *(_asn1_cert(c) for c in chain)]
    signed = cms.SignedData(fields)
    der: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    return der


# ----------------------------------------------------------------- verifying
@dataclass(frozen=True)
class Verified:
    signer: cx509.Certificate
    chain: list[cx509.Certificate]
    signing_time: datetime | None
    checked_at: datetime
    content: bytes | None  # encapsulated content, when there was some
    digest_algorithm: str
    timestamp: datetime | None = None  # from a verified embedded signature timestamp

    @property
    def subject(self) -> str:
        return self.signer.subject.rfc4514_string()


def _load(data: bytes) -> cms.ContentInfo:
    info = cms.ContentInfo.load(pem_to_der(data), strict=True)
    if info["content_type"].native != "signed_data":
        raise MalformedSignature({"reason": f"content type {info['content_type'].native}"})
    loaded: cms.ContentInfo = info
    return loaded


def _find_signer(signed: cms.SignedData, signer_info: cms.SignerInfo) -> x509.Certificate:
    sid = signer_info["sid"]
    certs = [c.chosen for c in signed["certificates"] or []
             if isinstance(c.chosen, x509.Certificate)]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            if (cert.issuer == sid.chosen["issuer"]
                    and cert.serial_number == sid.chosen["serial_number"].native):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise UnknownIssuer({"reason": "the signer's certificate is not in the signature"},
                        message="签名中缺少签名者证书",
                        message_en="The signature does not carry the signer's certificate")


_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


@dataclass(frozen=True)
class _Parsed:
    signer_info: cms.SignerInfo
    signer_cert: x509.Certificate
    others: list[x509.Certificate]
    embedded: bytes | None
    algorithm: str
    content_type: str


def _parse(data: bytes) -> _Parsed:
    try:
        info = _load(data)
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        if len(signer_infos) != 1:
            raise MalformedSignature({"reason": f"{len(signer_infos)} signers, expected one"})
        signer_info = signer_infos[0]
        encap = signed["encap_content_info"]
        if encap["content"] is core.VOID:
            embedded = None
        elif isinstance(encap["content"], core.ParsableOctetString):
            embedded = encap["content"].contents  # e.g. TSTInfo: the octets signed
        else:
            embedded = encap["content"].native
        if embedded is not None and not isinstance(embedded, bytes):
            raise MalformedSignature({"reason": "encapsulated content is not octets"})
        algorithm = signer_info["digest_algorithm"]["algorithm"].native
        if algorithm not in HASHES:
            raise MalformedSignature({"reason": f"digest algorithm {algorithm}"})
        signer_info["signed_attrs"].native  # noqa: B018 - the parts used later, parsed now
        signer_cert = _find_signer(signed, signer_info)
        others = [c.chosen for c in signed["certificates"] or []
                  if isinstance(c.chosen, x509.Certificate) and c.chosen is not signer_cert]
        for cert in (signer_cert, *others):
            cert["tbs_certificate"]["subject_public_key_info"].native  # noqa: B018
            cert["tbs_certificate"]["extensions"].native  # noqa: B018
        return _Parsed(signer_info, signer_cert, others, embedded, algorithm,
                       encap["content_type"].native)
    except SignatureError:
        raise
    except _PARSE_ERRORS as exc:
        raise MalformedSignature({"reason": type(exc).__name__}) from None


def digest_algorithm(data: bytes) -> str:
    """The digest algorithm the signer used ("sha256", or SM3's OID for SM2 signers)."""
    return _parse(data).algorithm


async def verify(data: bytes, *, trust: TrustStore, content: bytes | BinaryIO | None = None,
                 purpose: str = "signing", moment: datetime | None = None,
                 digests: Mapping[str, bytes] | None = None) -> Verified:
    """Verify a CMS signature; raise the specific SignatureError on any failure.

    ``digests`` gives detached content as its digest by algorithm, already
    computed (a bid hashed while it streamed in): the content is not read again.
    """
    p = _parse(data)
    if p.embedded is None and digests and p.algorithm in digests:
        digest = digests[p.algorithm]
        return await _verify_digest(p, digest, trust=trust, purpose=purpose, moment=moment)
    if p.embedded is None and content is None:
        raise MalformedSignature({"reason": "detached signature and no content given"},
                                 message="这是分离式签名，需要同时提供被签名的文件",
                                 message_en="Detached signature: the signed content is needed")
    if p.embedded is not None and content is not None:
        given = content if isinstance(content, bytes) else content.read()
        if given != p.embedded:
            raise ContentMismatch()
    source: bytes | BinaryIO = p.embedded if p.embedded is not None else content  # type: ignore[assignment]
    digest, _ = _digest_stream(source, p.algorithm)
    return await _verify_digest(p, digest, trust=trust, purpose=purpose, moment=moment)


async def _verify_digest(p: _Parsed, digest: bytes, *, trust: TrustStore, purpose: str,
                         moment: datetime | None) -> Verified:
    try:
        intact, valid = validate_sig_integrity(p.signer_info, p.signer_cert, p.content_type,
                                               digest, sig_validator=SIGNATURE_VALIDATOR)
    except Exception as exc:  # any failure inside is a signature that does not verify
        raise BadSignature({"reason": str(exc)[:200]}) from None
    if not intact:
        raise ContentMismatch()
    if not valid:
        raise BadSignature()

    stamped_at = await _signature_timestamp(p.signer_info, trust)
    trusted_moment = moment or stamped_at  # None: as of now
    checked_at = trusted_moment or datetime.now(UTC)
    path = await validate_certificate(p.signer_cert, p.others, trust=trust, purpose=purpose,
                                      moment=trusted_moment)
    signing_time = None
    for attr in p.signer_info["signed_attrs"] or []:
        if attr["type"].native == "signing_time":
            signing_time = attr["values"][0].native
    return Verified(
        signer=cx509.load_der_x509_certificate(p.signer_cert.dump()),
        chain=[cx509.load_der_x509_certificate(c.dump()) for c in path],
        signing_time=signing_time, checked_at=checked_at, content=p.embedded,
        digest_algorithm=p.algorithm, timestamp=stamped_at,
    )


async def _signature_timestamp(signer_info: cms.SignerInfo, trust: TrustStore) -> datetime | None:
    """The time of an embedded signature timestamp, after verifying the token itself."""
    for attr in signer_info["unsigned_attrs"] or []:
        if attr["type"].native != "signature_time_stamp_token":
            continue
        token = attr["values"][0].dump()
        digest = hashlib.sha256(signer_info["signature"].native).digest()
        stamped = await verify_token(token, trust=trust, digest=digest)
        return stamped.gen_time
    return None


# ----------------------------------------------------------------- timestamp tokens
# Here, not in signing.tsa: a signature's embedded timestamp is verified as part of
# the signature, and a token is itself a signature.
TIMESTAMP_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


@dataclass(frozen=True)
class VerifiedTimestamp:
    gen_time: datetime
    authority: cx509.Certificate
    serial: int
    policy: str


async def verify_token(token: bytes, *, trust: TrustStore, content: bytes | None = None,
                       digest: bytes | None = None) -> VerifiedTimestamp:
    """Verify a token's signature and TSA certificate, and that it covers the content."""
    verified = await verify(token, trust=trust, purpose="tsa")
    if verified.content is None:
        raise MalformedSignature({"reason": "token without TSTInfo"})
    try:
        info = tsp.TSTInfo.load(verified.content)
        algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        imprint = info["message_imprint"]["hashed_message"].native
        gen_time = info["gen_time"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedSignature({"reason": type(exc).__name__}) from None
    if content is not None:
        if algorithm not in TIMESTAMP_HASHES:
            raise TimestampMismatch({"reason": f"hash {algorithm}"})
        digest = TIMESTAMP_HASHES[algorithm](content).digest()
    if digest is not None and digest != imprint:
        raise TimestampMismatch()
    return VerifiedTimestamp(gen_time, verified.signer, info["serial_number"].native,
                             info["policy"].native)
