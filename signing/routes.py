"""HTTP edge of the signing package.

The development CAs' certificates, CRLs and OCSP (mounted only when
``DEV_CA_DIR`` names where they live): certificates issued by a development CA
name ``/ca/{name}/crl.der`` as their CRL distribution point, so relying
parties (the platform itself, openssl, a court's tools) fetch revocation data
the usual way. The built-in timestamp authority, the chains of the platform's
seal and of its timestamp authority, the trust store's administration, and
certificate login.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from core import audit
from core.auth import actor_of, client_ip, start_session
from core.deps import Conn, User
from core.errors import InvalidInput, NotFound
from core.identity.routes import session_cookie
from signing import login as login_service
from signing import queries as q
from signing import trust
from signing.ca import CAError, DevCA
from signing.schemas import (
    CAIn,
    CAOut,
    CertificateIn,
    CertLoginIn,
    ChallengeOut,
    CRLRefreshOut,
)
from signing.tsa import QUERY_TYPE, REPLY_TYPE, LocalAuthority

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _ca(state: State, name: str) -> DevCA:
    if not _NAME.match(name) or not state.settings.dev_ca_dir:
        raise NotFound()
    return DevCA(Path(state.settings.dev_ca_dir) / name)


@get("/ca/{name:str}/crl.der", tags=["signing"], sync_to_thread=False,
     media_type="application/pkix-crl")
def ca_crl(name: FromPath[str], state: State) -> Response[bytes]:
    try:
        der = _ca(state, name).crl_der()
    except CAError:
        raise NotFound() from None
    return Response(der, media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=300"})


@post("/ca/{name:str}/ocsp", tags=["signing"], request_max_body_size=16 * 1024,
      status_code=200, media_type="application/ocsp-response")
async def ca_ocsp(name: FromPath[str], request: Request[Any, Any, Any],
                  state: State) -> Response[bytes]:
    """The development CA's OCSP responder (RFC 6960 appendix A, POST)."""
    try:
        ca = _ca(state, name)
        answer = ca.ocsp_response(await request.body())
    except CAError:
        raise NotFound() from None
    return Response(answer, media_type="application/ocsp-response",
                    headers={"Cache-Control": "no-store"})


@get("/ca/{name:str}/root.crt", tags=["signing"], sync_to_thread=False,
     media_type="application/x-pem-file")
def ca_root(name: FromPath[str], state: State) -> Response[bytes]:
    try:
        pem = _ca(state, name).root.public_bytes(serialization.Encoding.PEM)
    except CAError:
        raise NotFound() from None
    return Response(pem, media_type="application/x-pem-file")


# Mounted by app.py only when a development CA directory is configured.
DEV_CA_ROUTES = [ca_crl, ca_ocsp, ca_root]


@post("/tsa", tags=["signing"], request_max_body_size=16 * 1024, status_code=200,
      media_type=REPLY_TYPE)
async def timestamp_authority(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """The built-in RFC 3161 authority (HTTP transport, RFC 3161 section 3.4).

    Answered only when the authority is the platform's own: a remote one
    (``TSA_URL``) is asked directly, not through the platform.
    """
    authority = getattr(state, "tsa", None)
    if not isinstance(authority, LocalAuthority):
        raise NotFound()
    if request.headers.get("content-type", "").split(";")[0].strip() != QUERY_TYPE:
        raise InvalidInput({"expected": QUERY_TYPE},
                           message="请求类型应为 application/timestamp-query",
                           message_en="Send an application/timestamp-query body")
    return Response(authority.respond(await request.body()), media_type=REPLY_TYPE)


CHAINS = ("seal", "tsa")


@get("/api/signing/chains/{which:str}", tags=["signing"], sync_to_thread=False,
     media_type="application/pem-certificate-chain")
def certificate_chain(which: FromPath[str], state: State) -> Response[bytes]:
    """The certificate chain of the platform's seal or of its timestamp authority (PEM,
    the certificate first), for checking receipts and records with openssl or pdfsig."""
    if which not in CHAINS:
        raise NotFound()
    certs: list[x509.Certificate] = []
    if which == "seal" and state.settings.platform_cert_file:
        certs = x509.load_pem_x509_certificates(
            Path(state.settings.platform_cert_file).read_bytes())
    elif which == "tsa" and getattr(state, "tsa", None) is not None:
        certs = state.tsa.chain()
    if not certs:
        raise NotFound()
    return Response(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs),
                    media_type="application/pem-certificate-chain",
                    headers={"Cache-Control": "public, max-age=3600"})


# ------------------------------------------------------------ trust store and login
class TrustController(Controller):
    path = "/api/trust/cas"
    tags = ["signing"]  # noqa: RUF012

    @get("/")
    async def list_cas(self, conn: Conn, user: User) -> list[CAOut]:
        user.require("admin", "supervisor")
        return [CAOut(**dict(r)) for r in await conn.fetch(q.LIST_CAS)]

    @post("/", status_code=201)
    async def add(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                  data: JSONBody[CAIn]) -> CAOut:
        user.require("admin")
        row = await trust.add_ca(conn, actor_of(request, user), name=data.name,
                                 certificate=data.certificate_pem.encode(),
                                 revocation_mode=data.revocation_mode, crl_url=data.crl_url,
                                 ocsp_url=data.ocsp_url)
        return msgspec.convert(row, CAOut, from_attributes=False)

    @post("/{ca_id:uuid}/disable", status_code=200)
    async def disable(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                      ca_id: FromPath[UUID]) -> CAOut:
        """Stop trusting a CA from the next request on; it stays listed, to enable again."""
        user.require("admin")
        return CAOut(**await trust.set_enabled(conn, actor_of(request, user), ca_id, False))

    @post("/{ca_id:uuid}/enable", status_code=200)
    async def enable(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     ca_id: FromPath[UUID]) -> CAOut:
        user.require("admin")
        return CAOut(**await trust.set_enabled(conn, actor_of(request, user), ca_id, True))

    @delete("/{ca_id:uuid}", status_code=204)
    async def remove(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     ca_id: FromPath[UUID]) -> None:
        user.require("admin")
        await trust.remove_ca(conn, actor_of(request, user), ca_id)

    @post("/refresh-crls", status_code=200)
    async def refresh_all(self, request: Request[Any, Any, Any], conn: Conn,
                          user: User) -> CRLRefreshOut:
        """Fetch every CA's CRL now (after a revocation one was told of), not at the next
        half-hourly refresh."""
        user.require("admin")
        return CRLRefreshOut(**await trust.refresh_now(conn, actor_of(request, user)))

    @post("/{ca_id:uuid}/refresh-crl", status_code=200)
    async def refresh_one(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                          ca_id: FromPath[UUID]) -> CRLRefreshOut:
        user.require("admin")
        return CRLRefreshOut(**await trust.refresh_now(conn, actor_of(request, user),
                                                       ca_id=ca_id))


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
