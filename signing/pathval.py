"""The trust store and certificate path validation (pyhanko-certvalidator).

Roots, intermediates and CRLs of every CA the platform accepts (mutual
recognition, 互认), with a revocation mode per issuing CA. Validation checks
the path, validity at a given moment, revocation and key usage for a purpose,
and answers with one specific ``SignatureError`` per failure. SM2/SM3
signatures on certificates and CRLs are checked through ``signing.sm2``,
everything else by pyhanko's default validator.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import algos, keys, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

from signing import ocsp, sm2
from signing.errors import (
    CertificateExpired,
    CertificateRevoked,
    RevocationUnavailable,
    RevocationUnknown,
    UnknownIssuer,
    WrongKeyUsage,
)


class SignatureValidator(DefaultSignatureValidator):
    """pyhanko's validator, plus SM2 with SM3 (GM/T 0009 default identifier)."""

    def validate_signature(self, signature: bytes, signed_data: bytes,
                           public_key_info: keys.PublicKeyInfo,
                           signature_algorithm: algos.SignedDigestAlgorithm,
                           *args: Any, **kwargs: Any) -> None:
        if signature_algorithm["algorithm"].dotted in sm2.SIGNATURE_OIDS:
            try:
                ok = sm2.verify(public_key_info.dump(), signature, signed_data)
            except sm2.SM2Error:
                ok = False
            if not ok:
                raise InvalidSignature
            return
        super().validate_signature(signature, signed_data, public_key_info,  # type: ignore[no-untyped-call]
                                   signature_algorithm, *args, **kwargs)


SIGNATURE_VALIDATOR = SignatureValidator()


def crl_signed_by(crl_der: bytes, ca_der: bytes) -> bool:
    """True if the CRL names the CA as its issuer and carries a valid signature by its key."""
    try:
        crl = asn1_crl.CertificateList.load(crl_der)
        ca = x509.Certificate.load(ca_der)
        if crl["tbs_cert_list"]["issuer"] != ca.subject:
            return False
        SIGNATURE_VALIDATOR.validate_signature(
            crl["signature"].native, crl["tbs_cert_list"].dump(), ca.public_key,
            crl["signature_algorithm"])
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError, KeyError):
        return False  # pyhanko's AlgorithmNotSupported is an InvalidSignature
    return True


# Key usage and extended key usage required per purpose. A signing
# certificate may carry either digital signature or non-repudiation.
PURPOSE_USAGE: dict[str, tuple[set[str], set[str] | None]] = {
    "signing": ({"digital_signature"}, None),
    "platform": ({"digital_signature"}, None),
    "login": ({"digital_signature"}, {"client_auth"}),
    "tsa": ({"digital_signature"}, {"time_stamping"}),
    # key transport (RSA) or key agreement (EC): path and revocation are what matter here
    "encryption": (set(), None),
}


@dataclass
class TrustStore:
    """Roots, intermediates and CRLs of the CAs the platform accepts (mutual recognition)."""

    roots: list[x509.Certificate] = field(default_factory=list)
    intermediates: list[x509.Certificate] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    revocation_mode: str = "hard-fail"  # or "soft-fail" / "require"
    allow_fetching: bool = False
    # per issuing CA (its subject, DER): the mode for the certificates it issues
    modes: dict[bytes, str] = field(default_factory=dict)
    # per issuing CA (its subject, DER): the OCSP responder an administrator configured
    ocsp_urls: dict[bytes, str] = field(default_factory=dict)
    ocsp_fetch: ocsp.Fetch = ocsp.http_fetch
    # per issuing CA (its subject, DER): why its CRL, past nextUpdate, could not be fetched
    # again; its certificates are refused unless its mode is soft-fail
    unavailable_crls: dict[bytes, str] = field(default_factory=dict)

    def mode_for(self, cert: x509.Certificate) -> str:
        return self.modes.get(cert.issuer.dump(), self.revocation_mode)

    def fingerprint(self) -> bytes:
        """Changes whenever what is trusted or revoked changes (a new CRL included)."""
        h = hashlib.sha256()
        for group in (self.roots, self.intermediates):
            for cert in group:
                h.update(cert.dump())
            h.update(b"|")
        for crl in self.crls:
            h.update(crl)
        h.update(b"|" + self.revocation_mode.encode())
        for subject, mode in sorted(self.modes.items()):
            h.update(subject + mode.encode())
        for subject, url in sorted(self.ocsp_urls.items()):
            h.update(subject + url.encode())
        return h.digest()

    @staticmethod
    def load_cert(data: bytes) -> x509.Certificate:
        if data.lstrip().startswith(b"-----"):
            data = cx509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.Certificate.load(data)

    @classmethod
    def from_pem_files(cls, cert_files: Iterable[Path], crl_files: Iterable[Path] = (), *,
                       revocation_mode: str = "hard-fail") -> TrustStore:
        """Self-signed certificates become roots, the others intermediates."""
        store = cls(revocation_mode=revocation_mode)
        for path in cert_files:
            for cert in cx509.load_pem_x509_certificates(path.read_bytes()):
                der = x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
                (store.roots if cert.issuer == cert.subject else store.intermediates).append(der)
        for path in crl_files:
            raw = path.read_bytes()
            if raw.lstrip().startswith(b"-----"):
                raw = cx509.load_pem_x509_crl(raw).public_bytes(serialization.Encoding.DER)
            store.crls.append(raw)
        return store

    def context(self, moment: datetime | None, extra: Iterable[x509.Certificate] = (),
                mode: str | None = None,
                ocsps: Iterable[asn1_ocsp.OCSPResponse] = ()) -> ValidationContext:
        return ValidationContext(
            trust_roots=self.roots, other_certs=[*self.intermediates, *extra],
            crls=[asn1_crl.CertificateList.load(c) for c in self.crls], ocsps=list(ocsps),
            moment=moment, allow_fetching=self.allow_fetching,
            signature_validator=SIGNATURE_VALIDATOR,
            revocation_mode=mode or self.revocation_mode,
            # A CRL issued after the moment checked still tells whether the
            # certificate had been revoked by then: validating at a
            # timestamp's time uses today's CRL.
            retroactive_revinfo=True,
        )


