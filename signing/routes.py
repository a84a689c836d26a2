"""Certificates and CRLs of the development CAs, served over HTTP.

Certificates issued by a development CA name ``/ca/{name}/crl.der`` as their
CRL distribution point, so relying parties (the platform itself, openssl, a
court's tools) can fetch revocation data the usual way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from litestar import Response, get
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
