"""The platform's seal on official documents: a PAdES signature with the platform's
certificate (``PLATFORM_CERT_FILE``/``PLATFORM_KEY_FILE``) and, when a timestamp authority
is configured (built-in, or remote with ``TSA_URL``), a signature timestamp (B-T), so that
``pdfsig`` or any PDF reader can check who issued the document and that it is unchanged.
Without a platform certificate there is no official PDF: the job fails loudly and is
retried once one is configured.

Rendering the PDF is core's (``core.pdf``); sealing it is signing's, so core stays below
signing."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.settings import Settings
from signing import tsa
from signing.pdf import AuthorityTimeStamper, sign_pdf


class NoPlatformSeal(RuntimeError):
    """The deployment has no platform certificate to seal official PDFs with."""


def load_seal(settings: Settings) -> tuple[list[x509.Certificate], Any]:
    """The platform's certificate (then chain) and key: PDFs and receipts are sealed with it."""
    if not (settings.platform_cert_file and settings.platform_key_file):
        raise NoPlatformSeal("PLATFORM_CERT_FILE and PLATFORM_KEY_FILE are not set")
    return _read_seal(settings.platform_cert_file, settings.platform_key_file)


@cache
def _read_seal(cert_file: str, key_file: str) -> tuple[list[x509.Certificate], Any]:
    certs = x509.load_pem_x509_certificates(Path(cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
    return certs, key


async def seal(pdf: bytes, settings: Settings, *, reason: str) -> bytes:
    certs, key = load_seal(settings)
    authority = tsa.from_settings(url=settings.tsa_url, cert_file=settings.tsa_cert_file,
                                  key_file=settings.tsa_key_file)
    stamper = AuthorityTimeStamper(authority) if authority is not None else None
    return await sign_pdf(pdf, cert=certs[0], key=key, chain=certs[1:],
                          timestamper=stamper, reason=reason)
