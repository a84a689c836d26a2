"""RFC 3161 timestamps: the authority behind a Protocol, a client, and token checks.

Two authorities answer a ``TimeStampReq`` with a ``TimeStampResp``: the
built-in one in the platform's own process (``TSA_CERT_FILE``/``TSA_KEY_FILE``,
the embedded default and the tests) and a remote one over HTTP (``TSA_URL``,
a qualified authority in production). ``from_settings`` picks one; whatever
timestamps (receipts, PDF seals) sees only ``TimestampAuthority``. Either way
a token is a CMS SignedData over a TSTInfo, signed by a certificate whose only
extended key usage is timeStamping (critical), and it verifies with ``openssl
ts -verify``. Tokens are verified in ``signing.cms`` (a token is a signature,
and a signature may carry one).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
from asn1crypto import algos, cms, core, tsp
from cryptography import x509 as cx509

from signing import cms as signing_cms
from signing.ber import tlv
from signing.cms import VerifiedTimestamp, verify_token
from signing.errors import (
    MalformedSignature,
    SignatureError,
    TimestampError,
    TimestampMismatch,
    TimestampUnavailable,
)
from signing.keys import PrivateKey, load_key_pem

__all__ = ["POLICY", "HttpAuthority", "LocalAuthority", "TimestampAuthority", "TimestampError",
           "TimestampMismatch", "TimestampUnavailable", "VerifiedTimestamp", "fetch_token",
           "from_settings", "request_for", "stamp", "token_from_response", "verify_token"]

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampAuthority(Protocol):
    """Answers a DER TimeStampReq with a DER TimeStampResp (rejections included)."""

    async def request(self, request_der: bytes) -> bytes: ...

    def chain(self) -> list[cx509.Certificate]:
        """The authority's certificate then its chain, as far as the platform knows it."""
        ...


POLICY = "1.3.6.1.4.1.61802.1.1"  # the built-in authority's policy (private arc)
HASH_OIDS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def request_for(digest: bytes, algorithm: str = "sha256", *, nonce: int | None = None,
                cert_req: bool = True) -> bytes:
    """A DER TimeStampReq for ``digest``."""
    req = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                            "hashed_message": digest},
        "nonce": nonce if nonce is not None else secrets.randbits(63),
        "cert_req": cert_req,
    })
    der: bytes = req.dump()
    return der


