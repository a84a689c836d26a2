"""CMS digital envelopes: EnvelopedData (AES-256-CBC) and AuthEnvelopedData (AES-256-GCM).

Recipients: RSA key transport (OAEP with SHA-256, or PKCS#1 v1.5) and EC
P-256 key agreement (ephemeral-static ECDH, X9.63 KDF with SHA-256, AES-256
key wrap: ``dhSinglePass-stdDH-sha256kdf-scheme``, RFC 5753), several at
once. Opening works with a recipient's private key, or with the content key
a recipient unwrapped on its own machine and handed over: the way a bidder
opens its bid at a no-show opening without giving its private key away.
Both directions interoperate with ``openssl cms -encrypt/-decrypt``.

This version holds the content in memory; the streaming form for bids of
hundreds of megabytes builds on the same recipient code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from signing import sm2
from signing.ber import pem_to_der, tlv
from signing.errors import EnvelopeError, MalformedEnvelope, NotARecipient, WrongKey
from signing.keys import PrivateKey, SM2PrivateKey

# The envelope's errors live with the others (the BER reader raises them too) and are
# named here as well, where callers find them.
__all__ = ["Envelope", "EnvelopeError", "MalformedEnvelope", "NotARecipient", "Recipient",
           "WrongKey", "open_with_key", "open_with_private_key", "parse", "recipient_ids", "seal",
           "unwrap_from", "unwrap_key"]

ECDH_SHA256 = "1.3.132.1.11.1"  # dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753)
# the ECDH schemes accepted when opening, by their KDF hash (openssl may use any)
# SHA-1 here derives or masks a key, it signs nothing: openssl's defaults use it,
# and envelopes made with those defaults must open.
ECDH_KDF_HASHES: dict[str, hashes.HashAlgorithm] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1(),  # noqa: S303
    "1.3.132.1.11.0": hashes.SHA224(),
    ECDH_SHA256: hashes.SHA256(),
    "1.3.132.1.11.2": hashes.SHA384(),
    "1.3.132.1.11.3": hashes.SHA512(),
}
OAEP_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - openssl's OAEP default
    "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
AES_WRAP = {"2.16.840.1.101.3.4.1.5": 16, "2.16.840.1.101.3.4.1.25": 24,
            "2.16.840.1.101.3.4.1.45": 32}
AES256_WRAP = "2.16.840.1.101.3.4.1.45"
for _oid in ECDH_KDF_HASHES:
    cms.KeyEncryptionAlgorithmId._map[_oid] = f"ecdh_{_oid}"
    cms.KeyEncryptionAlgorithmId._reverse_map[f"ecdh_{_oid}"] = _oid


# SM4-CBC (GM/T 0006 object identifier), which asn1crypto does not know
SM4_CBC = "1.2.156.10197.1.104.2"
algos.EncryptionAlgorithmId._map[SM4_CBC] = "sm4_cbc"
if algos.EncryptionAlgorithmId._reverse_map is not None:  # asn1crypto builds it lazily
    algos.EncryptionAlgorithmId._reverse_map["sm4_cbc"] = SM4_CBC
algos.EncryptionAlgorithm._oid_specs["sm4_cbc"] = core.OctetString


@dataclass(frozen=True)
class Recipient:
    cert: x509.Certificate
    rsa_padding: str = "oaep"  # or "pkcs1v15", for RSA certificates


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _rid(cert: x509.Certificate) -> dict[str, object]:
    c = _asn1_cert(cert)
    return {"issuer": c.issuer, "serial_number": c.serial_number}


def _shared_info(wrap_oid: str, ukm: bytes | None) -> bytes:
    """ECC-CMS-SharedInfo (RFC 5753 section 7.2)."""
    fields: list[bytes] = [algos.AlgorithmIdentifier({"algorithm": wrap_oid}).dump()]
    if ukm is not None:
        fields.append(core.OctetString(ukm, explicit=0).dump())
    bits = AES_WRAP[wrap_oid] * 8
    fields.append(core.OctetString(bits.to_bytes(4, "big"), explicit=2).dump())
    body = b"".join(fields)
    return tlv(0x30, body)


def _kek(shared: bytes, ukm: bytes | None, *, kdf_hash: hashes.HashAlgorithm | None = None,
         wrap_oid: str = AES256_WRAP) -> bytes:
    return X963KDF(algorithm=kdf_hash or hashes.SHA256(), length=AES_WRAP[wrap_oid],
                   sharedinfo=_shared_info(wrap_oid, ukm)).derive(shared)


def _recipient_info(recipient: Recipient, cek: bytes) -> cms.RecipientInfo:
    spki = recipient.cert.public_bytes(serialization.Encoding.DER)
    spki = asn1_x509.Certificate.load(spki).public_key.dump()
    if sm2.is_sm2_public_key(spki):
        # GM/T 0010: key transport with SM2 encryption of the content-encryption key.
        return cms.RecipientInfo({"ktri": {
            "version": "v0", "rid": {"issuer_and_serial_number": _rid(recipient.cert)},
            "key_encryption_algorithm": {"algorithm": sm2.SM2_ENCRYPT},
            "encrypted_key": sm2.encrypt(spki, cek)}})
    public = recipient.cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        if recipient.rsa_padding == "pkcs1v15":
            wrapped = public.encrypt(cek, asym_padding.PKCS1v15())
            alg = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"})
        else:
            wrapped = public.encrypt(cek, asym_padding.OAEP(
                mgf=asym_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
            alg = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            }})
        return cms.RecipientInfo({"ktri": {
            "version": "v0", "rid": {"issuer_and_serial_number": _rid(recipient.cert)},
            "key_encryption_algorithm": alg, "encrypted_key": wrapped}})
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise EnvelopeError({"curve": public.curve.name}, message="仅支持 P-256 曲线",
                                message_en="Only P-256 EC recipients are supported")
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        shared = ephemeral.exchange(ec.ECDH(), public)
        wrapped = aes_key_wrap(_kek(shared, None), cek)
        point = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        return cms.RecipientInfo({"kari": {
            "version": "v3",
            "originator": cms.OriginatorIdentifierOrKey({"originator_key": {
                "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
                    {"named": "secp256r1"})},
                "public_key": point}}),
            "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({
                "algorithm": f"ecdh_{ECDH_SHA256}",
                "parameters": algos.AlgorithmIdentifier({"algorithm": AES256_WRAP}),
            }),
            "recipient_encrypted_keys": [{
                "rid": {"issuer_and_serial_number": _rid(recipient.cert)},
                "encrypted_key": wrapped}],
        }})
    raise EnvelopeError({"key": type(public).__name__}, message="不支持的接收者密钥类型",
                        message_en="Unsupported recipient key type")


CBC_CIPHERS = {"aes256_cbc": 32, "sm4_cbc": 16}


def _cbc_cipher(name: str, key: bytes) -> algorithms.AES | algorithms.SM4:
    return algorithms.SM4(key) if name == "sm4_cbc" else algorithms.AES(key)


def seal(content: bytes, recipients: Sequence[Recipient], *, aead: bool = True,
         cbc_cipher: str = "aes256_cbc") -> bytes:
    """Encrypt ``content`` for every recipient.

    AuthEnvelopedData with AES-256-GCM by default; with ``aead=False``,
    EnvelopedData with ``cbc_cipher``: AES-256-CBC or SM4-CBC (GB/T 32907).
    """
    if not recipients:
        raise EnvelopeError({"reason": "no recipients"})
    if not aead and cbc_cipher not in CBC_CIPHERS:
        raise EnvelopeError({"cipher": cbc_cipher})
    cek = os.urandom(32 if aead else CBC_CIPHERS[cbc_cipher])
    infos = [_recipient_info(r, cek) for r in recipients]
    has_kari = any(i.name == "kari" for i in infos)
    if aead:
        nonce = os.urandom(12)
        sealed = AESGCM(cek).encrypt(nonce, content, None)
        body = cms.AuthEnvelopedData({
            "version": "v0",
            "recipient_infos": infos,
            "auth_encrypted_content_info": {
                "content_type": "data",
                # GCMParameters has CCM's shape: nonce, ICV length
                "content_encryption_algorithm": {"algorithm": "aes256_gcm",
                                                 "parameters": algos.CcmParams({
                                                     "aes_nonce": nonce, "aes_icvlen": 16})},
                "encrypted_content": sealed[:-16]},
            "mac": sealed[-16:],
        })
        info = cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": body})
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(_cbc_cipher(cbc_cipher, cek), modes.CBC(iv)).encryptor()
        ciphertext = enc.update(padder.update(content) + padder.finalize()) + enc.finalize()
        body = cms.EnvelopedData({
            "version": "v2" if has_kari else "v0",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": cbc_cipher, "parameters": iv},
                "encrypted_content": ciphertext},
        })
        info = cms.ContentInfo({"content_type": "enveloped_data", "content": body})
    der: bytes = info.dump()
    return der


# ----------------------------------------------------------------- opening
@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: who can open it, and the encrypted content."""

    kind: str  # "enveloped_data" or "authenticated_enveloped_data"
    body: cms.EnvelopedData | cms.AuthEnvelopedData

    @property
    def recipient_infos(self) -> list[cms.RecipientInfo]:
        return list(self.body["recipient_infos"])

    def recipient_ids(self) -> list[tuple[asn1_x509.Name, int]]:
        return recipient_ids(self.recipient_infos)

    def is_for(self, cert: x509.Certificate) -> bool:
        c = _asn1_cert(cert)
        return any(issuer == c.issuer and serial == c.serial_number
                   for issuer, serial in self.recipient_ids())


