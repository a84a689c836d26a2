"""The HTTP edge: what every response carries and what no request may bring.

One pure ASGI middleware, outermost in the app, so that every response gets the
same security headers, error responses included:

- a Content-Security-Policy that allows scripts, styles and connections from the
  platform's own origin only (the pages have no inline script or style; Swagger UI
  is served from ``static/vendor``), connections also to the local signing agent on
  127.0.0.1 (docs/agent.md), and no framing (``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY`` for browsers that predate it);
- ``X-Content-Type-Options: nosniff`` and a Referrer-Policy that sends no path to
  another origin (tender and bid ids are in paths);
- downloads (a response that names a file in ``Content-Disposition``, other than the
  platform's own ``/static`` files) keep their
  content type only if a browser cannot run it; anything else (HTML, SVG, XML,
  script: a tender document's type is whatever its uploader declared) goes out as
  ``application/octet-stream``, and only a PDF may be shown inline.

Requests with too many header lines, or headers too large in total, are refused with
431 before routing; a NUL byte in a path (which no route or file name holds, and
which the file system refuses with an exception) is a 404. Both answer the platform's
error body. The server process bounds the raw header bytes it buffers before any of
this runs (``core.server``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.errors import NotFound

# Several proxies add a handful each; a browser sends about 15.
MAX_HEADERS = 100
# Cookies and a bearer key fit many times over; nginx's default is 4 x 8 KiB.
MAX_HEADER_BYTES = 32 * 1024

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Swagger UI's stylesheet draws its icons as data: SVGs
    "img-src 'self' data:",
    # the local signing agent listens on this computer's loopback address (docs/agent.md)
    "connect-src 'self' http://127.0.0.1:*",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
_OURS = {name for name, _ in SECURITY_HEADERS}

# Types a browser saves or hands to a viewer, never runs as a page.
SAFE_DOWNLOAD_TYPES = frozenset({
    "application/pdf", "application/zip", "application/octet-stream", "application/json",
    "application/pkcs7-signature", "application/pkcs7-mime", "application/timestamp-reply",
    "application/timestamp-query", "application/pkix-cert", "application/pkix-crl",
    "application/x-pem-file", "application/msword", "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/gzip",
    "text/plain", "text/csv", "image/png", "image/jpeg", "image/gif", "image/webp",
})
INLINE_TYPES = frozenset({"application/pdf"})


def _media_type(value: bytes) -> str:
    return value.split(b";", 1)[0].strip().decode("latin-1").lower()


def safe_download_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A download's headers with a type the browser cannot run and no inline but PDF."""
    media = next((_media_type(v) for k, v in headers if k.lower() == b"content-type"), "")
    safe = media in SAFE_DOWNLOAD_TYPES
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        lower, sent = name.lower(), value
        if lower == b"content-type" and not safe:
            sent = b"application/octet-stream"
        elif lower == b"content-disposition" and media not in INLINE_TYPES:
            kind, sep, rest = value.partition(b";")
            if kind.strip().lower() != b"attachment":
                sent = b"attachment" + sep + rest
        out.append((name, sent))
    if not media:
        out.append((b"content-type", b"application/octet-stream"))
    return out


def _error(status: int, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = msgspec.json.encode(body)
    start = {"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        *SECURITY_HEADERS]}
    return start, {"type": "http.response.body", "body": payload}


HEADERS_TOO_LARGE = {
    "code": "headers_too_large",
    "message": "请求头过多或过大",
    "message_en": "Too many request headers, or headers too large",
    "detail": {"max_headers": MAX_HEADERS, "max_header_bytes": MAX_HEADER_BYTES},
}


class EdgeMiddleware:
    """Pure ASGI, so it costs one header list extension per response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refuse(scope)
        if refusal is not None:
            for message in refusal:
                await send(message)
            return

        # the platform's own assets (Litestar names them in Content-Disposition too)
        own_file = scope["path"].startswith("/static/")

        async def send_secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _OURS]
                if not own_file and any(k.lower() == b"content-disposition" for k, _ in headers):
                    headers = safe_download_headers(headers)
                message = {**message, "headers": [*headers, *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_secured)

    @staticmethod
    def _refuse(scope: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        headers = scope.get("headers", ())
        if len(headers) > MAX_HEADERS or \
                sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
            return _error(431, HEADERS_TOO_LARGE)
        if "\x00" in scope.get("path", ""):
            return _error(404, NotFound({"reason": "nul_in_path"}).body())
        return None


def edge_middleware(app: Any) -> EdgeMiddleware:
    return EdgeMiddleware(app)
