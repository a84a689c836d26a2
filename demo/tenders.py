"""The tender part of the demo, through the HTTP API as the agency's and bidders' software would.

The agency signs with a certificate from the demo CA 甲 (kept as a PKCS#12
file beside the others), three opening officers hold encryption certificates
from CA 乙, the tender is published with two signed documents, six bidders
obtain them and a signed clarification reaches all six.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any

import weasyprint

from client.login import load_pkcs12
from core.clock import SHANGHAI
from demo.pki import ca_dir
from signing import cms
from signing.ca import DevCA

TENDER_CODE = "YA-JT-2026-0001"
AGENCY_SIGNER = "agency.li"
OFFICERS = ("agency.li", "agency.chen", "tenderer.wang")
BIDDERS = tuple(f"bidder{i}" for i in range(1, 7))
DOCUMENTS = (("招标文件（第一标段）.pdf", "路基路面工程：投标人须知、评标办法、合同条款、技术标准。"),
             ("招标文件（第二标段）.pdf", "交通安全设施工程：投标人须知、评标办法、工程量清单。"))


def certs_dir() -> Path:
    path = ca_dir().parent / "certs"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def whoami(ctx: Any, login: str) -> dict[str, Any]:
    me: dict[str, Any] = (await (await ctx.client_for(login)).get("/api/auth/me")).json()
    return me


async def organization(ctx: Any, org_id: str) -> dict[str, Any]:
    admin = await ctx.client_for("admin")
    org: dict[str, Any] = (await admin.get(f"/api/organizations/{org_id}")).json()
    return org


async def _signer(ctx: Any) -> tuple[Any, Any, list[Any]]:
    """The agency's signing certificate and key (made and bound once)."""
    p12 = certs_dir() / f"{AGENCY_SIGNER}-signing.p12"
    if not p12.exists():
        me = await whoami(ctx, AGENCY_SIGNER)
        org = await organization(ctx, me["organization_id"])
        issued = DevCA(ca_dir() / "ca-a").issue(cn=me["name"], org=org["name"],
                                                credit_code=org["credit_code"], purpose="signing")
        p12.write_bytes(issued.pkcs12(ctx.password.encode(), AGENCY_SIGNER))
    return load_pkcs12(p12.read_bytes(), ctx.password.encode())


async def _officers(ctx: Any) -> list[str]:
    """Three officers with encryption certificates bound (their PKCS#12 files kept)."""
    admin = await ctx.client_for("admin")
    ids = []
    for login in OFFICERS:
        me = await whoami(ctx, login)
        p12 = certs_dir() / f"{login}-encryption.p12"
        if not p12.exists():
            org = await organization(ctx, me["organization_id"])
            ca = DevCA(ca_dir() / "ca-b")
            issued = ca.issue(cn=me["name"], org=org["name"], credit_code=org["credit_code"],
                              purpose="encryption", key_type="rsa2048")
            r = await admin.post(f"/api/users/{me['id']}/certificates", json={
                "certificate_pem": issued.cert_pem().decode(), "purpose": "encryption"})
            r.raise_for_status()
            p12.write_bytes(issued.pkcs12(ctx.password.encode(), login))
        ids.append(me["id"])
    return ids


def _sign(signer: tuple[Any, Any, list[Any]], data: bytes) -> bytes:
    key, cert, chain = signer
    return cms.sign(data, cert=cert, key=key, chain=chain)


def _document(title: str, body: str) -> bytes:

    html = (f"<html lang='zh-CN'><body style='font-family: \"Noto Sans CJK SC\"'>"
            f"<h1>{title}</h1><p>{body}</p></body></html>")
    data: bytes = weasyprint.HTML(string=html).write_pdf()
    return data


