"""Certificates and CRLs of the development CAs, served over HTTP.

Certificates issued by a development CA name ``/ca/{name}/crl.der`` as their
CRL distribution point, so relying parties (the platform itself, openssl, a
court's tools) can fetch revocation data the usual way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from core.errors import NotFound
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