def recipient_ids(infos: Sequence[cms.RecipientInfo]) -> list[tuple[asn1_x509.Name, int]]:
    """(issuer, serial number) of every certificate the content key is wrapped for."""
    ids = []
    for info in infos:
        if info.name == "ktri":
            rids = [info.chosen["rid"]]
        elif info.name == "kari":
            rids = [k["rid"] for k in info.chosen["recipient_encrypted_keys"]]
        else:
            continue
        for rid in rids:
            if rid.name in {"issuer_and_serial_number", "issuer_and_serial"}:
                ids.append((rid.chosen["issuer"], rid.chosen["serial_number"].native))
    return ids


def parse(data: bytes) -> Envelope:
    """Parse DER (or PEM) envelope bytes; anything else is MalformedEnvelope."""
    try:
        data = pem_to_der(data)
        info = cms.ContentInfo.load(data, strict=True)
        kind = info["content_type"].native
        if kind not in ("enveloped_data", "authenticated_enveloped_data"):
            raise MalformedEnvelope({"content_type": kind})
        body = info["content"]
        body.native  # noqa: B018 - parse it all now
        return Envelope(kind, body)
    except EnvelopeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise MalformedEnvelope({"reason": type(exc).__name__}) from None


def unwrap_key(envelope: Envelope, cert: x509.Certificate, key: PrivateKey) -> bytes:
    """The content-encryption key, unwrapped with a recipient's private key."""
    return unwrap_from(envelope.recipient_infos, cert, key)


