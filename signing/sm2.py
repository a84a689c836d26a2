"""SM2 signatures with SM3 (GB/T 32918, GM/T 0009) through the system's OpenSSL 3.

The ``cryptography`` package has SM3 and SM4 but not the SM2 curve, and the
pure-Python ``gmssl`` manages about 100 verifications a second here. OpenSSL
3 (``libcrypto.so.3``, on every Debian 12 machine) does about 3,000, so
signing and verification call its EVP interface directly. Signatures are
DER ``SEQUENCE {r, s}`` over SM3 with the signer's distinguishing identifier
(default ``1234567812345678``), the form ``openssl dgst -sm3`` and Chinese CA
tooling produce.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from asn1crypto import crl, keys, x509
from asn1crypto import pem as asn1_pem

DEFAULT_ID = b"1234567812345678"
SM2_CURVE = "1.2.156.10197.1.301"
SM2_SIGN_WITH_SM3 = "1.2.156.10197.1.501"
SM2_SIGN = "1.2.156.10197.1.301.1"  # GM/T 0010 CMS signatureAlgorithm (with SM3 digest)
SM3 = "1.2.156.10197.1.401"
SIGNATURE_OIDS = frozenset({SM2_SIGN_WITH_SM3, SM2_SIGN})


class SM2Error(ValueError):
    """OpenSSL refused the key or the operation."""


@cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    vp, cp, sz, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
    sigs = {
        "d2i_PUBKEY": ([vp, ctypes.POINTER(cp), ctypes.c_long], vp),
        "d2i_AutoPrivateKey": ([vp, ctypes.POINTER(cp), ctypes.c_long], vp),
        "EVP_PKEY_free": ([vp], None),
        "EVP_MD_CTX_new": ([], vp),
        "EVP_MD_CTX_free": ([vp], None),
        "EVP_PKEY_CTX_new_from_pkey": ([vp, vp, cp], vp),
        "EVP_PKEY_CTX_free": ([vp], None),
        "EVP_PKEY_CTX_set1_id": ([vp, cp, sz], i),
        "EVP_MD_CTX_set_pkey_ctx": ([vp, vp], None),
        "EVP_DigestVerifyInit_ex": ([vp, vp, cp, vp, cp, vp, vp], i),
        "EVP_DigestVerify": ([vp, cp, sz, cp, sz], i),
        "EVP_DigestSignInit_ex": ([vp, vp, cp, vp, cp, vp, vp], i),
        "EVP_DigestSign": ([vp, cp, ctypes.POINTER(sz), cp, sz], i),
        "ERR_clear_error": ([], None),
    }
    for fn, (args, res) in sigs.items():
        getattr(lib, fn).argtypes = args
        getattr(lib, fn).restype = res
    return lib


def available() -> bool:
    try:
        _lib()
    except OSError:
        return False
    return True


def _load(der: bytes, *, private: bool) -> int:
    lib = _lib()
    buf = ctypes.c_char_p(der)
    key = (lib.d2i_AutoPrivateKey if private else lib.d2i_PUBKEY)(
        None, ctypes.byref(buf), len(der))
    if not key:
        lib.ERR_clear_error()
        raise SM2Error("not an SM2 key OpenSSL can read")
    return int(key)


def _with_ctx(key: int, sign: bool, ident: bytes) -> tuple[int, int]:
    lib = _lib()
    pctx = lib.EVP_PKEY_CTX_new_from_pkey(None, key, None)
    if not pctx or lib.EVP_PKEY_CTX_set1_id(pctx, ident, len(ident)) <= 0:
        lib.EVP_PKEY_CTX_free(pctx)
        raise SM2Error("cannot set the SM2 identifier")
    mctx = lib.EVP_MD_CTX_new()
    lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
    init = lib.EVP_DigestSignInit_ex if sign else lib.EVP_DigestVerifyInit_ex
    if init(mctx, None, b"SM3", None, None, key, None) <= 0:
        lib.EVP_MD_CTX_free(mctx)
        lib.EVP_PKEY_CTX_free(pctx)
        lib.ERR_clear_error()
        raise SM2Error("the key is not an SM2 key")
    return int(mctx), int(pctx)


def _free(key: int, mctx: int, pctx: int) -> None:
    lib = _lib()
    lib.EVP_MD_CTX_free(mctx)  # the pkey ctx set on it is the caller's to free
    lib.EVP_PKEY_CTX_free(pctx)
    lib.EVP_PKEY_free(key)


def verify(public_key_der: bytes, signature: bytes, data: bytes,
           ident: bytes = DEFAULT_ID) -> bool:
    """True if ``signature`` (DER r, s) is the SM2/SM3 signature of ``data``."""
    key = _load(public_key_der, private=False)
    mctx, pctx = _with_ctx(key, False, ident)
    try:
        ok = _lib().EVP_DigestVerify(mctx, signature, len(signature), data, len(data))
        _lib().ERR_clear_error()
        return bool(ok == 1)
    finally:
        _free(key, mctx, pctx)


def sign(private_key_der: bytes, data: bytes, ident: bytes = DEFAULT_ID) -> bytes:
    """SM2/SM3 signature (DER r, s) of ``data`` with a PKCS#8 or SEC1 DER private key."""
    key = _load(private_key_der, private=True)
    mctx, pctx = _with_ctx(key, True, ident)
    try:
        size = ctypes.c_size_t(0)
        lib = _lib()
        if lib.EVP_DigestSign(mctx, None, ctypes.byref(size), data, len(data)) <= 0:
            raise SM2Error("signing failed")
        out = ctypes.create_string_buffer(size.value)
        if lib.EVP_DigestSign(mctx, out, ctypes.byref(size), data, len(data)) <= 0:
            raise SM2Error("signing failed")
        return out.raw[: size.value]
    finally:
        _free(key, mctx, pctx)


