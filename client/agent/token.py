"""The token behind the agent, over PKCS#11 (python-pkcs11).

A certificate and its private key are paired by CKA_ID, the convention of every CA's
token driver and of ``pkcs11-tool``. One logged-in session serves the agent's life; a lock
keeps its calls one at a time, since a PKCS#11 session is not meant for concurrent use.

Mechanisms: CKM_SHA256_RSA_PKCS (the token hashes), CKM_ECDSA over a SHA-256 hash the
agent computes (the raw r||s the token returns is encoded as DER, as CMS wants it),
CKM_RSA_PKCS and CKM_RSA_PKCS_OAEP to unwrap a content key, CKM_ECDH1_DERIVE with no KDF
to return the shared secret Z (the page runs the X9.63 KDF and the AES key unwrap itself).
SM2 has no standard PKCS#11 mechanism: a token whose driver has vendor mechanisms for it is
used through their numbers, given when the agent starts (docs/agent.md).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pkcs11
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import KDF, MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from client.agent.errors import TokenFailed, UnknownKey, UnsupportedMechanism
from signing import identity, sm2

Algorithm = Literal["rsa", "ec-p256", "sm2"]
Scheme = Literal["rsa-pkcs1", "rsa-oaep-sha1", "rsa-oaep-sha256", "sm2"]
SCHEMES: tuple[Scheme, ...] = ("rsa-pkcs1", "rsa-oaep-sha1", "rsa-oaep-sha256", "sm2")
# what each algorithm signs with, named as the protocol names it
SIGN_MECHANISMS: dict[Algorithm, str] = {
    "rsa": "rsa-pkcs1-sha256", "ec-p256": "ecdsa-sha256", "sm2": "sm2-sm3"}
OAEP = {"rsa-oaep-sha1": (Mechanism.SHA_1, MGF.SHA1),
        "rsa-oaep-sha256": (Mechanism.SHA256, MGF.SHA256)}


class PinRefused(Exception):
    """The PIN was wrong, or the token is locked: the agent does not start."""


@dataclass(frozen=True)
class Entry:
    """A certificate on the token that has its private key there too."""

    id: str  # CKA_ID in hex: stable for the token's life
    label: str
    cert: x509.Certificate
    algorithm: Algorithm
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def subject(self) -> dict[str, str | None]:
        return {"organization": identity.organization_name(self.cert),
                "person": identity.person_name(self.cert),
                "creditCode": identity.credit_code(self.cert)}

    def describe(self) -> str:
        s = self.subject()
        who = " / ".join(v for v in (s["organization"], s["person"], s["creditCode"]) if v)
        return f"{who} [{self.algorithm}, id {self.id}]"


def algorithm_of(cert: x509.Certificate) -> Algorithm | None:
    spki = cert.public_bytes(serialization.Encoding.DER)
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):  # a curve cryptography does not know: SM2
        public = None
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return "ec-p256"
    from asn1crypto import x509 as asn1_x509  # noqa: PLC0415 - only SM2 certificates need it
    if sm2.is_sm2_public_key(asn1_x509.Certificate.load(spki).public_key.dump()):
        return "sm2"
    return None


def _chain(cert: x509.Certificate, cas: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuing CAs the token holds, nearest first (matched by name)."""
    out: list[x509.Certificate] = []
    current = cert
    while current.issuer != current.subject and len(out) < 8:
        issuer = next((c for c in cas if c.subject == current.issuer and c not in out), None)
        if issuer is None:
            break
        out.append(issuer)
        current = issuer
    return out


def mechanism(value: int) -> Mechanism:
    """A mechanism by number, vendor-defined ones included.

    python-pkcs11 takes mechanisms as members of its ``Mechanism`` enum only, which names the
    standard ones; a vendor's number (CKM_VENDOR_DEFINED and up) gets a member of its own.
    """
    try:
        return Mechanism(value)
    except ValueError:
        member = int.__new__(Mechanism, value)
        member._name_ = f"VENDOR_{value:#x}"
        member._value_ = value
        Mechanism._value2member_map_[value] = member
        return member


@dataclass
class VendorSM2:
    """The vendor mechanism numbers of a driver that does SM2 (CKM_VENDOR_DEFINED + n)."""

    sign: int | None = None
    decrypt: int | None = None


