"""Responses shared by the routes: a file to download, named in UTF-8 (RFC 6266)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Response
from litestar.openapi import ResponseSpec

# For a route that sends a JSON document as the exact bytes it stored or signed: the
# OpenAPI shows an object, not the string its ``bytes`` return type would suggest.
JSON_DOCUMENT = {200: ResponseSpec(data_container=dict[str, Any],
                                   description="A JSON document, byte for byte as stored")}


def file_response(data: bytes, media_type: str, name: str, *,
                  inline: bool = False) -> Response[bytes]:
    disposition = "inline" if inline else "attachment"
    return Response(data, media_type=media_type, headers={
        "content-disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}"})