# ----------------------------------------------------------------- encryption
SM2_ENCRYPT = "1.2.156.10197.1.301.3"  # GM/T 0010 keyEncryptionAlgorithm


def _crypt(key: int, data: bytes, *, encrypt: bool) -> bytes:
    vp = ctypes.c_void_p
    lib = _lib()
    pctx = int(_call("EVP_PKEY_CTX_new_from_pkey", [vp, vp, ctypes.c_char_p], vp,  # type: ignore[call-overload]
                     None, key, None) or 0)
    step = "EVP_PKEY_encrypt" if encrypt else "EVP_PKEY_decrypt"
    try:
        if not pctx or int(_call(f"{step}_init", [vp], ctypes.c_int, pctx)) <= 0:  # type: ignore[call-overload]
            raise SM2Error("the key is not an SM2 key")
        size = ctypes.c_size_t(0)
        args = [vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
                ctypes.c_size_t]
        if int(_call(step, args, ctypes.c_int, pctx, None, ctypes.byref(size),  # type: ignore[call-overload]
                     data, len(data))) <= 0:
            raise SM2Error("SM2 encryption failed" if encrypt else "SM2 decryption failed")
        out = ctypes.create_string_buffer(size.value)
        if int(_call(step, args, ctypes.c_int, pctx, out, ctypes.byref(size),  # type: ignore[call-overload]
                     data, len(data))) <= 0:
            raise SM2Error("SM2 encryption failed" if encrypt else "SM2 decryption failed")
        return out.raw[: size.value]
    finally:
        lib.ERR_clear_error()
        if pctx:
            lib.EVP_PKEY_CTX_free(pctx)


def encrypt(public_key_der: bytes, data: bytes) -> bytes:
    """SM2 public-key encryption (GB/T 32918.4): the DER ``SM2Cipher`` (C1, C3, C2)."""
    key = _load(public_key_der, private=False)
    try:
        return _crypt(key, data, encrypt=True)
    finally:
        _lib().EVP_PKEY_free(key)


def decrypt(private_key_der: bytes, ciphertext: bytes) -> bytes:
    key = _load(private_key_der, private=True)
    try:
        return _crypt(key, ciphertext, encrypt=False)
    finally:
        _lib().EVP_PKEY_free(key)


# ----------------------------------------------------------------- keys and certificates
def _i2d(fn_name: str, obj: int) -> bytes:
    lib = _lib()
    fn = getattr(lib, fn_name)
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    fn.restype = ctypes.c_int
    size = fn(obj, None)
    if size <= 0:
        lib.ERR_clear_error()
        raise SM2Error(f"{fn_name} failed")
    buf = ctypes.create_string_buffer(size)
    ptr = ctypes.c_void_p(ctypes.addressof(buf))
    fn(obj, ctypes.byref(ptr))
    return buf.raw


