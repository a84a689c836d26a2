"""Certificates and CRLs of the development CAs, served over HTTP.

Certificates issued by a development CA name ``/ca/{name}/crl.der`` as their
CRL distribution point, so relying parties (the platform itself, openssl, a
court's tools) can fetch revocation data the usual way.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from core import audit
from core.auth import actor_of
from core.deps import Conn, User
from core.errors import NotFound
from signing import login as login_service
from signing import trust
from signing.ca import CAError, DevCA

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _ca(name: str) -> DevCA:
    if not _NAME.match(name):
        raise NotFound()
    return DevCA(Path(os.environ.get("DEV_CA_DIR", "var/ca")) / name)


@get("/ca/{name:str}/crl.der", tags=["signing"], sync_to_thread=False)
def ca_crl(name: FromPath[str]) -> Response[bytes]:
    try:
        der = _ca(name).crl_der()
    except CAError:
        raise NotFound() from None
    return Response(der, media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=300"})


@post("/ca/{name:str}/ocsp", tags=["signing"], request_max_body_size=16 * 1024,
      status_code=200)
async def ca_ocsp(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    """The development CA's OCSP responder (RFC 6960 appendix A, POST)."""
    try:
        ca = _ca(name)
        answer = ca.ocsp_response(await request.body())
    except CAError:
        raise NotFound() from None
    return Response(answer, media_type="application/ocsp-response",
                    headers={"Cache-Control": "no-store"})


@get("/ca/{name:str}/root.crt", tags=["signing"], sync_to_thread=False)
def ca_root(name: FromPath[str]) -> Response[bytes]:
    try:
        from cryptography.hazmat.primitives import serialization

        pem = _ca(name).root.public_bytes(serialization.Encoding.PEM)
    except CAError:
        raise NotFound() from None
    return Response(pem, media_type="application/x-pem-file")


@post("/tsa", tags=["signing"], request_max_body_size=16 * 1024, status_code=200)
async def timestamp_authority(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """The built-in RFC 3161 authority (HTTP transport, RFC 3161 section 3.4)."""
    authority = getattr(state, "tsa", None)
    if authority is None:
        raise NotFound()
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/timestamp-query":
        from core.errors import InvalidInput

        raise InvalidInput({"expected": "application/timestamp-query"},
                           message="请求类型应为 application/timestamp-query",
                           message_en="Send an application/timestamp-query body")
    return Response(authority.respond(await request.body()),
                    media_type="application/timestamp-reply")


# ------------------------------------------------------------ trust store and login
class CAIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    certificate_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    revocation_mode: str = "hard-fail"
    crl_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    ocsp_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class CAOut(msgspec.Struct):
    id: UUID
    name: str
    subject: str
    is_root: bool
    revocation_mode: str
    crl_url: str | None
    ocsp_url: str | None = None
    crl_fetched_at: datetime | None = None
    crl_error: str | None = None


class CertificateIn(msgspec.Struct, forbid_unknown_fields=True):
    certificate_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    purpose: str


class ChallengeOut(msgspec.Struct):
    nonce: str
    expires_in: int


class CertLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: Annotated[str, msgspec.Meta(max_length=200)]
    signature: Annotated[str, msgspec.Meta(max_length=100000)]


class TrustController(Controller):
    path = "/api/trust/cas"
    tags = ["signing"]  # noqa: RUF012

    @get("/")
    async def list_cas(self, conn: Conn, user: User) -> list[CAOut]:
        user.require("admin", "supervisor")
        rows = await conn.fetch("SELECT id, name, subject, is_root, revocation_mode, crl_url, "
                                "ocsp_url, crl_fetched_at, crl_error FROM trust_cas ORDER BY created_at")
        return [CAOut(**dict(r)) for r in rows]

    @post("/", status_code=201)
    async def add(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                  data: JSONBody[CAIn]) -> CAOut:
        user.require("admin")
        row = await trust.add_ca(conn, actor_of(request, user), name=data.name,
                                 certificate=data.certificate_pem.encode(),
                                 revocation_mode=data.revocation_mode, crl_url=data.crl_url,
                                 ocsp_url=data.ocsp_url)
        return msgspec.convert(row, CAOut, from_attributes=False)


@post("/api/users/{user_id:uuid}/certificates", tags=["signing"], status_code=201)
async def bind_certificate(request: Request[Any, Any, Any], conn: Conn, user: User,
                           user_id: FromPath[UUID], data: JSONBody[CertificateIn]
                           ) -> dict[str, Any]:
    """Administrators bind anyone's certificates; a person binds their own."""
    if user.user_id != user_id:
        user.require("admin")
    row = await login_service.bind_certificate(
        conn, actor_of(request, user), user_id=user_id,
        certificate=data.certificate_pem.encode(), purpose=data.purpose)
    return {k: (str(v) if k == "id" else v) for k, v in row.items()}


@post("/api/auth/cert/challenge", tags=["auth"], status_code=200)
async def cert_challenge(conn: Conn) -> ChallengeOut:
    nonce, ttl = await login_service.new_challenge(conn)
    return ChallengeOut(nonce, ttl)


@post("/api/auth/cert/login", tags=["auth"], status_code=200)
async def cert_login(request: Request[Any, Any, Any], state: State, conn: Conn,
                     data: JSONBody[CertLoginIn]) -> Response[dict[str, Any]]:
    from core.auth import client_ip, start_session
    from core.identity.routes import session_cookie

    user_id, cert = await login_service.login(conn, nonce_b64=data.nonce,
                                              signature_b64=data.signature)
    token = await start_session(
        conn, secret_key=state.settings.web.session_secret, user_id=user_id,
        days=state.settings.web.session_days, client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""))
    await audit.record(conn, audit.Actor(user_id, None, client_ip(request),
                                         request.scope.get("state", {}).get("request_id")),
                       "session.login_certificate", "user", user_id,
                       {"certificate_serial": f"{cert.serial_number:x}"})
    return Response({"user_id": str(user_id), "certificate": cert.subject.rfc4514_string()},
                    cookies=[session_cookie(state, token)])
