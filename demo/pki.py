"""The signing part of the demo: two independent CAs, a timestamp authority, certificate login.

``prepare`` runs before the platform starts (the built-in timestamp
authority needs its certificate then); ``certificate_login`` is a life-cycle
stage run through the HTTP API like the others.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from client.login import login_with_pkcs12
from core.settings import dev_ca_dir
from signing import tsa
from signing.ca import DevCA
from signing.pathval import TrustStore

# the trading centre that runs the platform (demo/run.py seeds it): named in the seal
CENTRE_CREDIT_CODE = "12511800MB1578031"

# (directory, title, key type): CAs that know nothing of each other,
# and a third on SM2/SM3 (GM/T), as Chinese CAs issue
CAS = (("ca-a", "天衡演示CA甲", "p256"), ("ca-b", "蜀信演示CA乙", "rsa2048"),
       ("ca-c", "国密演示CA丙", "sm2"))
# which demo bidder gets a login certificate from which CA (and of which key type)
LOGIN_CERTS = (("bidder1", "ca-a"), ("bidder2", "ca-b"), ("bidder3", "ca-c"))


def ca_dir() -> Path:
    return Path(dev_ca_dir("var/demo/ca"))


def prepare(crl_base: str) -> list[str]:
    """Create the demo CAs, the timestamp authority's and the platform seal's certificates."""
    made = []
    for name, title, key_type in CAS:
        ca = DevCA(ca_dir() / name)
        if not (ca.dir / "ca.json").exists():
            ca.init(title, crl_url=f"{crl_base}/{name}/crl.der", key_type=key_type)  # type: ignore[arg-type]
            made.append(name)
        else:
            ca.write_crl()  # keep it fresh: a development CRL is valid 7 days
    # the built-in timestamp authority and the platform's seal on official PDFs
    for name, cn, purpose, key_type in (("tsa", "天衡时间戳服务", "tsa", "rsa2048"),
                                        ("platform", "天衡平台电子签章", "platform", "p256")):
        if _service_certificate(name, cn, purpose, key_type):
            made.append(name)
    return made


def _service_certificate(name: str, cn: str, purpose: str, key_type: str) -> bool:
    """NAME/NAME.crt.pem (with its chain) and NAME.key.pem from CA 甲, once; True if made."""
    folder = ca_dir() / name
    if (folder / f"{name}.crt.pem").exists():
        return False
    # the platform's seal names the trading centre that runs it: its identity in the messages
    # it signs for guarantee issuers (docs/issuer-api.md)
    code = CENTRE_CREDIT_CODE if purpose == "platform" else None
    issued = DevCA(ca_dir() / "ca-a").issue(cn=cn, org="天衡平台", purpose=purpose,  # type: ignore[arg-type]
                                            key_type=key_type, days=3650,  # type: ignore[arg-type]
                                            credit_code=code)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.crt.pem").write_bytes(
        issued.cert_pem() + b"".join(c.public_bytes(Encoding.PEM) for c in issued.chain))
    (folder / f"{name}.key.pem").write_bytes(issued.key_pem())
    (folder / f"{name}.key.pem").chmod(0o600)
    return True


async def certificate_login(ctx: Any) -> str:
    """Trust both CAs, bind login certificates to two bidders, sign in with them."""

    admin = await ctx.client_for("admin")
    trusted = {ca["name"] for ca in (await admin.get("/api/trust/cas/")).json()}
    for name, title, _ in CAS:
        ca = DevCA(ca_dir() / name)
        for label, cert, crl, responder in ((f"{title} 根证书", ca.root, None, None),
                                            (f"{title} 签发CA", ca.issuing, ca.crl_url,
                                             ca.ocsp_url)):
            if label in trusted:
                continue
            r = await admin.post("/api/trust/cas/", json={
                "name": label, "certificate_pem": cert.public_bytes(Encoding.PEM).decode(),
                "crl_url": crl, "ocsp_url": responder})
            r.raise_for_status()
    await _wait_for_crls(admin)
    lines = []
    certs = ca_dir().parent / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    for login, ca_name in LOGIN_CERTS:
        p12 = certs / f"{login}-login.p12"
        if not p12.exists():
            org = (await (await ctx.client_for(login)).get("/api/auth/me")).json()
            code_row = (await admin.get(f"/api/organizations/{org['organization_id']}")).json()
            ca = DevCA(ca_dir() / ca_name)
            issued = ca.issue(
                cn=org["name"], org=code_row["name"], credit_code=code_row["credit_code"],
                purpose="login", key_type=ca.meta["key_type"])  # type: ignore[arg-type]
            r = await admin.post(f"/api/users/{org['id']}/certificates", json={
                "certificate_pem": issued.cert_pem().decode(), "purpose": "login"})
            r.raise_for_status()
            p12.write_bytes(issued.pkcs12(ctx.password.encode(), login))
        async with httpx.AsyncClient(base_url=str(ctx.http.base_url), timeout=30) as fresh:
            body = await _retry_login(fresh, p12.read_bytes(), ctx.password.encode())
        titles = {n: t for n, t, _ in CAS}
        lines.append(f"{login} signed in with a certificate from {titles[ca_name]}"
                     f" ({body['certificate'].split(',')[0]})")
    return "certificate login, three CAs (mutual recognition): " + "; ".join(lines)


async def _wait_for_crls(admin: Any) -> None:
    """The worker fetches new CAs' CRLs; revocation is hard-fail, so wait for them."""

    for _ in range(60):
        cas = (await admin.get("/api/trust/cas/")).json()
        pending = [ca["name"] for ca in cas if ca["crl_url"] and not ca["crl_fetched_at"]]
        if not pending:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"CRLs not fetched after 30 s: {pending} (is the worker running?)")


async def _retry_login(http: Any, p12: bytes, password: bytes) -> dict[str, Any]:

    for _ in range(40):  # until the worker has fetched the new CAs' CRLs
        try:
            return await login_with_pkcs12(http, p12, password)
        except PermissionError as exc:
            last = exc
            await asyncio.sleep(0.5)
    raise last


async def timestamp(ctx: Any) -> str:
    """Stamp a document at the built-in authority and check the token."""

    document = "开标记录表（演示）".encode()
    digest = hashlib.sha256(document).digest()
    token = await tsa.fetch_token(str(ctx.http.base_url).rstrip("/") + "/tsa", digest)
    ca = DevCA(ca_dir() / "ca-a")
    trust = TrustStore(roots=[TrustStore.load_cert(ca.root.public_bytes(Encoding.PEM))],
                       intermediates=[TrustStore.load_cert(ca.issuing.public_bytes(Encoding.PEM))],
                       crls=[ca.crl_der()])
    stamped = await tsa.verify_token(token, trust=trust, content=document)
    out = ca_dir().parent / "certs"
    (out / "demo-record.txt").write_bytes(document)
    (out / "demo-record.tst").write_bytes(token)
    return (f"RFC 3161 timestamp {stamped.gen_time.isoformat()} from the built-in authority; "
            f"check it: tenderhall verify --trust {ca.dir}/root.crt.pem --trust "
            f"{ca.dir}/issuing.crt.pem --crl {ca.dir}/crl.der --content {out}/demo-record.txt "
            f"{out}/demo-record.tst")
