"""Pages common to every domain: the page context (language, who is signed in), sign-in."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from core.clock import SHANGHAI
from core.deps import MaybeUser
from core.i18n import LANG_COOKIE, LANGS, pick_lang, translator


def page_context(request: Request[Any, Any, Any], principal: MaybeUser,
                 **extra: Any) -> dict[str, Any]:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    en = lang == "en"

    def tt(zh: str, english: str) -> str:
        """A page's own text, written where it is used in both languages."""
        return english if en else zh

    return {"lang": lang, "t": translator(lang), "tt": tt, "principal": principal,
            "shanghai": SHANGHAI, "path": request.url.path, **extra}


def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    """To the sign-in page, coming back to the same page (query included) after."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}")


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], principal: MaybeUser,
                     error: FromQuery[str | None] = None,
                     next_: Annotated[str, QueryParameter(name="next", max_length=200)] = "/",
                     ) -> Template:
    return Template("login.html", context=page_context(request, principal, error=error,
                                                       next=next_))


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
