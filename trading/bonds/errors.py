"""Errors of bid security: issuers, their messages and guarantees (docs/issuer-api.md lists
every code)."""

from __future__ import annotations

from core.errors import Conflict, DomainError


class MessageMalformed(DomainError):
    status = 400
    code = "issuer_message_malformed"
    message = "报文格式不符合接口规范"
    message_en = "The message does not follow the interface's format"


class MessageVersion(DomainError):
    status = 400
    code = "issuer_message_version"
    message = "不支持的接口版本"
    message_en = "Unsupported interface version"


class MessageSignatureInvalid(DomainError):
    status = 422
    code = "issuer_signature_invalid"
    message = "报文签名验证未通过"
    message_en = "The message's signature does not verify"


class SignerUnknown(DomainError):
    status = 403
    code = "issuer_signer_unknown"
    message = "报文签名证书不是该机构在平台绑定的签名证书"
    message_en = "The message is not signed with a signing certificate bound to the sender"


class SenderMismatch(DomainError):
    status = 403
    code = "issuer_sender_mismatch"
    message = "报文发送方或接收方与调用者不符"
    message_en = "The message's sender or receiver is not the caller or the platform"


class MessageStale(DomainError):
    status = 422
    code = "issuer_message_stale"
    message = "报文时间与平台时间相差过大"
    message_en = "The message's time is too far from the platform's clock"


class MessageIdReused(DomainError):
    status = 409
    code = "issuer_message_id_reused"
    message = "报文编号已用于另一份不同的报文"
    message_en = "The message id was already used for a different message"


class MessageTypeUnknown(DomainError):
    status = 422
    code = "issuer_message_type_unknown"
    message = "平台不接收此类报文"
    message_en = "The platform does not take messages of this type"


class IssuerNotRegistered(DomainError):
    status = 403
    code = "issuer_not_registered"
    message = "调用者所属机构不是平台登记的保函出具机构"
    message_en = "The caller's organization is not a registered guarantee issuer"


class IssuerSuspended(DomainError):
    status = 403
    code = "issuer_suspended"
    message = "该出具机构已被交易中心暂停"
    message_en = "The trading centre has suspended this issuer"


class IssuerKind(DomainError):
    status = 422
    code = "issuer_kind"
    message = "出具机构须为保险机构或银行"
    message_en = "An issuer is an insurer or a bank organization"


class PlatformIdentityMissing(DomainError):
    status = 503
    code = "platform_seal_missing"
    message = "平台未配置签名证书，暂不能与出具机构交换报文"
    message_en = "The platform has no signing certificate configured; it cannot exchange messages"


class IssuerExists(Conflict):
    code = "issuer_exists"
    message = "该机构已登记为出具机构"
    message_en = "The organization is already a registered issuer"


class ProductExists(Conflict):
    code = "issuer_product_exists"
    message = "该出具机构已有同名产品"
    message_en = "The issuer already has a product of that name"




class NoSecurityRequired(DomainError):
    status = 422
    code = "security_not_required"
    message = "该标段不要求投标保证金"
    message_en = "This lot asks for no bid security"


class ProductUnavailable(DomainError):
    status = 422
    code = "issuer_product_unavailable"
    message = "所选保函产品不存在或已下架"
    message_en = "The chosen product does not exist or is withdrawn"


class AboveProductLimit(DomainError):
    status = 422
    code = "issuer_product_limit"
    message = "保证金额超过该产品的承保上限"
    message_en = "The amount is above the product's limit"


class GuaranteeLive(Conflict):
    code = "guarantee_exists"
    message = "本单位在该标段已有有效的保函申请"
    message_en = "Your organization already has a live guarantee for this lot"


class GuaranteeUnknown(DomainError):
    status = 422
    code = "guarantee_unknown"
    message = "报文所指的保函申请不存在或不属于该出具机构"
    message_en = "The message names no order of this issuer"


class GuaranteeOutOfTurn(Conflict):
    code = "guarantee_out_of_turn"
    message = "保函当前状态不接受此报文"
    message_en = "The guarantee's state does not take this message now"


class GuaranteeNumberTaken(Conflict):
    code = "guarantee_number_taken"
    message = "该出具机构已有相同编号的保函"
    message_en = "The issuer already issued a guarantee with this number"


class GuaranteeNotFound(DomainError):
    status = 404
    code = "guarantee_not_found"
    message = "未找到该保函：请核对保函编号与验真码"
    message_en = "No such guarantee: check the number and the verification code"


class VerifyLocked(DomainError):
    status = 429
    code = "guarantee_verify_locked"
    message = "验真失败次数过多，请稍后再试"
    message_en = "Too many failed checks from this address; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__({"retry_after": retry_after}, retry_after=retry_after)


CONSTRAINTS: dict[str, type[DomainError]] = {
    "issuers_pkey": IssuerExists,
    "issuer_products_name_key": ProductExists,
    "guarantees_one_live_idx": GuaranteeLive,
    "guarantees_number_idx": GuaranteeNumberTaken,
}
