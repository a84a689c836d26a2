"""Errors as pages, for people at a browser; the JSON API keeps its error bodies.

Which one a request gets is decided by its route, never by guessing from headers: the
machine routes live under the prefixes in ``MACHINE_PREFIXES`` (the JSON API, the CA's
CRL/OCSP, the timestamp authority, health, metrics, the OpenAPI schema, static files);
every other path is a page. A page that needs a signed-in person answers 401 with a
redirect to the sign-in page that says why (not signed in, or the session ended) and
comes back after; any other error is an HTML page in the person's language with a way
back. A 500 page shows the request id (the log line to look for), never a traceback.

A new page needs nothing here: it is a page because its path is not a machine path.
A new machine route outside ``/api`` must add its prefix below.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from litestar import MediaType, Request, Response

from core.auth import SESSION_COOKIE
from core.i18n import LANG_COOKIE, pick_lang
from core.pages import NEXT_MAX, REASON_SWITCH, login_redirect, page_context, this_page

log = structlog.get_logger(__name__)

MACHINE_PREFIXES = ("/api", "/ca", "/tsa", "/healthz", "/metrics", "/schema", "/static")


def is_page(path: str) -> bool:
    """Whether ``path`` belongs to the pages (HTML errors) rather than a machine route."""
    return not any(path == p or path.startswith(p + "/") for p in MACHINE_PREFIXES)


_TITLES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "Something in the request is not right"),
    403: ("无权访问", "You cannot open this page"),
    404: ("页面不存在", "Page not found"),
    405: ("不支持该操作", "This action is not available here"),
    409: ("与当前状态冲突", "That conflicts with the current state"),
    413: ("提交的内容过大", "What was sent is too large"),
    429: ("操作过于频繁", "Too many attempts"),
    500: ("服务器出错了", "Something went wrong on our side"),
    503: ("服务暂时不可用", "The service is briefly unavailable"),
}

_EXPLAIN: dict[int, tuple[str, str]] = {
    403: ("当前登录的账号没有查看此页面的权限。如需使用其他账号，请重新登录。",
          "The account you are signed in with may not see this page. To use another "
          "account, sign in again."),
    404: ("您访问的页面不存在，或者您无权查看。请检查网址，或从首页重新进入。",
          "The page does not exist, or is not visible to you. Check the address, or start "
          "again from the home page."),
    405: ("此页面不支持这种操作。请返回上一页，通过页面上的按钮操作。",
          "This page does not take that kind of request. Go back and use the page's "
          "buttons."),
    500: ("处理您的请求时发生了意外错误，未保存任何更改。请稍后重试；如问题仍然存在，"
          "请联系平台运维并提供下方的请求编号。",
          "An unexpected error occurred and nothing was changed. Try again later; if it "
          "persists, contact the platform's operators with the request id below."),
    503: ("平台依赖的服务暂时无法访问，未保存任何更改。请稍后重试。",
          "A service the platform relies on is not answering; nothing was changed. Please "
          "try again shortly."),
}


def _texts(status: int, body: dict[str, Any], en: bool) -> tuple[str, str]:
    """The page's heading and explanation: a general one per status, or the platform's own
    message for a business-rule refusal (a 400 or 409 says what was wrong)."""
    pick = 1 if en else 0
    family = status if status in _TITLES else (500 if status >= 500 else 400)
    title = _TITLES[family][pick]
    explain = _EXPLAIN.get(family)
    if explain is not None and family in (403, 404, 405, 500, 503):
        return title, explain[pick]
    message = body.get("message_en" if en else "message") or ""
    return title, str(message)


def _back(request: Request[Any, Any, Any], here: str) -> str | None:
    """The page the person came from, when it was one of ours and not this one."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith("/"):
        return None
    back = referer.path + (f"?{referer.query}" if referer.query else "")
    return None if back == here or not is_page(referer.path) else back


def error_page(request: Request[Any, Any, Any], status: int, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> Response[Any]:
    """The HTML answer for a page route; 401 becomes the sign-in redirect."""
    if status == 401:
        return login_redirect(request)
    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "www-authenticate"}
    request_id = request.scope.get("state", {}).get("request_id")
    try:
        here = this_page(request)
        comeback = here if len(here) <= NEXT_MAX else "/"
        context = page_context(
            request, None, status=status, code=body.get("code"), request_id=request_id,
            here=here, back=_back(request, here),
            switch_url=f"/login?next={quote(comeback, safe='')}&reason={REASON_SWITCH}",
            signed_in=bool(request.cookies.get(SESSION_COOKIE)))
        context["heading"], context["explain"] = _texts(status, body, context["lang"] == "en")
        engine = request.app.template_engine
        assert engine is not None
        html = engine.get_template("errors/error.html").render(**context)
    except Exception as exc:  # a broken error page must not hide the error itself
        log.error("error_page_failed", path=request.url.path, exc_info=exc)
        html = _bare_page(request, status, request_id)
    return Response(content=html, status_code=status, media_type=MediaType.HTML,
                    headers=headers or None)


def _bare_page(request: Request[Any, Any, Any], status: int, request_id: str | None) -> str:
    en = pick_lang(request.cookies.get(LANG_COOKIE)) == "en"
    title = (_TITLES.get(status) or _TITLES[500 if status >= 500 else 400])[1 if en else 0]
    rid = f"<p>{'Request id' if en else '请求编号'}: {escape(request_id)}</p>" if request_id else ""
    home = "Home" if en else "返回首页"
    return (f'<!doctype html><html lang="{"en" if en else "zh-CN"}"><meta charset="utf-8">'
            f"<title>{escape(title)}</title><h1>{escape(title)}</h1>{rid}"
            f'<p><a href="/">{home}</a></p></html>')
