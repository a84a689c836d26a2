"""Private keys of the three families the platform signs with: RSA, EC P-256 and SM2.

``cryptography`` covers RSA and ECDSA; SM2 keys are ``sm2.SM2PrivateKey``
(OpenSSL through ctypes). Everything that signs (the CA, CMS, PDFs,
timestamps) goes through ``sign_bytes`` so that the algorithm identifier
always matches the key.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Literal

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing import sm2
from signing.ber import pem_to_der
from signing.sm2 import SM2PrivateKey

__all__ = ["KEY_TYPES", "KeyType", "PrivateKey", "SM2PrivateKey", "UnusableKey", "key_identifier",
           "key_pem", "load_key_pem", "new_key", "public_key_der", "sign_bytes",
           "signature_algorithm", "stand_in"]

KeyType = Literal["rsa2048", "rsa3072", "p256", "sm2"]
KEY_TYPES: tuple[KeyType, ...] = ("rsa2048", "rsa3072", "p256", "sm2")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | SM2PrivateKey


class UnusableKey(ValueError):
    """A key that cannot be made or read."""


def new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "sm2":
        return SM2PrivateKey.generate()
    raise UnusableKey(f"unknown key type {key_type!r}")


def key_pem(key: PrivateKey) -> bytes:
    if isinstance(key, SM2PrivateKey):
        return key.pem()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key_pem(data: bytes) -> PrivateKey:
    """An unencrypted PKCS#8 (or traditional) PEM private key of any of the three families."""
    try:
        key = serialization.load_pem_private_key(data, None)
    except (UnsupportedAlgorithm, ValueError):
        try:
            return SM2PrivateKey.load(pem_to_der(data))
        except (sm2.SM2Error, ValueError) as exc:
            raise UnusableKey("not a private key this platform can use") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UnusableKey("only RSA, EC and SM2 keys are used")
    return key


def public_key_der(key: PrivateKey) -> bytes:
    """SubjectPublicKeyInfo DER."""
    if isinstance(key, SM2PrivateKey):
        return key.public_der
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def key_identifier(key: PrivateKey) -> bytes:
    """RFC 5280 method 1: SHA-1 of the subjectPublicKey bits (what ``cryptography`` computes)."""
    info = asn1_keys.PublicKeyInfo.load(public_key_der(key))
    return hashlib.sha1(info["public_key"].contents[1:]).digest()  # noqa: S324 - RFC 5280


def signature_algorithm(key: PrivateKey) -> str:
    """asn1crypto name or OID of the algorithm ``sign_bytes`` uses with this key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "sha256_rsa"
    if isinstance(key, SM2PrivateKey):
        return sm2.SM2_SIGN_WITH_SM3
    return "sha256_ecdsa"


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """RSA PKCS#1 v1.5 / ECDSA over SHA-256, or SM2 over SM3 with the default identifier."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, SM2PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


@cache
def stand_in() -> ec.EllipticCurvePrivateKey:
    """A throwaway key that lets ``cryptography`` build what SM2 then signs (see sm2.resign)."""
    return ec.generate_private_key(ec.SECP256R1())