class Token:
    """One token, logged in with its PIN for as long as the agent runs."""

    def __init__(self, module: str, label: str, *, vendor_sm2: VendorSM2 | None = None) -> None:
        try:
            self.lib = pkcs11.lib(module)
            self.token = self.lib.get_token(token_label=label)
        except p11.NoSuchToken:
            raise TokenFailed({"token": label}, message=f"找不到标签为 {label} 的 USB key",
                              message_en=f"No token labelled {label}") from None
        except (RuntimeError, p11.PKCS11Error) as exc:  # the module itself does not load
            raise TokenFailed({"module": module, "reason": str(exc)[:200]}) from None
        self.label = label
        self.vendor_sm2 = vendor_sm2 or VendorSM2()
        self._lock = threading.Lock()
        self._session: Any = None
        self._mechanisms: set[int] = set()

    # -- life ----------------------------------------------------------------------
    def login(self, pin: str) -> None:
        try:
            self._session = self.token.open(user_pin=pin)
        except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid) as exc:
            raise PinRefused("wrong PIN / PIN 错误") from exc
        except p11.PinLocked as exc:
            raise PinRefused("the token's PIN is locked / PIN 已锁定") from exc
        self._mechanisms = {int(m) for m in self.token.slot.get_mechanisms()}

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def info(self) -> dict[str, str]:
        return {"label": self.label, "manufacturer": self.token.manufacturer_id,
                "model": self.token.model, "serial": self.token.serial.decode(errors="replace")
                if isinstance(self.token.serial, bytes) else str(self.token.serial)}

    def mechanisms(self) -> dict[str, list[str] | bool]:
        """What this token can do, in the protocol's names."""
        has = self._mechanisms.__contains__
        sign = [name for name, mech in (("rsa-pkcs1-sha256", Mechanism.SHA256_RSA_PKCS),
                                        ("ecdsa-sha256", Mechanism.ECDSA)) if has(int(mech))]
        decrypt = [s for s, mech in (("rsa-pkcs1", Mechanism.RSA_PKCS),
                                     ("rsa-oaep-sha1", Mechanism.RSA_PKCS_OAEP),
                                     ("rsa-oaep-sha256", Mechanism.RSA_PKCS_OAEP))
                   if has(int(mech))]
        if self.vendor_sm2.sign is not None:
            sign.append("sm2-sm3")
        if self.vendor_sm2.decrypt is not None:
            decrypt.append("sm2")
        return {"sign": sign, "decrypt": decrypt,
                "agree": has(int(Mechanism.ECDH1_DERIVE))}

    @contextmanager
    def _using(self) -> Iterator[Any]:
        """The session, one caller at a time; a driver's failure becomes agent.token_error."""
        with self._lock:
            if self._session is None:
                raise TokenFailed({"reason": "not logged in"})
            try:
                yield self._session
            except (p11.MechanismInvalid, p11.MechanismParamInvalid, p11.ArgumentsBad,
                    p11.FunctionNotSupported,
                    p11.KeyTypeInconsistent) as exc:
                raise UnsupportedMechanism({"reason": type(exc).__name__}) from None
            except p11.PKCS11Error as exc:
                raise TokenFailed({"reason": type(exc).__name__}) from None

    # -- objects -------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """Certificates whose private key (same CKA_ID) is on the token, with their CAs."""
        with self._using() as s:
            found: list[tuple[bytes | None, str, x509.Certificate]] = []
            for obj in s.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                try:
                    cert = x509.load_der_x509_certificate(obj[Attribute.VALUE])
                except ValueError:
                    continue
                found.append((_attr(obj, Attribute.ID), _attr(obj, Attribute.LABEL) or "", cert))
            key_ids = {_attr(k, Attribute.ID)
                       for k in s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
        cas = [c for _, _, c in found if _is_ca(c)]
        out = []
        for ckid, label, cert in found:
            algorithm = algorithm_of(cert)
            if not ckid or ckid not in key_ids or algorithm is None:
                continue
            out.append(Entry(ckid.hex(), str(label), cert, algorithm, _chain(cert, cas)))
        return sorted(out, key=lambda e: e.id)  # the token's own order changes as it is written

    def entry(self, key_id: str) -> Entry:
        for e in self.entries():
            if e.id == key_id.lower():
                return e
        raise UnknownKey({"id": key_id})

    def _private(self, s: Any, entry: Entry) -> Any:
        try:
            return s.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(entry.id))
        except (p11.NoSuchKey, p11.MultipleObjectsReturned):
            raise UnknownKey({"id": entry.id}) from None

    # -- operations ----------------------------------------------------------------
    def usable(self, entry: Entry, operation: Literal["sign", "decrypt", "agree"],
               scheme: str | None = None) -> None:
        """Refuse what this key or driver cannot do before the person is asked to confirm it."""
        if operation == "sign":
            ok = entry.algorithm != "sm2" or self.vendor_sm2.sign is not None
        elif operation == "agree":
            ok = entry.algorithm == "ec-p256"
        elif scheme == "sm2":
            ok = entry.algorithm == "sm2" and self.vendor_sm2.decrypt is not None
        else:
            ok = entry.algorithm == "rsa"
        if not ok:
            raise UnsupportedMechanism({"operation": operation, "scheme": scheme,
                                        "algorithm": entry.algorithm})

    def sign(self, entry: Entry, data: bytes) -> bytes:
        """The signature CMS wants in a SignerInfo, over ``data`` (the signed attributes)."""
        with self._using() as s:
            key = self._private(s, entry)
            if entry.algorithm == "rsa":
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            if entry.algorithm == "ec-p256":
                raw = bytes(key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA))
                return _der_signature(raw)
            if self.vendor_sm2.sign is None:
                raise UnsupportedMechanism({"algorithm": "sm2"})
            raw = bytes(key.sign(data, mechanism=mechanism(self.vendor_sm2.sign)))
            return _der_signature(raw) if len(raw) == 64 else raw

    def decrypt(self, entry: Entry, encrypted: bytes, scheme: Scheme) -> bytes:
        """A content-encryption (or key-encryption) key, unwrapped by the token."""
        if scheme == "sm2":
            if entry.algorithm != "sm2" or self.vendor_sm2.decrypt is None:
                raise UnsupportedMechanism({"scheme": scheme, "algorithm": entry.algorithm})
            with self._using() as s:
                return bytes(self._private(s, entry).decrypt(
                    encrypted, mechanism=mechanism(self.vendor_sm2.decrypt)))
        if entry.algorithm != "rsa":
            raise UnsupportedMechanism({"scheme": scheme, "algorithm": entry.algorithm})
        with self._using() as s:
            key = self._private(s, entry)
            if scheme == "rsa-pkcs1":
                return bytes(key.decrypt(encrypted, mechanism=Mechanism.RSA_PKCS))
            hash_mech, mgf = OAEP[scheme]
            try:
                return bytes(key.decrypt(encrypted, mechanism=Mechanism.RSA_PKCS_OAEP,
                                         mechanism_param=(hash_mech, mgf, None)))
            except (p11.ArgumentsBad, p11.MechanismParamInvalid, p11.MechanismInvalid):
                if int(Mechanism.RSA_X_509) not in self._mechanisms:
                    raise
            # A token that does OAEP with SHA-1 only (SoftHSM2 2.6) still opens what the
            # platform seals with SHA-256: raw RSA in the token, the OAEP decoding here.
            raw = bytes(key.decrypt(encrypted, mechanism=Mechanism.RSA_X_509))
        public = entry.cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey)  # entry.algorithm == "rsa"
        size = (public.key_size + 7) // 8
        return oaep_decode(raw.rjust(size, b"\0"), scheme)

    def agree(self, entry: Entry, originator_spki: bytes) -> bytes:
        """ECDH on P-256 with the peer's public key: the shared secret Z (its x coordinate)."""
        if entry.algorithm != "ec-p256":
            raise UnsupportedMechanism({"algorithm": entry.algorithm})
        try:
            peer = serialization.load_der_public_key(originator_spki)
        except (ValueError, TypeError):
            raise TokenFailed({"reason": "originatorSpki is not a public key"},
                              message="对方公钥无法读取", message_en="The peer's key is unreadable",
                              ) from None
        if not (isinstance(peer, ec.EllipticCurvePublicKey)
                and isinstance(peer.curve, ec.SECP256R1)):
            raise UnsupportedMechanism({"reason": "the peer's key is not on P-256"})
        point = peer.public_bytes(serialization.Encoding.X962,
                                  serialization.PublicFormat.UncompressedPoint)
        with self._using() as s:
            secret = self._private(s, entry).derive_key(
                KeyType.GENERIC_SECRET, 256, mechanism_param=(KDF.NULL, None, point),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                store=False)
            return bytes(secret[Attribute.VALUE])


