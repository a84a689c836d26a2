"""Certificates map to organizations through the credit code in their subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing import identity
from tests.signing.conftest import PKI


def _cert(attrs: list[x509.NameAttribute]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(attrs)
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))


def test_organization_identifier_from_the_dev_ca(pki: PKI) -> None:
    issued = pki.ca1.issue(cn="王五", org="陕西秦岭公路工程有限公司",
                           credit_code="91610100MA6TGK5L30", purpose="signing")
    assert identity.credit_code(issued.cert) == "91610100MA6TGK5L30"
    assert identity.common_name(issued.cert) == "王五"
    assert identity.organization_name(issued.cert) == "陕西秦岭公路工程有限公司"


def test_other_placements_and_refusals() -> None:
    cn = x509.NameAttribute(NameOID.COMMON_NAME, "x")
    serial = _cert([cn, x509.NameAttribute(NameOID.SERIAL_NUMBER, "91350100M000100Y43")])
    assert identity.credit_code(serial) == "91350100M000100Y43"
    ou = _cert([cn, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                       "USCC:91110000802100433B")])
    assert identity.credit_code(ou) == "91110000802100433B"
    bad_check = _cert([cn, x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER,
                                              "91350100M000100Y44")])
    assert identity.credit_code(bad_check) is None
    assert identity.credit_code(_cert([cn])) is None
