"""The agent's refusals: each a stable code, a status, and a message in Chinese and English.

They share the platform's error shape (``core.errors``), so a page shows an agent's
refusal the same way as the platform's.
"""

from __future__ import annotations

from core.errors import DomainError


class AgentError(DomainError):
    status = 400
    code = "agent.bad_request"
    message = "签名助手无法理解该请求"
    message_en = "The signing agent cannot read this request"


class OriginForbidden(AgentError):
    """A page of another origin, or no Origin at all: the agent serves its platform only."""

    status = 403
    code = "agent.origin_forbidden"
    message = "签名助手只为启动时指定的平台网站服务"
    message_en = "The signing agent serves only the platform it was started for"


class HostForbidden(AgentError):
    """A Host other than the loopback address: a DNS-rebinding page, or a proxy."""

    status = 403
    code = "agent.host_forbidden"
    message = "签名助手只接受发往本机地址的请求"
    message_en = "The signing agent answers requests to the loopback address only"


class NotPaired(AgentError):
    status = 401
    code = "agent.not_paired"
    message = "该网页尚未与签名助手配对"
    message_en = "This page is not paired with the signing agent"


class Refused(AgentError):
    status = 403
    code = "agent.refused"
    message = "使用者在签名助手中拒绝了该请求"
    message_en = "The person refused this request in the signing agent"


class ConfirmTimeout(AgentError):
    status = 408
    code = "agent.confirm_timeout"
    message = "签名助手未在规定时间内得到确认"
    message_en = "Nobody confirmed the request in the signing agent in time"


class Busy(AgentError):
    status = 409
    code = "agent.busy"
    message = "签名助手正在等待对另一请求的确认"
    message_en = "The signing agent is waiting for the confirmation of another request"


class UnknownKey(AgentError):
    status = 404
    code = "agent.unknown_key"
    message = "USB key 中没有该证书或其私钥"
    message_en = "The token holds no such certificate or no private key for it"


class UnsupportedMechanism(AgentError):
    status = 422
    code = "agent.mechanism_unsupported"
    message = "该 USB key 不支持所请求的算法"
    message_en = "The token does not support the requested mechanism"


class NotFound(AgentError):
    status = 404
    code = "agent.not_found"
    message = "签名助手没有这个地址"
    message_en = "The signing agent has no such path"


class TokenFailed(AgentError):
    """The token or its driver refused or failed: removed, locked, a wrong ciphertext."""

    status = 502
    code = "agent.token_error"
    message = "USB key 操作失败"
    message_en = "The token failed the operation"


class TooLarge(AgentError):
    status = 413
    code = "agent.too_large"
    message = "请求过大"
    message_en = "The request is too large"
