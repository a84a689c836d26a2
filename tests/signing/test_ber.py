"""The one BER/DER framing helper, at the boundaries of its length forms."""

from __future__ import annotations

import io

import pytest
from asn1crypto import core, x509

from signing import ber
from signing.errors import MalformedEnvelope, MalformedSignature
from tests.conftest import PKI


@pytest.mark.parametrize(("n", "expected"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x81\x80"), (255, b"\x81\xff"),
    (256, b"\x82\x01\x00"), (65535, b"\x82\xff\xff"), (65536, b"\x83\x01\x00\x00"),
    (None, b"\x80"),
])
def test_length_octets_at_each_boundary(n: int | None, expected: bytes) -> None:
    assert ber.encode_length(n) == expected


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 65536])
def test_definite_elements_agree_with_asn1crypto_and_read_back(n: int) -> None:
    body = bytes(range(256)) * (n // 256) + bytes(n % 256)
    element = ber.octet_piece(body)
    assert element == core.OctetString(body).dump()
    reader = ber.Reader(io.BytesIO(element + b"rest"))
    assert reader.element() == element
    tag, length, raw = ber.Reader(io.BytesIO(element)).header()
    assert (tag, length) == (0x04, n)
    assert raw == element[:len(raw)]


def test_indefinite_length_reads_as_none_and_closes_on_end_of_contents() -> None:
    stream = io.BytesIO(b"\x24\x80" + ber.octet_piece(b"ab") + ber.octet_piece(b"c") + ber.EOC)
    reader = ber.Reader(stream)
    assert reader.header() == (0x24, None, b"\x24\x80")
    assert reader.element() == b"\x04\x02ab"
    assert reader.element() == b"\x04\x01c"
    reader.expect_eoc()
    with pytest.raises(MalformedEnvelope):
        ber.Reader(io.BytesIO(b"\x24\x80")).element()  # indefinite where definite is needed


@pytest.mark.parametrize("data", [
    b"\x04\x05abc",                      # shorter than its length
    b"\x04\x89" + b"\x01" * 9,            # nine length octets
    b"\x1f\x01\x00",                      # multi-byte tag
    b"\x04",                              # no length at all
])
def test_malformed_input_raises_the_readers_error(data: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        ber.Reader(io.BytesIO(data)).element()

    class SignatureReader(ber.Reader):
        error = MalformedSignature

    with pytest.raises(MalformedSignature):
        SignatureReader(io.BytesIO(data)).element()


def test_huge_declared_length_is_refused_before_reading() -> None:
    with pytest.raises(MalformedEnvelope):
        ber.Reader(io.BytesIO(b"\x04\x84\x7f\xff\xff\xff")).element()


def test_pem_round_trip_and_der_passes_through(pki: PKI) -> None:
    der = x509.Certificate.load(ber.pem_to_der(pki.root_file(pki.ca1).read_bytes())).dump()
    armored = ber.der_to_pem(der, "CERTIFICATE")
    assert armored.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert ber.pem_to_der(armored) == der
    assert ber.pem_to_der(b"\n  " + armored) == der  # leading whitespace, as files have
    assert ber.pem_to_der(der) == der

