"""Putting a key and its certificate on a token: what a CA does when it issues a USB key.

The key pair is generated inside the token (C_GenerateKeyPair, private key sensitive and
never extractable); the certificate request is signed by the token; the certificate the
CA issues (and its chain) is written back under the key's CKA_ID, where the agent finds it.
Used to set up SoftHSM2 tokens for development and the tests (docs/agent.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pkcs11
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key

from client.agent.keys import HeldECKey, HeldRSAKey
from client.agent.token import _der_signature

Generated = Literal["rsa2048", "p256", "sm2"]
CURVES = {"p256": "1.2.840.10045.3.1.7", "sm2": "1.2.156.10197.1.301"}


@contextmanager
def session(module: str, label: str, pin: str) -> Iterator[Any]:
    """A read-write session, logged in as the token's user."""
    token = pkcs11.lib(module).get_token(token_label=label)
    with token.open(user_pin=pin, rw=True) as s:
        yield s


def generate(s: Any, key_type: Generated, key_id: bytes, label: str) -> tuple[Any, Any]:
    """A new key pair inside the token: (private, public) objects.

    An SM2 key is an EC key on the SM2 curve, the way vendor drivers keep it; using it for
    SM2 (not ECDSA) takes the driver's vendor mechanisms (docs/agent.md).
    """
    private_template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True, Attribute.DECRYPT: key_type != "p256",
                        Attribute.DERIVE: key_type == "p256"}
    if key_type == "rsa2048":
        public, private = s.generate_keypair(
            KeyType.RSA, 2048, id=key_id, label=label, store=True,
            private_template=private_template)
        return private, public
    if key_type == "sm2":
        private_template.pop(Attribute.DECRYPT)  # not an attribute SoftHSM lets EC keys have
    params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: core.ObjectIdentifier(CURVES[key_type]).dump()},
        local=True)
    public, private = params.generate_keypair(id=key_id, label=label, store=True,
                                              private_template=private_template)
    return private, public


def public_key_info(public: Any) -> bytes:
    """The SubjectPublicKeyInfo (DER) of a public key object on the token."""
    if public.key_type == KeyType.RSA:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                       int.from_bytes(public[Attribute.MODULUS], "big"))
        return numbers.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return bytes(encode_ec_public_key(public))


def held(private: Any, public: Any) -> HeldRSAKey | HeldECKey:
    """The RSA or P-256 key pair as a key that signs through the token."""
    if private.key_type == KeyType.RSA:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                       int.from_bytes(public[Attribute.MODULUS], "big"))
        return HeldRSAKey(numbers.public_key(),
                          lambda data: bytes(private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)))
    ec_public = serialization.load_der_public_key(public_key_info(public))
    assert isinstance(ec_public, ec.EllipticCurvePublicKey)
    return HeldECKey(ec_public, lambda data: _der_signature(bytes(private.sign(
        hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA))))


def request(key: HeldRSAKey | HeldECKey, subject: x509.Name) -> x509.CertificateSigningRequest:
    """A PKCS#10 request signed by the token: the CA's proof that the token holds the key."""
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def store_certificate(s: Any, cert: x509.Certificate, *, key_id: bytes | None,
                      label: str) -> None:
    """Write a certificate to the token: the key's own under its CKA_ID, a CA's without one."""
    template = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: label,
        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.ISSUER: cert.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: core.Integer(cert.serial_number).dump(),
    }
    if key_id is not None:
        template[Attribute.ID] = key_id
    s.create_object(template)