def _d2i(fn_name: str, der: bytes) -> int:
    lib = _lib()
    fn = getattr(lib, fn_name)
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
    fn.restype = ctypes.c_void_p
    buf = ctypes.c_char_p(der)
    obj = fn(None, ctypes.byref(buf), len(der))
    if not obj:
        lib.ERR_clear_error()
        raise SM2Error(f"{fn_name}: not readable")
    return int(obj)


def _call(fn_name: str, args: list[object], restype: object, *values: object) -> object:
    fn = getattr(_lib(), fn_name)
    fn.argtypes, fn.restype = args, restype
    return fn(*values)


def _pkcs8(key: int) -> bytes:
    """PKCS#8 PrivateKeyInfo DER of an EVP_PKEY (i2d_PrivateKey gives SEC1 for EC keys)."""
    info = _call("EVP_PKEY2PKCS8", [ctypes.c_void_p], ctypes.c_void_p, key)
    if not info:
        _lib().ERR_clear_error()
        raise SM2Error("cannot export the private key")
    try:
        return _i2d("i2d_PKCS8_PRIV_KEY_INFO", int(info))  # type: ignore[call-overload]
    finally:
        _call("PKCS8_PRIV_KEY_INFO_free", [ctypes.c_void_p], None, info)


def generate_key() -> tuple[bytes, bytes]:
    """A new SM2 key pair: (PKCS#8 private key DER, SubjectPublicKeyInfo DER)."""
    lib = _lib()
    lib.EVP_PKEY_Q_keygen.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.EVP_PKEY_Q_keygen.restype = ctypes.c_void_p
    key = lib.EVP_PKEY_Q_keygen(None, None, b"SM2")
    if not key:
        lib.ERR_clear_error()
        raise SM2Error("SM2 key generation failed")
    try:
        return _pkcs8(key), _i2d("i2d_PUBKEY", key)
    finally:
        lib.EVP_PKEY_free(key)


def is_sm2_public_key(public_key_info_der: bytes) -> bool:

    info = keys.PublicKeyInfo.load(public_key_info_der)
    params = info["algorithm"]["parameters"]
    return bool(info["algorithm"]["algorithm"].native == "ec" and params.name == "named"
                and params.chosen.dotted == SM2_CURVE)


@dataclass(frozen=True)
class SM2PrivateKey:
    """An SM2 private key held as PKCS#8 DER (``cryptography`` has no SM2 curve)."""

    der: bytes
    public_der: bytes  # SubjectPublicKeyInfo

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        return cls(*generate_key())

    @classmethod
    def load(cls, der: bytes) -> SM2PrivateKey:
        key = _load(der, private=True)
        try:
            public = _i2d("i2d_PUBKEY", key)
            if not is_sm2_public_key(public):
                raise SM2Error("not an SM2 key")
            return cls(_pkcs8(key), public)
        finally:
            _lib().EVP_PKEY_free(key)

    def sign(self, data: bytes, ident: bytes = DEFAULT_ID) -> bytes:
        return sign(self.der, data, ident)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return decrypt(self.der, ciphertext)

    def pem(self) -> bytes:
        armored: bytes = asn1_pem.armor("PRIVATE KEY", self.der)
        return armored


def resign(der: bytes, *, kind: str, sign_tbs: Callable[[bytes], bytes],
           algorithm: str | None = None, public_key_der: bytes | None = None) -> bytes:
    """Sign an X.509 certificate or CRL again, optionally giving it another public key.

    ``cryptography`` builds certificates and CRLs (names, serials, extensions)
    but can neither sign with SM2 nor embed an SM2 public key. Those are built
    with a stand-in key and finished here: the public key and the signature
    algorithm (``algorithm``, an OID; None keeps the one there) are replaced
    and ``sign_tbs`` signs the new to-be-signed part.
    """

    if kind == "crl":
        lst = crl.CertificateList.load(der)
        tbs = lst["tbs_cert_list"].copy()
        alg = {"algorithm": algorithm} if algorithm else lst["signature_algorithm"]
        tbs["signature"] = alg
        return bytes(crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": alg,
                                          "signature": sign_tbs(tbs.dump())}).dump())
    cert = x509.Certificate.load(der)
    tbs = cert["tbs_certificate"].copy()
    alg = {"algorithm": algorithm} if algorithm else cert["signature_algorithm"]
    tbs["signature"] = alg
    if public_key_der is not None:
        tbs["subject_public_key_info"] = keys.PublicKeyInfo.load(public_key_der)
    return bytes(x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": alg,
                                   "signature_value": sign_tbs(tbs.dump())}).dump())


