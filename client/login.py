"""The client side of certificate login, from a PKCS#12 file (the bidder tool uses it)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signing import cms, sm2
from signing.keys import PrivateKey


def load_pkcs12(data: bytes, password: bytes | None) -> tuple[PrivateKey, x509.Certificate,
                                                             list[x509.Certificate]]:
    """Key, certificate and chain; SM2 keys (which ``cryptography`` cannot read) via OpenSSL."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except UnsupportedAlgorithm:
        try:
            sm2_key, cert_der, chain = sm2.pkcs12_parse(data, password)
        except sm2.SM2Error as exc:
            raise ValueError(str(exc)) from None
        return (sm2_key, x509.load_der_x509_certificate(cert_der),
                [x509.load_der_x509_certificate(c) for c in chain])
    if cert is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the PKCS#12 file holds no RSA, EC or SM2 key with its certificate")
    return key, cert, list(extra)


async def signed_challenge(http: httpx.AsyncClient, key: PrivateKey, cert: x509.Certificate,
                           chain: list[x509.Certificate]) -> dict[str, str]:
    """A fresh server nonce signed with the login key: what a certificate sign-in sends
    (to log in, or to sign in to an opening hall)."""
    r = await http.post("/api/auth/cert/challenge")
    r.raise_for_status()
    nonce_b64: str = r.json()["nonce"]
    signature = cms.sign(base64.b64decode(nonce_b64), cert=cert, key=key, chain=chain)
    return {"nonce": nonce_b64, "signature": base64.b64encode(signature).decode()}


async def login_with_pkcs12(http: httpx.AsyncClient, p12: bytes,
                            password: bytes | None) -> dict[str, Any]:
    """Sign the server's nonce with the login key; the session cookie lands in ``http``."""
    key, cert, chain = load_pkcs12(p12, password)
    r = await http.post("/api/auth/cert/login", json=await signed_challenge(http, key, cert, chain))
    body: dict[str, Any] = r.json()
    if r.status_code != 200:
        raise PermissionError(body.get("message_en", "certificate login failed"))
    return body
