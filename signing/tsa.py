"""RFC 3161 timestamps: a built-in authority, a client, and token verification.

The built-in authority serves the embedded default and the tests; production
points ``TSA_URL`` at a qualified timestamp authority. Either way a token is
a CMS SignedData over a TSTInfo, signed by a certificate whose only extended
key usage is timeStamping (critical), and it verifies with ``openssl ts
-verify``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from asn1crypto import algos, cms, core, tsp
from cryptography import x509 as cx509

from signing import cms as signing_cms
from signing.cms import MalformedSignature, SignatureError
from signing.keys import PrivateKey
from signing.pathval import TrustStore

POLICY = "1.3.6.1.4.1.61802.1.1"  # the built-in authority's policy (private arc)
HASH_OIDS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class TimestampError(SignatureError):
    code = "timestamp_invalid"
    message = "时间戳无效"
    message_en = "The timestamp token is not valid"


class TimestampMismatch(TimestampError):
    code = "timestamp_mismatch"
    message = "时间戳与文件不符"
    message_en = "The timestamp token was not issued for this content"


class TimestampUnavailable(TimestampError):
    status = 503
    code = "timestamp_unavailable"
    message = "时间戳服务不可用"
    message_en = "The timestamp authority is not available"


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
    chain: list[cx509.Certificate]

    @classmethod
    def from_files(cls, cert_file: str, key_file: str) -> LocalAuthority:
        """PEM files: the TSA certificate first, then its chain; an unencrypted key."""
        from pathlib import Path

        from cryptography.hazmat.primitives import serialization

        certs = cx509.load_pem_x509_certificates(Path(cert_file).read_bytes())
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
        if not isinstance(key, PrivateKey):  # type: ignore[misc,arg-type]
            raise ValueError("the TSA key must be RSA or EC")
        return cls(certs[0], key, certs[1:])

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
                                 chain=self.chain if cert_req else (), detached=False,
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
    return b"\x30" + _der_length(len(status)) + status


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


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


async def fetch_token(url: str, digest: bytes, algorithm: str = "sha256", *,
                      http: httpx.AsyncClient | None = None) -> bytes:
    """Ask an authority over HTTP (RFC 3161 section 3.4) for a token."""
    req = request_for(digest, algorithm)
    try:
        if http is None:
            async with httpx.AsyncClient(timeout=10) as own:
                r = await own.post(url, content=req,
                                   headers={"Content-Type": "application/timestamp-query"})
        else:
            r = await http.post(url, content=req,
                                headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as exc:
        raise TimestampUnavailable({"reason": type(exc).__name__}) from None
    if r.status_code != 200:
        raise TimestampUnavailable({"status": r.status_code})
    return token_from_response(r.content, req)


@dataclass(frozen=True)
class VerifiedTimestamp:
    gen_time: datetime
    authority: cx509.Certificate
    serial: int
    policy: str


async def verify_token(token: bytes, *, trust: TrustStore, content: bytes | None = None,
                       digest: bytes | None = None) -> VerifiedTimestamp:
    """Verify a token's signature and TSA certificate, and that it covers the content."""
    verified = await signing_cms.verify(token, trust=trust, purpose="tsa")
    if verified.content is None:
        raise MalformedSignature({"reason": "token without TSTInfo"})
    try:
        info = tsp.TSTInfo.load(verified.content)
        algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        imprint = info["message_imprint"]["hashed_message"].native
        gen_time = info["gen_time"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedSignature({"reason": type(exc).__name__}) from None
    if content is not None:
        if algorithm not in HASH_OIDS:
            raise TimestampMismatch({"reason": f"hash {algorithm}"})
        digest = HASH_OIDS[algorithm](content).digest()
    if digest is not None and digest != imprint:
        raise TimestampMismatch()
    return VerifiedTimestamp(gen_time, verified.signer, info["serial_number"].native,
                             info["policy"].native)