# ----------------------------------------------------------------- PKCS#12
def pkcs12_create(key: SM2PrivateKey, cert_der: bytes, chain_der: list[bytes],
                  password: bytes, name: bytes) -> bytes:
    """A PKCS#12 file (OpenSSL 3 defaults: AES-256-CBC, PBKDF2, SHA-256 MAC) for an SM2 key."""
    vp = ctypes.c_void_p
    pkey = _load(key.der, private=True)
    x509s: list[int] = []
    stack = int(_call("OPENSSL_sk_new_null", [], vp) or 0)  # type: ignore[call-overload]
    p12 = 0
    try:
        cert = _d2i("d2i_X509", cert_der)
        x509s.append(cert)
        for der in chain_der:
            x509s.append(_d2i("d2i_X509", der))
            _call("OPENSSL_sk_push", [vp, vp], ctypes.c_int, stack, x509s[-1])
        p12 = int(_call("PKCS12_create",  # type: ignore[call-overload]
                        [ctypes.c_char_p, ctypes.c_char_p, vp, vp, vp, *[ctypes.c_int] * 5], vp,
                        password, name, pkey, cert, stack, 0, 0, 0, 0, 0) or 0)
        if not p12:
            _lib().ERR_clear_error()
            raise SM2Error("cannot build the PKCS#12 file")
        return _i2d("i2d_PKCS12", p12)
    finally:
        if p12:
            _call("PKCS12_free", [vp], None, p12)
        for x in x509s:
            _call("X509_free", [vp], None, x)
        _call("OPENSSL_sk_free", [vp], None, stack)
        _lib().EVP_PKEY_free(pkey)


def pkcs12_parse(data: bytes, password: bytes | None) -> tuple[SM2PrivateKey, bytes, list[bytes]]:
    """(key, certificate DER, other certificates DER) from a PKCS#12 file with an SM2 key."""
    vp = ctypes.c_void_p
    p12 = _d2i("d2i_PKCS12", data)
    pkey, cert, stack = vp(), vp(), vp()
    try:
        ok = _call("PKCS12_parse", [vp, ctypes.c_char_p, ctypes.POINTER(vp), ctypes.POINTER(vp),
                                    ctypes.POINTER(vp)], ctypes.c_int, p12, password or b"",
                   ctypes.byref(pkey), ctypes.byref(cert), ctypes.byref(stack))
        if ok != 1 or not pkey.value or not cert.value:
            _lib().ERR_clear_error()
            raise SM2Error("wrong password, or not a PKCS#12 file with a key and certificate")
        key = SM2PrivateKey.load(_pkcs8(pkey.value))
        cert_der = _i2d("i2d_X509", cert.value)
        chain = []
        count = int(_call("OPENSSL_sk_num", [vp], ctypes.c_int, stack) or 0) if stack.value else 0  # type: ignore[call-overload,arg-type]
        for i in range(count):
            item = _call("OPENSSL_sk_value", [vp, ctypes.c_int], vp, stack, i)
            chain.append(_i2d("i2d_X509", int(item)))  # type: ignore[call-overload]
        return key, cert_der, chain
    finally:
        if pkey.value:
            _lib().EVP_PKEY_free(pkey.value)
        if cert.value:
            _call("X509_free", [vp], None, cert.value)
        if stack.value:
            count = int(_call("OPENSSL_sk_num", [vp], ctypes.c_int, stack) or 0)  # type: ignore[call-overload]
            for i in range(count):
                _call("X509_free", [vp], None, _call("OPENSSL_sk_value", [vp, ctypes.c_int], vp,
                                                     stack, i))
            _call("OPENSSL_sk_free", [vp], None, stack)
        _call("PKCS12_free", [vp], None, p12)