def unwrap_from(infos: Sequence[cms.RecipientInfo], cert: x509.Certificate,
                key: PrivateKey) -> bytes:
    c = _asn1_cert(cert)
    for info in infos:
        try:
            if info.name == "ktri":
                rid = info.chosen["rid"].chosen
                if rid["issuer"] == c.issuer and rid["serial_number"].native == c.serial_number:
                    return _unwrap_ktri(info.chosen, key)
            elif info.name == "kari":
                for rek in info.chosen["recipient_encrypted_keys"]:
                    rid = rek["rid"].chosen
                    if rid["issuer"] == c.issuer and rid["serial_number"].native == c.serial_number:
                        return _unwrap_kari(info.chosen, rek["encrypted_key"].native, key)
        except (ValueError, InvalidUnwrap, TypeError) as exc:
            raise WrongKey({"reason": type(exc).__name__}) from None
        except (KeyError, AttributeError) as exc:  # an algorithm we do not know
            raise MalformedEnvelope({"reason": f"unknown algorithm {exc}"}) from None
    raise NotARecipient()


def _unwrap_ktri(ktri: cms.KeyTransRecipientInfo, key: PrivateKey) -> bytes:
    alg = ktri["key_encryption_algorithm"]
    wrapped = ktri["encrypted_key"].native
    if alg["algorithm"].dotted == sm2.SM2_ENCRYPT:
        if not isinstance(key, SM2PrivateKey):
            raise WrongKey({"reason": "SM2 recipient, non-SM2 key"})
        try:
            return key.decrypt(wrapped)
        except sm2.SM2Error as exc:
            raise WrongKey({"reason": str(exc)}) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise WrongKey({"reason": "RSA recipient, non-RSA key"})
    if alg["algorithm"].native == "rsaes_oaep":
        params = alg["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native if params else "sha1"
        hash_alg = OAEP_HASHES[hash_name]
        mgf_hash = hash_alg
        if params and params["mask_gen_algorithm"]["parameters"].native:
            mgf_hash = OAEP_HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]
        cek: bytes = key.decrypt(wrapped, asym_padding.OAEP(
            mgf=asym_padding.MGF1(mgf_hash), algorithm=hash_alg, label=None))
        return cek
    plain: bytes = key.decrypt(wrapped, asym_padding.PKCS1v15())
    return plain


