"""Pages common to every domain: the page context (language, who is signed in), sign-in."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from core.auth import SESSION_COOKIE
from core.clock import SHANGHAI
from core.deps import MaybeUser
from core.i18n import LANG_COOKIE, LANGS, pick_lang, translator

# Why the sign-in page is shown, besides a page needing a signed-in person (a ``next`` on
# its own): the session ended, or a person refused a page may sign in as someone else.
REASON_EXPIRED, REASON_SWITCH = "expired", "switch"
LOGIN_REASONS = (REASON_EXPIRED, REASON_SWITCH)
NEXT_MAX = 200  # the sign-in page's ``next`` limit


def page_context(request: Request[Any, Any, Any], principal: MaybeUser,
                 **extra: Any) -> dict[str, Any]:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    en = lang == "en"

    def tt(zh: str, english: str) -> str:
        """A page's own text, written where it is used in both languages."""
        return english if en else zh

    return {"lang": lang, "t": translator(lang), "tt": tt, "principal": principal,
            "shanghai": SHANGHAI, "path": request.url.path, **extra}


def this_page(request: Request[Any, Any, Any]) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    """To the sign-in page, and back after: to this page for a GET, else to the page the
    form was on. A session cookie that no longer opens a session means the session ended
    (expired, or signed out elsewhere): the sign-in page says so, and the dead cookie goes."""
    if request.method in {"GET", "HEAD"}:
        target = this_page(request)
    else:
        referer = urlsplit(request.headers.get("referer", ""))
        target = "/"
        if referer.netloc == request.url.netloc and referer.path.startswith("/"):
            target = referer.path + (f"?{referer.query}" if referer.query else "")
    if len(target) > NEXT_MAX:
        target = request.url.path if len(request.url.path) <= NEXT_MAX else "/"
    expired = bool(request.cookies.get(SESSION_COOKIE))
    # a ``next`` alone says "sign in to continue"; the ended session says so itself
    url = f"/login?next={quote(target, safe='')}" + (f"&reason={REASON_EXPIRED}" if expired else "")
    cookies = [Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True,
                      samesite="lax")] if expired else []
    return Redirect(url, status_code=303, cookies=cookies)


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], principal: MaybeUser,
                     error: FromQuery[str | None] = None,
                     next_: Annotated[str, QueryParameter(name="next", max_length=NEXT_MAX)] = "/",
                     reason: FromQuery[str | None] = None,
                     ) -> Template:
    return Template("login.html", context=page_context(
        request, principal, error=error, next=next_,
        reason=reason if reason in LOGIN_REASONS else None))


@get("/lang/{code:str}", include_in_schema=False)
async def set_lang(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    referer = request.headers.get("referer", "/")
    back = "/"
    base = str(request.base_url).rstrip("/")
    if referer.startswith(base):
        back = referer[len(base):] or "/"
    value = code if code in LANGS else "zh"
    return Redirect(back, cookies=[Cookie(key=LANG_COOKIE, value=value, max_age=365 * 86400,
                                          samesite="lax", path="/")])
