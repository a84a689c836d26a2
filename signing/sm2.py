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
from functools import cache

DEFAULT_ID = b"1234567812345678"


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


# ----------------------------------------------------------------- keys and certificates
SM2_SIGN_WITH_SM3 = "1.2.156.10197.1.501"


def _i2d(fn_name: str, key: int) -> bytes:
    lib = _lib()
    fn = getattr(lib, fn_name)
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    fn.restype = ctypes.c_int
    size = fn(key, None)
    if size <= 0:
        raise SM2Error(f"{fn_name} failed")
    buf = ctypes.create_string_buffer(size)
    ptr = ctypes.c_void_p(ctypes.addressof(buf))
    fn(key, ctypes.byref(ptr))
    return buf.raw


def generate_key() -> tuple[bytes, bytes]:
    """A new SM2 key pair: (private key DER, SubjectPublicKeyInfo DER)."""
    lib = _lib()
    lib.EVP_PKEY_Q_keygen.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.EVP_PKEY_Q_keygen.restype = ctypes.c_void_p
    key = lib.EVP_PKEY_Q_keygen(None, None, b"SM2")
    if not key:
        lib.ERR_clear_error()
        raise SM2Error("SM2 key generation failed")
    try:
        return _i2d("i2d_PrivateKey", key), _i2d("i2d_PUBKEY", key)
    finally:
        lib.EVP_PKEY_free(key)


def build_certificate(*, subject: object, issuer: object, public_key_der: bytes,
                      issuer_private_der: bytes, serial: int, not_before: object,
                      not_after: object, extensions: list[dict[str, object]],
                      ident: bytes = DEFAULT_ID) -> bytes:
    """An X.509 certificate signed with SM2/SM3 (``cryptography`` cannot sign these).

    ``subject`` and ``issuer`` are asn1crypto Names; ``extensions`` asn1crypto
    extension dicts. The signature uses the GM/T 0015 default identifier;
    OpenSSL 3.0's ``verify`` checks it with ``-vfyopt distid:1234567812345678``
    (without that option it assumes an empty identifier).
    """
    from asn1crypto import keys, x509

    algorithm = {"algorithm": SM2_SIGN_WITH_SM3}
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": serial, "signature": algorithm,
        "issuer": issuer, "subject": subject,
        "validity": {"not_before": x509.Time({"utc_time": not_before}),
                     "not_after": x509.Time({"utc_time": not_after})},
        "subject_public_key_info": keys.PublicKeyInfo.load(public_key_der),
        "extensions": extensions,
    })
    signature = sign(issuer_private_der, tbs.dump(), ident)
    der: bytes = x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm,
                                   "signature_value": signature}).dump()
    return der
