"""A development certificate authority: root and issuing CA, role certificates, CRLs.

For the embedded default, the demo and the tests. Production trusts real CAs
(several, mutual recognition); this one exists so that every path the
platform takes with a real CA (separate signing and encryption keys, CRLs,
revocation, key usage per purpose) runs here too. Its keys live as PEM files
in its own directory: it is a development CA, not an HSM.

Organization mapping: the unified social credit code is written into the
subject's ``organizationIdentifier`` (2.5.4.97), the attribute that
``signing.identity`` reads first.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from signing import ocsp, sm2
from signing.keys import (
    KEY_TYPES,
    KeyType,
    PrivateKey,
    SM2PrivateKey,
    key_identifier,
    key_pem,
    load_key_pem,
    new_key,
    sign_bytes,
    stand_in,
)

__all__ = ["KEY_TYPES", "PURPOSES", "CAError", "DevCA", "Issued", "KeyType", "PrivateKey",
           "Purpose", "new_key"]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Purpose = Literal["signing", "encryption", "login", "tsa", "platform"]
PURPOSES: tuple[Purpose, ...] = ("signing", "encryption", "login", "tsa", "platform")


class CAError(RuntimeError):
    """The CA directory is missing, already initialized, or asked for something it cannot do."""


def ski(key: PrivateKey | PublicKey) -> x509.SubjectKeyIdentifier:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return x509.SubjectKeyIdentifier.from_public_key(key)
    return x509.SubjectKeyIdentifier(key_identifier(key))


def aki(key: PrivateKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier(key_identifier(key), None, None)


def finish_certificate(builder: x509.CertificateBuilder, subject_key: PrivateKey | PublicKey,
            signer: PrivateKey) -> x509.Certificate:
    """Sign a certificate; SM2 keys on either side go through ``sm2.resign``."""
    sm2_subject, sm2_signer = (isinstance(k, SM2PrivateKey) for k in (subject_key, signer))
    public = stand_in().public_key() if isinstance(subject_key, SM2PrivateKey) \
        else subject_key if isinstance(subject_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) \
        else subject_key.public_key()
    cert = builder.public_key(public).sign(
        stand_in() if isinstance(signer, SM2PrivateKey) else signer, hashes.SHA256())
    if not (sm2_subject or sm2_signer):
        return cert
    der = sm2.resign(cert.public_bytes(serialization.Encoding.DER), kind="certificate",
                     sign_tbs=partial(sign_bytes, signer),
                     algorithm=sm2.SM2_SIGN_WITH_SM3 if sm2_signer else None,
                     public_key_der=subject_key.public_der
                     if isinstance(subject_key, SM2PrivateKey) else None)
    return x509.load_der_x509_certificate(der)


def _name(cn: str, org: str | None = None, credit_code: str | None = None,
          country: str = "CN") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if credit_code:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, credit_code))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_usage(purpose: Purpose, key: PrivateKey | PublicKey) -> x509.KeyUsage:
    # SM2 encryption is public-key encryption (key transport), EC P-256 is key agreement.
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
    sign = purpose in {"signing", "login", "tsa", "platform"}
    encrypt = purpose == "encryption"
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=purpose in {"signing", "platform"},
        key_encipherment=encrypt and not is_ec, data_encipherment=False,
        key_agreement=encrypt and is_ec, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


EKU: dict[Purpose, list[x509.ObjectIdentifier]] = {
    "signing": [ExtendedKeyUsageOID.EMAIL_PROTECTION],
    "encryption": [ExtendedKeyUsageOID.EMAIL_PROTECTION],
    "login": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "tsa": [ExtendedKeyUsageOID.TIME_STAMPING],
    "platform": [ExtendedKeyUsageOID.EMAIL_PROTECTION],
}


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate
    chain: list[x509.Certificate]  # issuing CA, root

    def pkcs12(self, password: bytes | None, name: str | None = None) -> bytes:
        label = (name or self.cert.subject.rfc4514_string()).encode()
        if isinstance(self.key, SM2PrivateKey):
            der = serialization.Encoding.DER
            return sm2.pkcs12_create(self.key, self.cert.public_bytes(der),
                                     [c.public_bytes(der) for c in self.chain],
                                     password or b"", label)
        enc = (serialization.BestAvailableEncryption(password) if password
               else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(label, self.key, self.cert, self.chain, enc)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return key_pem(self.key)


def _ca_certificate(subject: x509.Name, issuer: x509.Name, key: PrivateKey,
                    signer: PrivateKey, *, path_length: int, now: datetime,
                    days: int) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(ski(key), critical=False)
    )
    if key is not signer:
        builder = builder.add_extension(aki(signer), critical=False)
    return finish_certificate(builder, key, signer)


class DevCA:
    """A root and an issuing CA kept in one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    # -- files ------------------------------------------------------------------
    def _read(self, name: str) -> bytes:
        path = self.dir / name
        if not path.exists():
            raise CAError(f"{path} is missing: run `tenderhall ca init` first")
        return path.read_bytes()

    @property
    def meta(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self._read("ca.json"))
        return data

    @property
    def root(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self._read("root.crt.pem"))

    @property
    def issuing(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self._read("issuing.crt.pem"))

    def _issuing_key(self) -> PrivateKey:
        return load_key_pem(self._read("issuing.key.pem"))

    @property
    def crl_url(self) -> str:
        return self.meta["crl_url"]

    @property
    def ocsp_url(self) -> str | None:
        """Where its OCSP responder answers (CAs made before OCSP existed have none)."""
        return self.meta.get("ocsp_url")

    def _revoked(self) -> dict[str, dict[str, str]]:
        path = self.dir / "revoked.json"
        if not path.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(path.read_text())
        return data

    # -- operations -------------------------------------------------------------
    def init(self, name: str, *, crl_url: str, key_type: KeyType = "p256",
             ocsp_url: str | None = None, now: datetime | None = None) -> None:
        """Make the root and issuing CA; the responder defaults to ``ocsp`` beside the CRL."""
        if (self.dir / "ca.json").exists():
            raise CAError(f"{self.dir} already holds a CA")
        self.dir.mkdir(parents=True, exist_ok=True)
        now = now or datetime.now(UTC)
        root_key, issuing_key = new_key(key_type), new_key(key_type)
        root_name = _name(f"{name} Root CA", name)
        root = _ca_certificate(root_name, root_name, root_key, root_key, path_length=1,
                               now=now, days=3650)
        issuing = _ca_certificate(_name(f"{name} Issuing CA", name), root_name, issuing_key,
                                  root_key, path_length=0, now=now, days=1825)
        (self.dir / "root.key.pem").write_bytes(key_pem(root_key))
        (self.dir / "issuing.key.pem").write_bytes(key_pem(issuing_key))
        for path in ("root.key.pem", "issuing.key.pem"):
            (self.dir / path).chmod(0o600)
        (self.dir / "root.crt.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        (self.dir / "issuing.crt.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
        ocsp_url = ocsp_url or crl_url.rsplit("/", 1)[0] + "/ocsp"
        (self.dir / "ca.json").write_text(json.dumps({"name": name, "crl_url": crl_url,
                                                      "ocsp_url": ocsp_url,
                                                      "key_type": key_type}))
        self.write_crl()

    def issue(self, *, cn: str, purpose: Purpose, key_type: KeyType = "p256",
              org: str | None = None, credit_code: str | None = None, days: int = 730,
              now: datetime | None = None, not_before: datetime | None = None,
              key: PrivateKey | None = None) -> Issued:
        key = key or new_key(key_type)
        builder = self._builder(cn=cn, purpose=purpose, org=org, credit_code=credit_code,
                                days=days, now=now, not_before=not_before, key=key)
        return Issued(key, finish_certificate(builder, key, self._issuing_key()),
                      [self.issuing, self.root])

    def issue_for_request(self, csr: x509.CertificateSigningRequest, *, cn: str,
                          purpose: Purpose, org: str | None = None,
                          credit_code: str | None = None, days: int = 730,
                          now: datetime | None = None) -> x509.Certificate:
        """A certificate for a key the CA never sees (one made inside a token), from the
        request the key signed. The CA names the subject; the request gives the key only."""
        if not csr.is_signature_valid:
            raise CAError("the request's signature does not verify")
        public = csr.public_key()
        if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise CAError("requests for RSA and EC keys only")
        builder = self._builder(cn=cn, purpose=purpose, org=org, credit_code=credit_code,
                                days=days, now=now, not_before=None, key=public)
        return finish_certificate(builder, public, self._issuing_key())

    def _builder(self, *, cn: str, purpose: Purpose, org: str | None, credit_code: str | None,
                 days: int, now: datetime | None, not_before: datetime | None,
                 key: PrivateKey | PublicKey) -> x509.CertificateBuilder:
        if purpose not in PURPOSES:
            raise CAError(f"unknown purpose {purpose!r}")
        now = now or datetime.now(UTC)
        issuing, issuing_key = self.issuing, self._issuing_key()
        start = not_before or now - timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder().subject_name(_name(cn, org, credit_code))
            .issuer_name(issuing.subject)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(purpose, key), critical=True)
            .add_extension(x509.ExtendedKeyUsage(EKU[purpose]), critical=purpose == "tsa")
            .add_extension(ski(key), critical=False)
            .add_extension(aki(issuing_key), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)], relative_name=None,
                reasons=None, crl_issuer=None)]), critical=False)
        )
        if self.ocsp_url:
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(self.ocsp_url))]),
                critical=False)
        return builder

    def revoke(self, serial: int, *, reason: str = "key_compromise",
               when: datetime | None = None) -> None:
        revoked = self._revoked()
        revoked[str(serial)] = {"reason": reason,
                                "at": (when or datetime.now(UTC)).isoformat()}
        (self.dir / "revoked.json").write_text(json.dumps(revoked, indent=1))
        self.write_crl()

    def write_crl(self, *, now: datetime | None = None, days: int = 7) -> bytes:
        now = now or datetime.now(UTC)
        issuing_key = self._issuing_key()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.issuing.subject)
                   .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=days))
                   .add_extension(x509.CRLNumber(secrets.randbits(63)), critical=False)
                   .add_extension(aki(issuing_key), critical=False))
        for serial, info in self._revoked().items():
            entry = (x509.RevokedCertificateBuilder().serial_number(int(serial))
                     .revocation_date(datetime.fromisoformat(info["at"]))
                     .add_extension(x509.CRLReason(x509.ReasonFlags[info["reason"]]), critical=False)
                     .build())
            builder = builder.add_revoked_certificate(entry)
        if isinstance(issuing_key, SM2PrivateKey):
            der = sm2.resign(builder.sign(stand_in(), hashes.SHA256()).public_bytes(
                serialization.Encoding.DER), kind="crl", sign_tbs=issuing_key.sign,
                algorithm=sm2.SM2_SIGN_WITH_SM3)
        else:
            der = builder.sign(issuing_key, hashes.SHA256()).public_bytes(
                serialization.Encoding.DER)
        (self.dir / "crl.der").write_bytes(der)
        return der

    def crl_der(self) -> bytes:
        return self._read("crl.der")

    def ocsp_response(self, request_der: bytes, *, now: datetime | None = None) -> bytes:
        """Its responder: the issuing CA answers for the certificates it issued."""


        revoked = self._revoked()

        def status_of(serial: int) -> tuple[datetime, str] | None:
            info = revoked.get(str(serial))
            return None if info is None else (datetime.fromisoformat(info["at"]), info["reason"])

        issuing = asn1_x509.Certificate.load(self.issuing.public_bytes(serialization.Encoding.DER))
        return ocsp.respond(request_der, issuer=issuing, key=self._issuing_key(),
                            status_of=status_of, now=now)
