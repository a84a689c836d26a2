"""Errors as HTTP responses: one JSON shape ``{code, message, message_en, detail}`` for the
platform's own errors, the framework's, the database's and the unexpected (a 500 is a bug).

The same body becomes a page for a person when the route is a page, not a machine route
(``core.error_pages``): every handler below answers through ``_answer``."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from core.constraints import from_postgres
from core.error_pages import error_page, is_page
from core.errors import DatabaseUnavailable, DomainError, Forbidden, NotAuthenticated, NotFound

log = structlog.get_logger(__name__)


def _answer(request: Request[Any, Any, Any], status: int, body: dict[str, Any],
            headers: dict[str, str] | None = None) -> Response[Any]:
    if is_page(request.url.path):
        return error_page(request, status, body, headers)
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Session"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    return _answer(request, exc.status, exc.body(), headers or None)


def postgres_error_handler(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[Any]:
    mapped = from_postgres(exc)
    if mapped is not None:
        return domain_error_handler(request, mapped)
    return internal_error_handler(request, exc)


def interface_error_handler(request: Request[Any, Any, Any],
                            exc: asyncpg.InterfaceError) -> Response[Any]:
    """The driver's own errors: a closed connection or pool is the database being away; a
    value the driver cannot encode (its ValueErrors) is a bug."""
    if isinstance(exc, ValueError):
        return internal_error_handler(request, exc)
    log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
    return domain_error_handler(request, DatabaseUnavailable({"reason": type(exc).__name__}))


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("malformed_request", "请求格式错误", "The request is malformed"),
    **{cls.status: (cls.code, cls.message, cls.message_en)
       for cls in (NotAuthenticated, Forbidden, NotFound)},
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("payload_too_large", "请求内容过大", "The request body is too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported media type"),
    429: ("too_many_requests", "请求过于频繁", "Too many requests"),
}


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        code, zh, en = "validation_error", "请求数据格式错误", "The request data is malformed"
        detail: Any = exc.extra
    else:
        code, zh, en = _HTTP_CODES.get(status, ("http_error", "请求错误", exc.detail or "HTTP error"))
        detail = None
    if status >= 500:
        code, zh, en = "internal_error", "服务器内部错误", "Internal server error"
    return _answer(request, status,
                   {"code": code, "message": zh, "message_en": en, "detail": detail},
                   dict(exc.headers) if exc.headers else None)


def undecodable_text_handler(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """Text that is not UTF-8 can only have come from the request (a JSON string, a form
    field, a header the handler reads): the client's error, whichever route it reached.
    Checked before authentication, since the body is decoded with the arguments."""
    log.info("undecodable_request", path=request.url.path, reason=exc.reason)
    code, zh, en = _HTTP_CODES[400]
    return _answer(request, 400, {"code": code, "message": zh, "message_en": en,
                                  "detail": {"reason": "invalid_utf8", "position": exc.start}})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return _answer(
        request, HTTP_500_INTERNAL_SERVER_ERROR,
        {
            "code": "internal_error",
            "message": "服务器内部错误",
            "message_en": "Internal server error",
            "detail": {"request_id": request.scope.get("state", {}).get("request_id")},
        },
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    asyncpg.PostgresError: postgres_error_handler,
    asyncpg.InterfaceError: interface_error_handler,
    HTTPException: http_error_handler,
    UnicodeDecodeError: undecodable_text_handler,
    Exception: internal_error_handler,
}
