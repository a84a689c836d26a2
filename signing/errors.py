"""Signature and certificate verification errors, each with its own stable code."""

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


class WrongKeyUsage(SignatureError):
    code = "certificate_wrong_key_usage"
    message = "该证书不能用于此用途（密钥用法不符）"
    message_en = "The certificate's key usage does not allow this purpose"