def _mgf1(seed: bytes, length: int, digest: Callable[[bytes], bytes]) -> bytes:
    out = b"".join(digest(seed + i.to_bytes(4, "big"))
                   for i in range(-(-length // len(digest(b"")))))
    return out[:length]


def oaep_decode(em: bytes, scheme: str) -> bytes:
    """EME-OAEP decoding (RFC 8017, 7.1.2), empty label, MGF1 with the same hash.

    One error for every way it fails, as the RFC asks; each call was confirmed by the
    person, so the agent is no oracle an attacker can query thousands of times.
    """
    name = "sha1" if scheme == "rsa-oaep-sha1" else "sha256"

    def digest(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    h = len(digest(b""))
    masked_seed, masked_db = em[1:1 + h], em[1 + h:]
    seed = bytes(a ^ b for a, b in zip(masked_seed, _mgf1(masked_db, h, digest), strict=True))
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(seed, len(masked_db), digest),
                                     strict=True))
    rest = db[h:].lstrip(b"\0")
    good = (len(em) >= 2 * h + 2 and em[0] == 0 and hmac.compare_digest(db[:h], digest(b""))
            and rest[:1] == b"\x01")
    if not good:
        raise TokenFailed({"reason": "decryption error"})
    return rest[1:]


def _attr(obj: Any, attribute: Attribute) -> Any:
    try:
        return obj[attribute]
    except (p11.AttributeTypeInvalid, p11.AttributeSensitive):
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _der_signature(raw: bytes) -> bytes:
    """ECDSA/SM2 (r, s) as DER, from the r||s a PKCS#11 token returns."""
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                int.from_bytes(raw[half:], "big"))

