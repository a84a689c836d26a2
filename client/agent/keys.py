"""Keys held elsewhere (on a token, behind the agent) as ``cryptography`` private keys.

The platform's signing code (CMS, certificate requests, envelopes) takes a
``cryptography`` private key and calls its ``sign``, ``decrypt`` or ``exchange``. These
classes implement those calls with three functions (sign the bytes, unwrap a key, agree
on a secret), so the same code signs with a key it never sees: a request made on the
token, a CMS signed through the agent, an envelope opened through it. Only what CMS uses
is offered: RSASSA-PKCS1-v1_5 and ECDSA with SHA-256, RSA PKCS#1 v1.5 and OAEP unwrapping,
ECDH on P-256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo, Prehashed

Sign = Callable[[bytes], bytes]
Decrypt = Callable[[bytes, str], bytes]
Agree = Callable[[bytes], bytes]


def _no(*_args: Any) -> NoReturn:
    raise UnsupportedAlgorithm("the private key stays on the token")


def oaep_scheme(pad: asym_padding.OAEP) -> str:
    """The protocol's scheme for an OAEP padding (SHA-1 or SHA-256, MGF1 with the same)."""
    algorithm = getattr(pad, "_algorithm", None)
    mgf = getattr(getattr(pad, "_mgf", None), "_algorithm", None)
    label = getattr(pad, "_label", None)
    for scheme, kind in (("rsa-oaep-sha1", hashes.SHA1), ("rsa-oaep-sha256", hashes.SHA256)):
        if isinstance(algorithm, kind) and isinstance(mgf, kind) and not label:
            return scheme
    raise UnsupportedAlgorithm("OAEP with SHA-1 or SHA-256 and no label only")


class HeldRSAKey(rsa.RSAPrivateKey):
    def __init__(self, public: rsa.RSAPublicKey, sign: Sign, decrypt: Decrypt | None = None):
        self._public, self._sign, self._decrypt = public, sign, decrypt

    def sign(self, data: bytes, padding: asym_padding.AsymmetricPadding,
             algorithm: Prehashed | hashes.HashAlgorithm | NoDigestInfo) -> bytes:
        if not (isinstance(padding, asym_padding.PKCS1v15) and isinstance(algorithm, hashes.SHA256)):
            raise UnsupportedAlgorithm("RSASSA-PKCS1-v1_5 with SHA-256 only")
        return self._sign(data)

    def decrypt(self, ciphertext: bytes, padding: asym_padding.AsymmetricPadding) -> bytes:
        if self._decrypt is None:
            _no()
        if isinstance(padding, asym_padding.PKCS1v15):
            return self._decrypt(ciphertext, "rsa-pkcs1")
        if isinstance(padding, asym_padding.OAEP):
            return self._decrypt(ciphertext, oaep_scheme(padding))
        raise UnsupportedAlgorithm("PKCS#1 v1.5 or OAEP only")

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _no()

    def __copy__(self) -> HeldRSAKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> HeldRSAKey:
        return self


class HeldECKey(ec.EllipticCurvePrivateKey):
    def __init__(self, public: ec.EllipticCurvePublicKey, sign: Sign, agree: Agree | None = None):
        self._public, self._sign, self._agree = public, sign, agree

    def sign(self, data: bytes | bytearray | memoryview,
             signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not (isinstance(signature_algorithm, ec.ECDSA)
                and isinstance(signature_algorithm.algorithm, hashes.SHA256)):
            raise UnsupportedAlgorithm("ECDSA with SHA-256 only")
        return self._sign(bytes(data))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        if self._agree is None:
            _no()
        return self._agree(peer_public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _no()

    def __copy__(self) -> HeldECKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> HeldECKey:
        return self
