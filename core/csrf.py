"""Cross-site request refusal for cookie-authenticated writes.

Session cookies are SameSite=Lax, which still lets a cross-site top-level
form POST through (login CSRF, forced logout). Browsers say where a request
comes from (``Sec-Fetch-Site``, ``Origin``); an unsafe method that a browser
marks as cross-site is refused before any handler runs. Machine clients
(API keys, no cookies, no such headers) are unaffected.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from litestar.types import ASGIApp, Receive, Scope, Send

SAFE = {"GET", "HEAD", "OPTIONS"}
BODY = json.dumps({
    "code": "cross_site_request",
    "message": "拒绝跨站请求",
    "message_en": "Cross-site request refused",
    "detail": None,
}, ensure_ascii=False).encode()


def _is_cross_site(headers: dict[bytes, bytes]) -> bool:
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site in {"cross-site", "same-site"}:
        return True
    origin = headers.get(b"origin", b"").decode("latin-1")
    if origin and origin != "null":
        host = headers.get(b"host", b"").decode("latin-1")
        return urlsplit(origin).netloc != host
    return origin == "null"


def csrf_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") not in SAFE:  # type: ignore[comparison-overlap]
            headers = dict(scope.get("headers", []))
            if _is_cross_site(headers):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(BODY)).encode())]})
                await send({"type": "http.response.body", "body": BODY, "more_body": False})
                return
        await app(scope, receive, send)

    return middleware