def _unwrap_kari(kari: cms.KeyAgreeRecipientInfo, wrapped: bytes, key: PrivateKey) -> bytes:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise WrongKey({"reason": "EC recipient, non-EC key"})
    alg = kari["key_encryption_algorithm"]
    kdf_hash = ECDH_KDF_HASHES.get(alg["algorithm"].dotted)
    if kdf_hash is None:
        raise EnvelopeError({"algorithm": alg["algorithm"].dotted},
                            message="不支持的密钥协商算法",
                            message_en="Unsupported key agreement algorithm")
    wrap = algos.AlgorithmIdentifier.load(alg["parameters"].dump())
    wrap_oid = wrap["algorithm"].dotted
    if wrap_oid not in AES_WRAP:
        raise EnvelopeError({"wrap": wrap_oid})
    originator = kari["originator"].chosen
    point = originator["public_key"].native
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    ukm = kari["ukm"].native if kari["ukm"].native is not None else None
    shared = key.exchange(ec.ECDH(), peer)
    return aes_key_unwrap(_kek(shared, ukm, kdf_hash=kdf_hash, wrap_oid=wrap_oid), wrapped)


def open_with_key(envelope: Envelope, cek: bytes) -> bytes:
    """Decrypt the content with a content-encryption key (from a recipient's hand-over)."""
    if len(cek) not in (16, 24, 32):
        raise WrongKey({"reason": "key length"})
    try:
        if envelope.kind == "authenticated_enveloped_data":
            eci = envelope.body["auth_encrypted_content_info"]
            alg = eci["content_encryption_algorithm"]
            if alg["algorithm"].native not in ("aes128_gcm", "aes192_gcm", "aes256_gcm"):
                raise EnvelopeError({"algorithm": alg["algorithm"].native})
            params = algos.CcmParams.load(alg["parameters"].dump())
            nonce = params["aes_nonce"].native
            if params["aes_icvlen"].native not in (None, 16):
                raise EnvelopeError({"icv_length": params["aes_icvlen"].native})
            ciphertext = eci["encrypted_content"].native or b""
            mac = envelope.body["mac"].native
            aad = None
            if envelope.body["auth_attrs"].native:
                aad = envelope.body["auth_attrs"].untag().dump()
            return AESGCM(cek).decrypt(nonce, ciphertext + mac, aad)
        eci = envelope.body["encrypted_content_info"]
        alg = eci["content_encryption_algorithm"]
        name = alg["algorithm"].native
        if name not in ("aes128_cbc", "aes192_cbc", "aes256_cbc", "sm4_cbc"):
            raise EnvelopeError({"algorithm": name})
        iv = alg["parameters"].native
        ciphertext = eci["encrypted_content"].native or b""
        dec = Cipher(_cbc_cipher(name, cek), modes.CBC(iv)).decryptor()
        padded = dec.update(ciphertext) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except EnvelopeError:
        raise
    except Exception as exc:  # InvalidTag, bad padding, wrong key size: all the wrong key
        raise WrongKey({"reason": type(exc).__name__}) from None


def open_with_private_key(data: bytes, cert: x509.Certificate, key: PrivateKey) -> bytes:
    envelope = parse(data)
    return open_with_key(envelope, unwrap_key(envelope, cert, key))
