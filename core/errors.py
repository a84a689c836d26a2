"""One error hierarchy and the handlers that turn errors into HTTP responses.

Every error response has the same JSON shape ``{code, message, message_en,
detail}``: ``code`` is stable and machine-readable, the messages are for
people (Chinese first). Business rules raise ``DomainError`` subclasses;
routes never build HTTP errors themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = structlog.get_logger(__name__)


class DomainError(Exception):
    """Base of every error the platform reports to a client on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: str = "请求无效"
    message_en: str = "The request is not valid"
    # seconds a client should wait before trying again: sent as Retry-After when set
    retry_after: int | None = None

    def __init__(
        self,
        detail: Any = None,
        *,
        message: str | None = None,
        message_en: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message_en or self.message_en)
        self.detail = detail
        if retry_after is not None:
            self.retry_after = retry_after
        if message is not None:
            self.message = message
        if message_en is not None:
            self.message_en = message_en

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "message_en": self.message_en,
            "detail": self.detail,
        }


class InvalidInput(DomainError):
    code = "invalid_input"
    message = "输入数据无效"
    message_en = "The input is not valid"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    message = "请先登录"
    message_en = "Authentication is required"


class BadCredentials(DomainError):
    status = 401
    code = "bad_credentials"
    message = "用户名或密码错误"
    message_en = "Wrong user name or password"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "无权执行此操作"
    message_en = "You are not allowed to do this"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "对象不存在或无权查看"
    message_en = "Not found, or not visible to you"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "与现有数据冲突"
    message_en = "Conflicts with existing data"


class InvalidCreditCode(InvalidInput):
    code = "invalid_credit_code"
    message = "统一社会信用代码无效"
    message_en = "The unified social credit code is not valid"


class TryAgain(DomainError):
    """A deadlock or a serialization failure: nothing was written, the same request again
    may well succeed."""

    status = 503
    code = "try_again"
    message = "系统繁忙，请稍后重试（未保存任何更改）"
    message_en = "Busy: nothing was changed, please try again"
    retry_after = 1


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    message = "服务暂时不可用"
    message_en = "A service is temporarily unavailable"


class StorageUnavailable(ServiceUnavailable):
    """The object store did not answer, or answered with a server error.

    Raised by ``core.storage`` and ``core.multipart`` for connection failures and S3
    5xx answers, so every route that touches the store answers 503 with this code
    and a Retry-After instead of a 500, and no client is blamed for it.
    """

    code = "storage_unavailable"
    message = "存储服务暂时不可用，请稍后重试"
    message_en = "Object storage is temporarily unavailable; try again shortly"
    retry_after = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, restarting, out of connections, or the pool
    waited in vain): the platform is not wrong, only unavailable for now."""

    code = "database_unavailable"
    message = "数据库暂时不可用，请稍后重试"
    message_en = "The database is temporarily unavailable; please try again shortly"
    retry_after = 5


# Constraint names (from the migrations) mapped to the error a client sees.
# The database is the last word on uniqueness and checks; this table is the
# one place that translates its verdicts. Core's and the tenders' own tables are
# listed here; the other domains name theirs in their errors.py (``CONSTRAINTS``), and
# the application installs them all at start (``app.create_app``).
_BASE_CONSTRAINTS: dict[str, tuple[type[DomainError], str, str]] = {
    "organizations_credit_code_key": (
        Conflict,
        "该统一社会信用代码已注册",
        "An organization with this credit code already exists",
    ),
    "users_login_key": (Conflict, "该登录名已被使用", "This login name is taken"),
    "users_login_format": (
        InvalidInput,
        "登录名须为 3-64 位小写字母、数字或 . _ -，以字母或数字开头",
        "A login is 3-64 lower-case letters, digits or . _ -, starting with a letter or digit",
    ),
    "user_roles_pkey": (Conflict, "该用户已拥有此角色", "The user already has this role"),
    "tenders_code_key": (Conflict, "项目编号已存在", "A tender with this code already exists"),
    "tenders_security_forms_t6": (
        InvalidInput,
        "招标人须接受银行保函、保证保险和电子保函等非现金保证形式",
        "Bank guarantees, guarantee insurance and e-guarantees must be accepted (T6)",
    ),
    "tenders_schedule_order": (InvalidInput, "招标文件发售开始须早于结束",
                               "The documents period must end after it starts"),
    "tenders_documents_before_deadline": (InvalidInput, "招标文件发售期须在投标截止前结束",
                                          "The documents period must end by the bid deadline"),
    "tenders_clarification_before_deadline": (InvalidInput, "澄清截止时间须在投标截止前",
                                              "The clarification deadline must precede the "
                                              "bid deadline"),
    "tenders_ceiling_within_budget": (InvalidInput, "最高投标限价不得高于预算",
                                      "The ceiling price cannot exceed the budget"),
    "lots_ceiling_within_budget": (InvalidInput, "标段最高投标限价不得高于标段预算",
                                   "A lot's ceiling price cannot exceed its budget"),
    "lots_number_key": (Conflict, "标段编号重复", "Lot numbers must be unique"),
    "tenders_officers_k_of_n": (InvalidInput, "开标人数 n 不超过 15，解密所需分片 k 须在 2 与 n 之间",
                                "Opening officers: n at most 15, and k between 2 and n"),
    "tenders_published_has_schedule": (InvalidInput, "发布前须填写文件获取期和投标截止时间",
                                       "Set the documents period and the bid deadline first"),
    "notices_one_draft_idx": (Conflict, "已有一份未发布的澄清草稿",
                              "There is already an unpublished clarification draft"),
    "tenders_retender_once": (Conflict, "该流标项目已重新招标",
                              "This failed tender has already been tendered again"),
}


CONSTRAINT_ERRORS: dict[str, tuple[type[DomainError], str, str]] = dict(_BASE_CONSTRAINTS)


def install_constraints(*maps: Mapping[str, type[DomainError]]) -> None:
    """The domains' constraint (and trigger) names with their errors, installed once by the
    application over core's own: a name claimed twice is a wiring mistake."""
    merged = dict(_BASE_CONSTRAINTS)
    for constraints in maps:
        for name, cls in constraints.items():
            if name in merged:
                raise ValueError(f"constraint {name!r} mapped twice")
            merged[name] = (cls, cls.message, cls.message_en)
    CONSTRAINT_ERRORS.clear()
    CONSTRAINT_ERRORS.update(merged)


