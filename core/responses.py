"""Responses shared by the routes: a file to download, named in UTF-8 (RFC 6266)."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Response


def file_response(data: bytes, media_type: str, name: str, *,
                  inline: bool = False) -> Response[bytes]:
    disposition = "inline" if inline else "attachment"
    return Response(data, media_type=media_type, headers={
        "content-disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}"})