async def publish_tender(ctx: Any) -> str:
    listing = (await ctx.http.get("/api/tenders/", params={"q": TENDER_CODE})).json()
    if listing["total"]:
        return f"tender {TENDER_CODE} already published (kept)"
    tenderer = await ctx.client_for("tenderer.wang")
    agency = await ctx.client_for(AGENCY_SIGNER)
    signer = await _signer(ctx)
    officer_ids = await _officers(ctx)
    mine = (await tenderer.get("/api/tenders/mine")).json()
    tender = next((t for t in mine if t["code"] == TENDER_CODE), None)
    if tender is None:
        # documents from now for 7 days; bids until 09:30 (Beijing time) 21 days on
        start = datetime.now(UTC)
        deadline = datetime.combine((start + timedelta(days=21)).astimezone(SHANGHAI).date(),
                                    time_of_day(9, 30), SHANGHAI)
        r = await tenderer.post("/api/tenders/", json={
            "code": TENDER_CODE, "title": "G351 线雅安段路面改造工程施工招标",
            "region": "四川省雅安市", "procedure": "open", "sector": "construction",
            "budget": str(Decimal("38650000.00")), "agency_org_id": str(ctx.orgs["agency"]),
            "documents_from": start.isoformat(),
            "documents_until": (start + timedelta(days=7)).isoformat(),
            "clarification_deadline": (deadline - timedelta(days=15)).isoformat(),
            "bid_deadline": deadline.isoformat(), "officers_n": 3, "officers_k": 2,
            "officer_ids": officer_ids,
            "lots": [
                {"number": 1, "title": "第一标段：路基路面工程", "budget": "24000000.00",
                 "ceiling_price": "23500000.00", "security_amount": "480000.00"},
                {"number": 2, "title": "第二标段：交通安全设施工程", "budget": "14650000.00",
                 "ceiling_price": "14300000.00", "security_amount": "293000.00"},
            ],
        })
        r.raise_for_status()
        tender = r.json()
    have = {d["name"] for d in (await agency.get(f"/api/tenders/{tender['id']}/documents")).json()}
    for name, body in DOCUMENTS:
        if name in have:
            continue
        data = _document(name.removesuffix(".pdf"), body)
        r = await agency.post(f"/api/tenders/{tender['id']}/documents", files={
            "file": (name, data, "application/pdf"),
            "signature": (name + ".p7s", _sign(signer, data), "application/pkcs7-signature")})
        r.raise_for_status()
    content = (await agency.get(f"/api/tenders/{tender['id']}/announcement")).content
    r = await agency.post(f"/api/tenders/{tender['id']}/publish",
                          json={"signature": base64.b64encode(_sign(signer, content)).decode()})
    r.raise_for_status()
    fps = ", ".join(f"lot {lot['number']} {lot['opening_cert_sha256'][:16]}…"
                    for lot in r.json()["lots"])
    return (f"tender {TENDER_CODE} published: notice and 2 documents signed by the agency "
            f"(CA 甲), opening certificates {fps} with 2-of-3 officer shares")


async def obtain_and_clarify(ctx: Any) -> str:
    listing = (await ctx.http.get("/api/tenders/", params={"q": TENDER_CODE})).json()
    tender = listing["items"][0]
    docs = (await ctx.http.get(f"/api/tenders/{tender['id']}/documents")).json()
    obtained = 0
    for login in BIDDERS:
        bidder = await ctx.client_for(login)
        r = await bidder.post(f"/api/tenders/{tender['id']}/documents/obtain")
        r.raise_for_status()
        obtained += 1
        for doc in docs:
            r = await bidder.get(f"/api/tenders/{tender['id']}/documents/{doc['id']}")
            r.raise_for_status()
    agency = await ctx.client_for(AGENCY_SIGNER)
    notices = (await agency.get(f"/api/tenders/{tender['id']}/notices")).json()
    if not any(n["kind"] == "clarification" for n in notices):
        r = await agency.post(f"/api/tenders/{tender['id']}/clarifications", json={
            "title": "关于第一标段沥青混合料技术指标的澄清",
            "body": "第一标段技术标准第4.2条中“SBS改性沥青软化点不小于60℃”更正为“不小于65℃”，"
                    "其余内容不变。"})
        r.raise_for_status()
        notice = r.json()
        content = (await agency.get(f"/api/tenders/{tender['id']}/clarifications/"
                                    f"{notice['id']}/content")).content
        signer = await _signer(ctx)
        r = await agency.post(
            f"/api/tenders/{tender['id']}/clarifications/{notice['id']}/publish",
            json={"signature": base64.b64encode(_sign(signer, content)).decode()})
        r.raise_for_status()
    # who obtained the documents is sealed until the deadline (T7), from the agency too
    return (f"{len(BIDDERS)} bidders obtained the documents ({obtained} holders recorded); "
            f"a signed clarification was sent to every holder")