# Error classes without a named constraint of their own, most specific first.
_PG_CLASSES: list[tuple[type[asyncpg.PostgresError], type[DomainError], str | None, str | None]] = [
    (asyncpg.ForeignKeyViolationError, InvalidInput, "引用的对象不存在",
     "A referenced object does not exist"),
    (asyncpg.CheckViolationError, InvalidInput, None, None),
    (asyncpg.NotNullViolationError, InvalidInput, None, None),
    (asyncpg.UniqueViolationError, Conflict, None, None),
    # NUL bytes in text, values out of a type's range...
    (asyncpg.DataError, InvalidInput, "输入含有无法保存的字符或数值",
     "The input holds characters or values that cannot be stored"),
    # deadlock, serialization failure: nothing was written, trying again may work
    (asyncpg.TransactionRollbackError, TryAgain, None, None),
    # the connection broke, the server is starting, stopping or has no connection to spare
    (asyncpg.PostgresConnectionError, DatabaseUnavailable, None, None),
    (asyncpg.CannotConnectNowError, DatabaseUnavailable, None, None),
    (asyncpg.AdminShutdownError, DatabaseUnavailable, None, None),
    (asyncpg.CrashShutdownError, DatabaseUnavailable, None, None),
    (asyncpg.TooManyConnectionsError, DatabaseUnavailable, None, None),
]


def from_postgres(exc: asyncpg.PostgresError) -> DomainError | None:
    """Translate a database refusal into a domain error, if it is a known kind."""
    name = getattr(exc, "constraint_name", None)
    if name and name in CONSTRAINT_ERRORS:
        cls, zh, en = CONSTRAINT_ERRORS[name]
        return cls({"constraint": name}, message=zh, message_en=en)
    for pg_class, error_class, text, text_en in _PG_CLASSES:
        if isinstance(exc, pg_class):
            return error_class({"constraint": name, "reason": pg_class.__name__}, message=text,
                               message_en=text_en)
    return None


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Session"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    return _json(exc.status, exc.body(), headers or None)


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


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        code, zh, en = "validation_error", "请求数据格式错误", "The request data is malformed"
        detail: Any = exc.extra
    else:
        code, zh, en = _HTTP_CODES.get(status, ("http_error", "请求错误", exc.detail or "HTTP error"))
        detail = None
    if status >= 500:
        code, zh, en = "internal_error", "服务器内部错误", "Internal server error"
    return _json(status, {"code": code, "message": zh, "message_en": en, "detail": detail},
                 dict(exc.headers) if exc.headers else None)


def undecodable_text_handler(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """Text that is not UTF-8 can only have come from the request (a JSON string, a form
    field, a header the handler reads): the client's error, whichever route it reached.
    Checked before authentication, since the body is decoded with the arguments."""
    log.info("undecodable_request", path=request.url.path, reason=exc.reason)
    code, zh, en = _HTTP_CODES[400]
    return _json(400, {"code": code, "message": zh, "message_en": en,
                       "detail": {"reason": "invalid_utf8", "position": exc.start}})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return _json(
        HTTP_500_INTERNAL_SERVER_ERROR,
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
