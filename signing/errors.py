"""Errors of the signing package (signatures, certificates, timestamps, envelopes),
each with its own stable code."""

from __future__ import annotations

from core.errors import DomainError


class SignatureError(DomainError):
    status = 422
    code = "signature_invalid"
    message = "签名验证失败"
    message_en = "The signature does not verify"


class MalformedSignature(SignatureError):
    status = 400
    code = "signature_malformed"
    message = "签名数据格式错误，不是有效的 CMS 签名"
    message_en = "Not a well-formed CMS signature"


class ContentMismatch(SignatureError):
    code = "signature_content_mismatch"
    message = "签名与文件内容不符（文件已被改动或不是被签名的文件）"
    message_en = "The signature does not match this content"


class BadSignature(SignatureError):
    code = "signature_bad"
    message = "签名值无效"
    message_en = "The signature value is not valid for the signer's key"


class UnknownIssuer(SignatureError):
    code = "certificate_unknown_issuer"
    message = "签名证书不是由受信任的 CA 签发"
    message_en = "The signer's certificate does not chain to a trusted CA"


class CertificateExpired(SignatureError):
    code = "certificate_expired"
    message = "签名证书已过期或尚未生效"
    message_en = "The signer's certificate is expired or not yet valid"


class CertificateRevoked(SignatureError):
    code = "certificate_revoked"
    message = "签名证书已被吊销"
    message_en = "The signer's certificate is revoked"


class RevocationUnknown(SignatureError):
    code = "certificate_revocation_unknown"
    message = "无法获取签名证书的吊销状态"
    message_en = "The revocation status of the signer's certificate cannot be established"


class RevocationUnavailable(SignatureError):
    status = 503
    code = "certificate_revocation_unavailable"
    message = "签发 CA 的吊销列表已过期且暂时无法获取，请稍后再试"
    message_en = ("The issuing CA's revocation list is out of date and cannot be fetched "
                  "now; try again later")


class WrongKeyUsage(SignatureError):
    code = "certificate_wrong_key_usage"
    message = "该证书不能用于此用途（密钥用法不符）"
    message_en = "The certificate's key usage does not allow this purpose"


class TimestampError(SignatureError):
    code = "timestamp_invalid"
    message = "时间戳无效"
    message_en = "The timestamp token is not valid"


class TimestampMismatch(TimestampError):
    code = "timestamp_mismatch"
    message = "时间戳与文件不符"
    message_en = "The timestamp token was not issued for this content"


class TimestampUnavailable(TimestampError):
    status = 503
    code = "timestamp_unavailable"
    message = "时间戳服务不可用"
    message_en = "The timestamp authority is not available"


class EnvelopeError(DomainError):
    status = 400
    code = "envelope_invalid"
    message = "数字信封无效"
    message_en = "The digital envelope is not valid"


class MalformedEnvelope(EnvelopeError):
    code = "envelope_malformed"
    message = "不是有效的 CMS 数字信封（文件可能未加密或已损坏）"
    message_en = "Not a well-formed CMS envelope (not encrypted, or damaged)"


class NotARecipient(EnvelopeError):
    status = 403
    code = "envelope_not_recipient"
    message = "该证书不是此数字信封的接收者"
    message_en = "This certificate is not a recipient of the envelope"


class WrongKey(EnvelopeError):
    code = "envelope_wrong_key"
    message = "解密密钥错误，无法打开数字信封"
    message_en = "The key does not open this envelope"
