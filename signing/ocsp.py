"""OCSP (RFC 6960): a responder for the development CAs and a client with a cache.

Requests and responses are built with asn1crypto so that one code path
serves RSA, EC and SM2 CAs alike (``cryptography``'s OCSP builders need the
issuer's public key as an object, which SM2 keys cannot be). The issuing CA
signs its own responses, which RFC 6960 section 4.2.2.2 allows without a
delegated responder certificate.

The client asks only responders an administrator configured for a trusted CA
(never a URL taken from a presented certificate, which an attacker chooses),
and keeps each answer until its ``nextUpdate`` or ``CACHE_SECONDS``,
whichever is sooner.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from asn1crypto import algos, core, ocsp, x509

from signing.keys import PrivateKey, sign_bytes, signature_algorithm

CACHE_SECONDS = 300
RESPONSE_HOURS = 1
Fetch = Callable[[str, bytes], Awaitable[bytes]]
# (revocation time, reason) for a revoked serial, None for a good one
StatusOf = Callable[[int], "tuple[datetime, str] | None"]


def _cert_id(cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.CertId:
    return ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": issuer.subject.sha1,
        "issuer_key_hash": issuer.public_key.sha1,
        "serial_number": cert.serial_number,
    })


def build_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """An unsigned request for one certificate, without a nonce so answers can be cached."""
    return bytes(ocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": _cert_id(cert, issuer)}]}}).dump())


def _error(status: str) -> bytes:
    return bytes(ocsp.OCSPResponse({"response_status": status}).dump())


def respond(request_der: bytes, *, issuer: x509.Certificate, key: PrivateKey,
            status_of: StatusOf, now: datetime | None = None) -> bytes:
    """The signed answer to a request about certificates of ``issuer``.

    A certificate of another issuer is answered "unknown"; an unreadable
    request gets the ``malformed_request`` status, as RFC 6960 prescribes.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        request = ocsp.OCSPRequest.load(request_der, strict=True)
        wanted = [r["req_cert"] for r in request["tbs_request"]["request_list"]]
        for cid in wanted:
            cid.native  # noqa: B018 - parse everything before answering
    except (ValueError, TypeError, KeyError):
        return _error("malformed_request")
    if not wanted or len(wanted) > 20:
        return _error("malformed_request")
    responses = []
    for cid in wanted:
        algorithm = cid["hash_algorithm"]["algorithm"].native
        ours = (algorithm in {"sha1", "sha256"}
                and cid["issuer_name_hash"].native == getattr(issuer.subject, algorithm)
                and cid["issuer_key_hash"].native == getattr(issuer.public_key, algorithm))
        if not ours:
            status = ocsp.CertStatus({"unknown": core.Null()})
        else:
            revoked = status_of(cid["serial_number"].native)
            status = (ocsp.CertStatus({"good": core.Null()}) if revoked is None else
                      ocsp.CertStatus({"revoked": {"revocation_time": revoked[0],
                                                   "revocation_reason": revoked[1]}}))
        responses.append({"cert_id": cid, "cert_status": status, "this_update": now,
                          "next_update": now + timedelta(hours=RESPONSE_HOURS)})
    data = ocsp.ResponseData({
        "responder_id": {"by_key": issuer.public_key.sha1},
        "produced_at": now, "responses": responses})
    basic = ocsp.BasicOCSPResponse({
        "tbs_response_data": data,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm(key)}),
        "signature": sign_bytes(key, data.dump()),
    })
    return bytes(ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump())


async def http_fetch(url: str, request: bytes) -> bytes:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.post(url, content=request,
                              headers={"Content-Type": "application/ocsp-request"})
        r.raise_for_status()
        return r.content


_CACHE: dict[bytes, tuple[float, ocsp.OCSPResponse]] = {}


async def status(cert: x509.Certificate, issuer: x509.Certificate, url: str,
                 fetch: Fetch = http_fetch) -> ocsp.OCSPResponse | None:
    """The responder's (cached) answer, or None when it cannot be had: then CRLs decide."""
    key = hashlib.sha256(url.encode() + _cert_id(cert, issuer).dump()).digest()
    hit = _CACHE.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    try:
        raw = await fetch(url, build_request(cert, issuer))
        response = ocsp.OCSPResponse.load(raw, strict=True)
        if response["response_status"].native != "successful":
            return None
        single = response.basic_ocsp_response["tbs_response_data"]["responses"][0]
        next_update = single["next_update"].native
    except (httpx.HTTPError, ValueError, TypeError, KeyError, IndexError):
        return None
    ttl = float(CACHE_SECONDS)
    if next_update is not None:
        ttl = min(ttl, (next_update - datetime.now(UTC)).total_seconds())
    if ttl > 0:
        if len(_CACHE) > 10_000:
            _CACHE.clear()
        _CACHE[key] = (time.monotonic() + ttl, response)
    return response
