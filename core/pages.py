"""Server-rendered pages: the public home with published tenders, and sign-in."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from core.clock import SHANGHAI
from core.deps import Conn, MaybeUser
from core.i18n import LANG_COOKIE, LANGS, pick_lang, translator
from trading.tenders import service as tenders

PAGE_SIZE = 20


def page_context(request: Request[Any, Any, Any], principal: MaybeUser,
                 **extra: Any) -> dict[str, Any]:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    return {"lang": lang, "t": translator(lang), "principal": principal, "shanghai": SHANGHAI,
            "path": request.url.path, **extra}


@get("/", include_in_schema=False)
async def home(
    request: Request[Any, Any, Any], conn: Conn, principal: MaybeUser,
    q: Annotated[str | None, QueryParameter(max_length=100)] = None,
    page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
) -> Template:
    rows, total = await tenders.list_public(conn, keyword=q, region=None, status=None,
                                            page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return Template("home.html", context=page_context(
        request, principal, tenders=rows, total=total, page=page, pages=pages, q=q or ""))


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], principal: MaybeUser,
                     error: FromQuery[str | None] = None,
                     next_: Annotated[str, QueryParameter(name="next", max_length=200)] = "/",
                     ) -> Template:
    return Template("login.html", context=page_context(request, principal, error=bool(error),
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
