"""Certificate login: the client signs a one-time nonce with its login key.

The server issues a nonce (kept as a digest, valid five minutes, usable
once); the client returns a CMS signature over it made with the private key
of a login certificate (a PKCS#12 file on the client side). The server checks
signature, path, revocation and the login key usage against the trust store,
finds the person the certificate is bound to, checks that the certificate's
credit code is that person's organization, and opens a session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core import audit
from core.errors import DomainError, InvalidInput, NotFound
from signing import cms, identity, pathval
from signing import queries as q
from signing.trust import load_trust_store

CHALLENGE_TTL = timedelta(minutes=5)
PURPOSES = ("signing", "encryption", "login")


class ChallengeInvalid(DomainError):
    status = 401
    code = "login_challenge_invalid"
    message = "登录挑战码无效、已过期或已使用"
    message_en = "The login challenge is unknown, expired or already used"


class CertificateNotBound(DomainError):
    status = 401
    code = "certificate_not_bound"
    message = "该证书未绑定到任何用户"
    message_en = "This certificate is not bound to any user"


class PersonMismatch(DomainError):
    status = 422
    code = "certificate_person_mismatch"
    message = "该用户不属于任何单位：证书须为本人的个人证书（不含单位信息，通用名为本人姓名）"
    message_en = ("This user belongs to no organization: the certificate must be the person's "
                  "own (no organization in it, the common name is the person's name)")


class OrganizationMismatch(DomainError):
    status = 401
    code = "certificate_organization_mismatch"
    message = "证书中的统一社会信用代码与用户所属单位不符"
    message_en = "The certificate's credit code is not the user's organization"


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput({"field": field}, message="Base64 编码错误",
                           message_en="Not valid base64") from None


async def new_challenge(conn: asyncpg.Connection) -> tuple[str, int]:
    nonce = secrets.token_bytes(32)
    await conn.execute(q.NEW_CHALLENGE, hashlib.sha256(nonce).digest(), CHALLENGE_TTL)
    await conn.execute(q.FORGET_OLD_CHALLENGES)
    return base64.b64encode(nonce).decode(), int(CHALLENGE_TTL.total_seconds())


async def login(conn: asyncpg.Connection, *, nonce_b64: str,
                signature_b64: str) -> tuple[UUID, x509.Certificate]:
    """Verify the signed nonce; return the user bound to the login certificate."""
    nonce = _b64(nonce_b64, "nonce")
    signature = _b64(signature_b64, "signature")
    used = await conn.fetchval(q.USE_CHALLENGE, hashlib.sha256(nonce).digest())
    if used is None:
        raise ChallengeInvalid()
    verified = await cms.verify(signature, trust=await load_trust_store(conn), content=nonce,
                                purpose="login")
    der = verified.signer.public_bytes(serialization.Encoding.DER)
    row = await conn.fetchrow(q.LOGIN_CERTIFICATE_USER, hashlib.sha256(der).digest())
    if row is None:
        raise CertificateNotBound()
    code = identity.credit_code(verified.signer)
    if row["credit_code"] is not None and code != row["credit_code"]:
        raise OrganizationMismatch({"certificate": code})
    return row["user_id"], verified.signer


async def bind_certificate(conn: asyncpg.Connection, actor: audit.Actor, *, user_id: UUID,
                           certificate: bytes, purpose: str) -> dict[str, Any]:
    """Bind a certificate to a person after checking it against the trust store."""
    if purpose not in PURPOSES:
        raise InvalidInput({"field": "purpose", "allowed": list(PURPOSES)})
    try:
        cert = (x509.load_pem_x509_certificate(certificate)
                if certificate.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(certificate))
    except ValueError:
        raise InvalidInput({"field": "certificate"}, message="证书格式错误",
                           message_en="Not a PEM or DER certificate") from None
    user = await conn.fetchrow(q.USER_ORGANIZATION, user_id)
    if user is None:
        raise NotFound()

    der = cert.public_bytes(serialization.Encoding.DER)
    # every purpose: an encryption certificate is what bids and key shares are sealed to
    await pathval.validate_certificate(
        asn1_x509.Certificate.load(der), [], trust=await load_trust_store(conn),
        purpose=purpose, moment=None)
    code = identity.credit_code(cert)
    if user["organization_id"] is None:
        if not identity.speaks_for_person(cert, user["name"]):
            raise PersonMismatch({"certificate": cert.subject.rfc4514_string()})
    elif code != user["credit_code"]:
        raise OrganizationMismatch({"certificate": code})
    row = dict(await conn.fetchrow(
        q.BIND_CERTIFICATE, user_id, der, hashlib.sha256(der).digest(), purpose,
        cert.subject.rfc4514_string(), code, cert.not_valid_after_utc))
    await audit.record(conn, actor, "certificate.bind", "user", user_id,
                       {"sha256": hashlib.sha256(der).hexdigest(), "purpose": purpose})
    return row