@dataclass
class LocalAuthority:
    """A timestamp authority in the platform's own process (the embedded default)."""

    cert: cx509.Certificate
    key: PrivateKey
    chain_certs: list[cx509.Certificate]

    @classmethod
    def from_files(cls, cert_file: str, key_file: str) -> LocalAuthority:
        """PEM files: the TSA certificate first, then its chain; an unencrypted key."""
        certs = cx509.load_pem_x509_certificates(Path(cert_file).read_bytes())
        return cls(certs[0], load_key_pem(Path(key_file).read_bytes()), certs[1:])

    async def request(self, request_der: bytes) -> bytes:
        return self.respond(request_der)

    def chain(self) -> list[cx509.Certificate]:
        return [self.cert, *self.chain_certs]

    def respond(self, request_der: bytes, *, now: datetime | None = None) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp (rejections included)."""
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            if algorithm not in HASH_OIDS or len(digest) != HASH_OIDS[algorithm]().digest_size:
                return _rejection("bad_alg", "unsupported or malformed message imprint")
            if req["req_policy"].native not in (None, POLICY):
                return _rejection("unaccepted_policy", "unknown policy")
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "malformed TimeStampReq")
        tst_info = tsp.TSTInfo({
            "version": "v1",
            "policy": POLICY,
            "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                                "hashed_message": digest},
            "serial_number": secrets.randbits(63),
            "gen_time": core.GeneralizedTime(now or datetime.now(UTC)),
            "accuracy": {"seconds": 1},
            "nonce": nonce,
        }).dump()
        token = signing_cms.sign(tst_info, cert=self.cert, key=self.key,
                                 chain=self.chain_certs if cert_req else (), detached=False,
                                 content_type="tst_info", include_signer_cert=cert_req)
        resp: bytes = tsp.TimeStampResp({
            "status": {"status": "granted"},
            "time_stamp_token": cms.ContentInfo.load(token),
        }).dump()
        return resp


def _rejection(failure: str, text: str) -> bytes:
    # asn1crypto's TimeStampResp makes the token mandatory; a rejection has
    # none, so the SEQUENCE around the status is written here.
    status: bytes = tsp.PKIStatusInfo({
        "status": "rejection", "status_string": [text], "fail_info": {failure}}).dump()
    return tlv(0x30, status)


def token_from_response(response_der: bytes, request_der: bytes | None = None) -> bytes:
    """The token inside a granted TimeStampResp; checks the nonce when the request is given."""
    try:
        outer = core.Sequence.load(response_der, strict=True)
        status_info = tsp.PKIStatusInfo.load(outer[0].dump())
        status = status_info["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = status_info["status_string"].native or []
            raise TimestampError({"status": status, "text": text})
        resp = tsp.TimeStampResp.load(response_der, strict=True)
        token = resp["time_stamp_token"]
        if request_der is not None:
            req = tsp.TimeStampReq.load(request_der)
            info = token["content"]["encap_content_info"]["content"].parsed
            if info["nonce"].native != req["nonce"].native:
                raise TimestampMismatch({"reason": "nonce"})
        der: bytes = token.dump()
        return der
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedSignature({"reason": type(exc).__name__}) from None


@dataclass
class HttpAuthority:
    """A remote authority, asked over HTTP (RFC 3161 section 3.4).

    ``chain_file`` is the authority's certificate chain as its operator
    publishes it (PEM), served beside the platform's seal; the tokens carry
    the signer's certificate themselves.
    """

    url: str
    chain_file: str = ""
    timeout: float = 10.0
    http: httpx.AsyncClient | None = field(default=None, repr=False)

    async def request(self, request_der: bytes) -> bytes:
        headers = {"Content-Type": QUERY_TYPE}
        try:
            if self.http is None:
                async with httpx.AsyncClient(timeout=self.timeout) as own:
                    r = await own.post(self.url, content=request_der, headers=headers)
            else:
                r = await self.http.post(self.url, content=request_der, headers=headers)
        except httpx.HTTPError as exc:
            raise TimestampUnavailable({"reason": type(exc).__name__}) from None
        if r.status_code != 200:
            raise TimestampUnavailable({"status": r.status_code})
        if r.headers.get("content-type", "").split(";")[0].strip() != REPLY_TYPE:
            raise TimestampUnavailable({"content_type": r.headers.get("content-type", "")})
        return r.content

    def chain(self) -> list[cx509.Certificate]:
        if not self.chain_file:
            return []
        return cx509.load_pem_x509_certificates(Path(self.chain_file).read_bytes())


def from_settings(*, url: str = "", cert_file: str = "",
                  key_file: str = "") -> TimestampAuthority | None:
    """The configured authority: a remote one when ``TSA_URL`` is set (``cert_file``, if
    given, is its published chain), else the built-in one when its certificate and key are,
    else none (nothing is timestamped; receipts refuse)."""
    if url:
        return HttpAuthority(url, chain_file=cert_file)
    if cert_file and key_file:
        return LocalAuthority.from_files(cert_file, key_file)
    return None


async def stamp(authority: TimestampAuthority, digest: bytes, algorithm: str = "sha256") -> bytes:
    """A token for ``digest`` from ``authority``, its nonce checked."""
    req = request_for(digest, algorithm)
    return token_from_response(await authority.request(req), req)


async def fetch_token(url: str, digest: bytes, algorithm: str = "sha256", *,
                      http: httpx.AsyncClient | None = None) -> bytes:
    """Ask an authority at ``url`` for a token."""
    return await stamp(HttpAuthority(url, http=http), digest, algorithm)
