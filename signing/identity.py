"""Who a certificate speaks for: the organization's unified social credit code.

Read, in this order, from the subject: ``organizationIdentifier``
(2.5.4.97, where the development CA and ETSI-style CAs put it), then
``serialNumber`` (2.5.4.5), then any ``OU``; the first value that is a valid
GB 32100 code (an optional ``USCC``/``NTRCN-`` style prefix is ignored) is
the organization. A certificate with none maps to a person only.

Binding a certificate to a user (``signing.login.bind_certificate``) checks
the subject against that user: for a member of an organization, the
certificate's credit code is the organization's; for a person with no
organization (an expert, an administrator), the certificate names no
organization at all and its common name is the person's registered name.
"""

from __future__ import annotations

import re
import unicodedata

from cryptography import x509
from cryptography.x509.oid import NameOID

from core import uscc

_ORDER = (NameOID.ORGANIZATION_IDENTIFIER, NameOID.SERIAL_NUMBER,
          NameOID.ORGANIZATIONAL_UNIT_NAME)
_CANDIDATE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


def credit_code(cert: x509.Certificate) -> str | None:
    for oid in _ORDER:
        for attr in cert.subject.get_attributes_for_oid(oid):
            value = attr.value if isinstance(attr.value, str) else attr.value.decode()
            for candidate in _CANDIDATE.findall(value.upper()):
                if uscc.is_valid(candidate):
                    return str(candidate)
    return None


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode()


def organization_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


def person_name(cert: x509.Certificate) -> str:
    """The holder as people read it: the dev CA and most Chinese CAs name an organization's
    person "<organization><person>" (or "<organization>经办人"), so the organization's name
    is taken off the front, as the page's holder.js does."""
    cn = common_name(cert)
    org = organization_name(cert)
    if org and cn.startswith(org) and len(cn) > len(org):
        return cn[len(org):]
    return cn


def _plain(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def speaks_for_person(cert: x509.Certificate, name: str) -> bool:
    """A personal certificate of the person called ``name``: no organization in the
    subject (no credit code, no O), and the common name is the name."""
    if credit_code(cert) is not None or organization_name(cert) is not None:
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(names) and _plain(common_name(cert)) == _plain(name)