async def validate_certificate(cert: x509.Certificate, others: list[x509.Certificate], *,
                               trust: TrustStore, purpose: str,
                               moment: datetime | None) -> list[x509.Certificate]:
    """Path, validity at ``moment`` (None: now), revocation and key usage; returns the path.

    A successful check "as of now" is remembered for ``CACHE_SECONDS`` under a
    key covering the certificate, the purpose and everything trusted (CRLs
    included), so a newly published CRL or a changed trust store misses the
    cache at once. Checks at a past moment are not cached.
    """
    reason = trust.unavailable_crls.get(cert.issuer.dump())
    if reason is not None and trust.mode_for(cert) != "soft-fail":
        raise RevocationUnavailable({"reason": reason})
    now_check = moment is None
    moment = moment or datetime.now(UTC)
    cache_key = b""
    if now_check:
        cache_key = hashlib.sha256(cert.dump() + purpose.encode() + trust.fingerprint()).digest()
        hit = _VALIDATED.get(cache_key)
        if hit is not None and hit[0] > time.monotonic() and hit[1] > moment:
            return hit[2]
    path = await _validate_path(cert, others, trust=trust, purpose=purpose, moment=moment)
    if now_check:
        if len(_VALIDATED) >= CACHE_SIZE:
            _VALIDATED.clear()
        not_after: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
        _VALIDATED[cache_key] = (time.monotonic() + CACHE_SECONDS, not_after, path)
    return path


CACHE_SECONDS = 300
CACHE_SIZE = 10_000
_VALIDATED: dict[bytes, tuple[float, datetime, list[x509.Certificate]]] = {}


async def _validate_path(cert: x509.Certificate, others: list[x509.Certificate], *,
                         trust: TrustStore, purpose: str,
                         moment: datetime) -> list[x509.Certificate]:
    key_usage, eku = PURPOSE_USAGE.get(purpose, PURPOSE_USAGE["signing"])
    ocsps = await _ocsp_responses(cert, others, trust)
    validator = CertificateValidator(cert, others,
                                     trust.context(moment, others, trust.mode_for(cert), ocsps))
    try:
        path = await validator.async_validate_usage(  # type: ignore[no-untyped-call]
            key_usage, extended_key_usage=eku, extended_optional=eku is None)
    except cv_errors.RevokedError as exc:
        raise CertificateRevoked({"reason": str(exc)[:300]}) from None
    except (cv_errors.ExpiredError, cv_errors.NotYetValidError) as exc:
        raise CertificateExpired({"reason": str(exc)[:300]}) from None
    except cv_errors.InsufficientRevinfoError as exc:
        raise RevocationUnknown({"reason": str(exc)[:300]}) from None
    except cv_errors.InvalidCertificateError as exc:
        raise WrongKeyUsage({"reason": str(exc)[:300]}) from None
    except (cv_errors.PathBuildingError, cv_errors.PathValidationError) as exc:
        raise UnknownIssuer({"reason": str(exc)[:300]}) from None
    return list(path)




async def _ocsp_responses(cert: x509.Certificate, others: list[x509.Certificate],
                          trust: TrustStore) -> list[asn1_ocsp.OCSPResponse]:
    """The configured responder's answer about the end-entity certificate, if it gives one.

    OCSP complements the CRLs: when the responder cannot be reached the
    certificate is judged on the CRLs alone (and hard-fail still refuses it
    when those are missing too).
    """
    url = trust.ocsp_urls.get(cert.issuer.dump())
    if url is None:
        return []
    issuer = next((c for c in (*trust.intermediates, *trust.roots, *others)
                   if c.subject == cert.issuer), None)
    if issuer is None:
        return []
    response = await ocsp.status(cert, issuer, url, trust.ocsp_fetch)
    return [] if response is None else [response]
