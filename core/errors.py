"""One error hierarchy: every error the platform reports to a client on purpose.

Every error response has the same JSON shape ``{code, message, message_en,
detail}``: ``code`` is stable and machine-readable, the messages are for
people (Chinese first). Business rules raise ``DomainError`` subclasses;
routes never build HTTP errors themselves.

This module imports nothing of the server (no web framework, no database driver), so the
bidder's tool and the shared formats use the same errors. The database's refusals are
translated in ``core.constraints``; errors become HTTP responses in ``core.http_errors``.
"""

from __future__ import annotations

from typing import Any, ClassVar


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
