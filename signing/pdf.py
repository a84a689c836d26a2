"""Signed PDFs: PAdES signatures (B-T: with an RFC 3161 timestamp) through pyhanko.

Every official document the platform issues (announcements, receipts,
opening records, evaluation reports) is signed this way, so a supervisor or a
court checks it with poppler's ``pdfsig`` or any PAdES validator.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.keys import PrivateKey, SM2PrivateKey, UnusableKey
from signing.pathval import TrustStore
from signing.tsa import TimestampAuthority


class AuthorityTimeStamper(TimeStamper):
    """pyhanko's timestamp client, answered by the configured authority (local or remote)."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(await self.authority.request(req.dump()))




def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


async def sign_pdf(pdf: bytes, *, cert: x509.Certificate, key: PrivateKey,
                   chain: Sequence[x509.Certificate] = (),
                   timestamper: TimeStamper | None = None, field_name: str = "Signature1",
                   reason: str = "天衡平台签章 / Tenderhall signature",
                   location: str = "", trust: TrustStore | None = None) -> bytes:
    """Sign ``pdf`` with a PAdES signature.

    B-T when a timestamper is given; B-LTA when the trust store (with its
    CRLs) is given too: the chain and revocation data are embedded and a
    document timestamp seals them, so the signature can be checked long after
    the certificates expire.
    """
    lta = trust is not None and timestamper is not None
    if isinstance(key, SM2PrivateKey):
        raise UnusableKey("PDF signatures (PAdES) are made with RSA or EC keys; pyhanko has no SM2")
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    signer = signers.SimpleSigner(
        signing_cert=_asn1(cert), signing_key=keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1(c) for c in chain]))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, reason=reason, location=location or None,
        subfilter=fields.SigSeedSubFilter.PADES, use_pades_lta=lta,
        embed_validation_info=lta,
        validation_context=trust.context(None, mode="soft-fail") if lta and trust else None)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = await signers.PdfSigner(meta, signer=signer, timestamper=timestamper) \
        .async_sign_pdf(writer, output=io.BytesIO())
    data: bytes = out.getvalue()
    return data
