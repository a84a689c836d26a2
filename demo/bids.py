"""The bid part of the demo: six bidders seal and submit, one replaces its bid, one is too late.

Each bidder acts as its own office would. Its signing and encryption
certificates come from one of the three demo CAs (ECDSA, RSA, SM2), kept as
PKCS#12 files beside the others. Its machine identity is its own, so the
collusion marks (C1, C2) see six machines rather than the one the demo runs
on; the IP address, 127.0.0.1, is shared all the same. Its bid folder holds a
bid letter in PDF, a priced bill of quantities and ``price.json``. Sealing
uses the functions behind ``tenderhall bid seal`` and submitting uses the
client behind ``tenderhall bid submit``, so the platform receives what the
bidder tool would send. Every folder, sealed file and receipt stays under
``bids_dir()`` for anyone to open with ``tenderhall bid decrypt`` or to check
with ``openssl``.

The deadline is reached by moving the tender's schedule back
(``demo.clock``), recorded as a demo action in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any, TypeVar

import weasyprint
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bidformat import device, price, sealing
from client import platform as client
from client.login import load_pkcs12
from core.clock import SHANGHAI
from demo import clock as demo_clock
from demo.clock import clock_step
from demo.context import current_tender, my_bids
from demo.pki import CAS, ca_dir
from demo.tenders import AGENCY_SIGNER, certs_dir, organization, whoami
from signing.ca import DevCA

T = TypeVar("T")

# which CA certifies which bidder (both of its certificates, of that CA's key type)
CA_OF = {"bidder1": "ca-a", "bidder2": "ca-b", "bidder3": "ca-c",
         "bidder4": "ca-a", "bidder5": "ca-b", "bidder6": "ca-c"}


@dataclass(frozen=True)
class Plan:
    login: str
    lot: int
    total: str
    days: int
    manager: str
    folder: str


FIRST = (Plan("bidder1", 1, "22860000.00", 420, "周明远", "lot-1"),
         Plan("bidder2", 1, "23120500.00", 450, "谭新宇", "lot-1"),
         Plan("bidder3", 1, "22978000.00", 430, "贺秦川", "lot-1"),
         Plan("bidder4", 1, "23305800.00", 400, "段云峰", "lot-1"),
         Plan("bidder5", 1, "22540000.00", 440, "罗黔生", "lot-1"),
         Plan("bidder6", 1, "23050000.00", 435, "马陇平", "lot-1"),
         Plan("bidder1", 2, "13980000.00", 210, "吴启航", "lot-2"),
         Plan("bidder4", 2, "14105600.00", 200, "李滇安", "lot-2"),
         Plan("bidder5", 2, "13762400.00", 220, "杨黔峰", "lot-2"))
REPLACEMENT = Plan("bidder2", 1, "22695300.00", 440, "谭新宇", "lot-1-revised")
LATE = Plan("bidder6", 2, "13880000.00", 215, "马陇平", "lot-2-late")
# the bill of quantities of each lot: item, unit, share of the total
BILLS = {1: (("路基土石方", "m³", Decimal("0.18")), ("水泥稳定碎石基层", "m²", Decimal("0.27")),
             ("SBS改性沥青混凝土面层", "m²", Decimal("0.38")), ("排水及防护工程", "项", Decimal("0.11")),
             ("安全文明施工费", "项", None)),
         2: (("波形梁护栏", "m", Decimal("0.41")), ("交通标志", "块", Decimal("0.22")),
             ("热熔标线", "m²", Decimal("0.19")), ("隔离栅", "m", Decimal("0.12")),
             ("安全文明施工费", "项", None))}


def bids_dir() -> Path:
    return ca_dir().parent / "bids"


def _closed(tender: dict[str, Any]) -> bool:
    return datetime.fromisoformat(tender["bid_deadline"]) <= datetime.now(SHANGHAI)


def _local(moment: str | datetime) -> str:
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


async def _certificates(ctx: Any, login: str) -> tuple[tuple[Any, x509.Certificate,
                                                             list[x509.Certificate]],
                                                       x509.Certificate]:
    """The bidder's signing key and certificate and its encryption certificate (made and bound once)."""
    files = {purpose: certs_dir() / f"{login}-{purpose}.p12" for purpose in ("signing", "encryption")}
    for purpose, p12 in files.items():
        if p12.exists():
            continue
        me = await whoami(ctx, login)
        org = await organization(ctx, me["organization_id"])
        ca = DevCA(ca_dir() / CA_OF[login])
        issued = ca.issue(cn=org["name"], org=org["name"], credit_code=org["credit_code"],
                          purpose=purpose, key_type=ca.meta["key_type"])  # type: ignore[arg-type]
        # a person binds their own certificates
        r = await (await ctx.client_for(login)).post(f"/api/users/{me['id']}/certificates", json={
            "certificate_pem": issued.cert_pem().decode(), "purpose": purpose})
        r.raise_for_status()
        p12.write_bytes(issued.pkcs12(ctx.password.encode(), f"{login}-{purpose}"))
    signer = load_pkcs12(files["signing"].read_bytes(), ctx.password.encode())
    return signer, load_pkcs12(files["encryption"].read_bytes(), ctx.password.encode())[1]


async def _opening_cert(ctx: Any, tender: dict[str, Any], lot: dict[str, Any]) -> x509.Certificate:
    """The lot's opening certificate, checked against the published fingerprint as the tool does."""
    r = await ctx.http.get(f"/api/tenders/{tender['id']}/lots/{lot['id']}/opening-certificate")
    r.raise_for_status()
    cert = x509.load_pem_x509_certificate(r.content)
    if hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest() != lot["opening_cert_sha256"]:
        raise RuntimeError(f"lot {lot['number']}: the opening certificate does not match the "
                           f"published fingerprint")
    return cert


def _device(login: str) -> dict[str, Any]:
    """This machine as the tool sees it, with the identifiers of the bidder's own office."""
    h = hashlib.sha256(f"demo-office:{login}".encode()).hexdigest()
    return {**device.collect(), "host_id": h[:32], "cpu": None, "hostname": f"{login}-office",
            "macs": ["00:e0:4c:" + ":".join(h[i:i + 2] for i in (32, 34, 36))],
            "disks": [f"wd-wx{h[40:52]}"]}


def _letter(tender: dict[str, Any], lot: dict[str, Any], org: dict[str, Any], plan: Plan) -> bytes:

    total = Decimal(plan.total)
    tender, lot, org = ({k: escape(str(v)) for k, v in d.items()} for d in (tender, lot, org))
    html = f"""<html lang="zh-CN"><head><style>
      body {{ font-family: "Noto Sans CJK SC"; font-size: 11pt; line-height: 1.7; }}
      h1 {{ font-weight: normal; font-size: 20pt; text-align: center; letter-spacing: 1em; }}
      table {{ border-collapse: collapse; margin: 1em 0; }}
      td {{ border: 0.5pt solid #666; padding: 3pt 8pt; }}
    </style></head><body>
      <h1>投标函</h1>
      <p>致：{tender["owner_name"]}</p>
      <p>我方已仔细研究 {tender["code"]}《{tender["title"]}》{lot["title"]}的招标文件及其澄清，\
愿以投标总价人民币 {total:,.2f} 元，按招标文件的要求承担本标段的施工，\
工期 {plan.days} 日历天，工程质量达到合格标准，缺陷责任期 24 个月。</p>
      <p>本投标文件在投标有效期 {tender["bid_validity_days"]} 日内有效。\
我方承诺所递交的投标文件内容真实、准确、完整。</p>
      <table>
        <tr><td>投标人</td><td>{org["name"]}</td></tr>
        <tr><td>统一社会信用代码</td><td>{org["credit_code"]}</td></tr>
        <tr><td>项目经理</td><td>{plan.manager}</td></tr>
        <tr><td>投标总价（元）</td><td>{total:,.2f}</td></tr>
      </table>
      <p>投标人：{org["name"]}（电子签章）</p>
    </body></html>"""
    data: bytes = weasyprint.HTML(string=html).write_pdf()
    return data


def _bill(lot: int, total: Decimal) -> str:
    """A priced bill whose lines add up to the total exactly (the last line takes the rest)."""
    lines, rest = ["序号,项目名称,单位,合价（元）"], total
    for n, (item, unit, share) in enumerate(BILLS[lot], start=1):
        amount = (total * share).quantize(price.CENT) if share is not None else rest
        rest -= amount
        lines.append(f"{n},{item},{unit},{amount}")
    lines.append(f",合计,,{total}")
    return "\ufeff" + "\r\n".join(lines) + "\r\n"  # with a BOM, as spreadsheet programs expect


def _write_folder(folder: Path, tender: dict[str, Any], lot: dict[str, Any],
                  org: dict[str, Any], plan: Plan) -> None:
    sheet = price.PriceSheet(
        format=price.FORMAT, tender_code=tender["code"], lot=plan.lot,
        bidder=price.Bidder(name=org["name"], credit_code=org["credit_code"]),
        total_price=Decimal(plan.total), duration_days=plan.days, quality="合格",
        warranty_months=24, items=[price.DeclaredItem(name="项目经理", value=plan.manager)])
    folder.mkdir(parents=True)
    (folder / "投标函.pdf").write_bytes(_letter(tender, lot, org, plan))
    (folder / "已标价工程量清单.csv").write_text(_bill(plan.lot, Decimal(plan.total)),
                                             encoding="utf-8")
    canonical = price.parse(price.dump(sheet))  # checked exactly as the opening will read it
    (folder / sealing.PRICE_FILE).write_text(json.dumps(
        json.loads(price.dump(canonical)), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


async def _seal_and_submit(ctx: Any, tender: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Make the folder, seal it as ``tenderhall bid seal`` does, submit it as ``bid submit`` does."""
    (key, cert, chain), encryption = await _certificates(ctx, plan.login)
    lot = next(x for x in tender["lots"] if x["number"] == plan.lot)
    opening = await _opening_cert(ctx, tender, lot)
    org = await organization(ctx, (await whoami(ctx, plan.login))["organization_id"])
    root = bids_dir() / plan.login / plan.folder
    shutil.rmtree(root, ignore_errors=True)  # not on the platform: made afresh
    _write_folder(root / "bid", tender, lot, org, plan)
    dev = _device(plan.login)
    creator = {"tool": device.TOOL_NAME, "version": dev["tool"]["version"],
               "machine_code": device.machine_code(dev)}
    sealed = sealing.seal_folder(root / "bid", root / "sealed", cert=cert, key=key, chain=chain,
                                 encryption_cert=encryption, opening_cert=opening,
                                 creator=creator, expect={"tender_code": tender["code"],
                                                          "lot": plan.lot})
    (root / "sealed" / "device.json").write_text(json.dumps({"device": dev, "creator": creator},
                                                            ensure_ascii=False))
    http = await ctx.client_for(plan.login)
    bid = await client.submit(http, tender_id=tender["id"], lot=plan.lot, p7m=sealed.p7m,
                              p7s=sealed.p7s, device=dev, creator=creator)
    await client.download_receipt(http, bid["id"], root / "sealed" / "receipt")
    return bid


async def _keep_receipt(ctx: Any, plan: Plan, bid: dict[str, Any]) -> None:
    """A kept bid whose local receipt is gone (the folder was cleared) gets it back."""
    folder = bids_dir() / plan.login / plan.folder / "sealed" / "receipt"
    if not (folder / "receipt.p7s").exists():
        await client.download_receipt(await ctx.client_for(plan.login), bid["id"], folder)


async def submit_bids(ctx: Any) -> str:
    tender = await current_tender(ctx)
    new = 0
    for plan in FIRST:
        on_lot = [b for b in await my_bids(ctx, plan.login, tender["id"])
                  if b["lot_number"] == plan.lot and b["replaces"] is None]
        if on_lot:
            await _keep_receipt(ctx, plan, on_lot[0])
        elif _closed(tender):
            raise RuntimeError(f"{plan.login} has no bid for lot {plan.lot} and the deadline "
                               f"has passed: start the demo on fresh data")
        else:
            await _seal_and_submit(ctx, tender, plan)
            new += 1
    lots = ", ".join(f"lot {n}: {sum(p.lot == n for p in FIRST)}" for n in (1, 2))
    cas = "/".join(title for _, title, _ in CAS)
    made = {0: "kept", len(FIRST): f"{new} new"}.get(new, f"{new} new, {len(FIRST) - new} kept")
    return (f"{len({p.login for p in FIRST})} bidders sealed and submitted {len(FIRST)} bids "
            f"({lots}; {made}): signed with "
            f"certificates from {cas}, encrypted for their own key and the lot's opening key, "
            f"each with a signed, timestamped receipt")


async def replace_bid(ctx: Any) -> str:
    plan = REPLACEMENT
    tender = await current_tender(ctx)
    on_lot = [b for b in await my_bids(ctx, plan.login, tender["id"])
              if b["lot_number"] == plan.lot]
    revised = next((b for b in on_lot if b["replaces"] is not None), None)
    if revised is not None:
        await _keep_receipt(ctx, plan, revised)
        return f"{plan.login} already replaced its lot {plan.lot} bid (kept)"
    if _closed(tender):
        raise RuntimeError(f"{plan.login} did not replace its bid and the deadline has passed: "
                           f"start the demo on fresh data")
    bid = await _seal_and_submit(ctx, tender, plan)
    first = (await (await ctx.client_for(plan.login)).get(f"/api/bids/{bid['replaces']}")).json()
    return (f"{plan.login} replaced its lot {plan.lot} bid with a revised price "
            f"({Decimal(plan.total):,.2f} yuan, sealed): the first is kept on record, "
            f"{first['status']} at {_local(first['superseded_at'])}")


async def deadline_passes(ctx: Any) -> str:
    tender = await current_tender(ctx)
    shift = await clock_step(ctx, tender, demo_clock.pass_deadline)
    if shift is None:
        return f"the bid deadline passed at {_local(tender['bid_deadline'])} (kept)"
    back = -shift.by
    return (f"demo clock: the whole schedule of {tender['code']} moved back {back.days} d "
            f"{back.seconds // 3600} h, so the bid deadline ({_local(shift.old_deadline)}) is "
            f"now, {_local(shift.bid_deadline)}; audited as demo.schedule_shifted, not a real event")


async def late_bid(ctx: Any) -> str:
    plan = LATE
    tender = await current_tender(ctx)
    try:
        await _seal_and_submit(ctx, tender, plan)
    except client.PlatformError as exc:
        return (f"{plan.login} tried to submit a bid for lot {plan.lot} after the deadline: "
                f"refused, {exc.code} {exc.body.get('message', '')}")
    raise RuntimeError(f"{plan.login}'s bid after the deadline was accepted")


async def bidding_closes(ctx: Any) -> str:
    fired = await clock_step(ctx, await current_tender(ctx), demo_clock.catch_up)
    tender = await current_tender(ctx)
    r = await (await ctx.client_for(AGENCY_SIGNER)).get(f"/api/tenders/{tender['id']}/bid-counts")
    r.raise_for_status()
    counts = ", ".join(f"lot {c['number']}: {c['bids']} bids" for c in r.json())
    done = f"chronograph fired {' and '.join(fired)}" if fired else "kept"
    return (f"bidding closed ({done}; tender {tender['status']}); the agency now sees how many "
            f"bids each lot has, not whose: {counts}")


def where(url: str, password: str) -> list[str]:
    """Where the demo's bids are, and the commands to open and check them by hand."""
    first = bids_dir() / FIRST[0].login / FIRST[0].folder / "sealed"
    roots = " ".join(f"--roots {ca_dir() / name / 'root.crt.pem'}" for name, _, _ in CAS)
    root_a = ca_dir() / "ca-a" / "root.crt.pem"
    return [
        f"Bids: {bids_dir()}/BIDDER/lot-N/ (bid/: the documents; sealed/: bid.p7m, "
        f"bid.p7m.p7s and receipt/)",
        f"  open one: P12_PASSWORD={password} tenderhall bid decrypt {first}/bid.p7m "
        f"--p12 {certs_dir()}/{FIRST[0].login}-encryption.p12 {roots} --out /tmp/opened-bid",
        f"  check its receipt: openssl cms -verify -binary -inform DER -in "
        f"{first}/receipt/receipt.p7s -CAfile {root_a} -purpose any",
        f"    and its timestamp: openssl ts -verify -data {first}/receipt/receipt.p7s -in "
        f"{first}/receipt/receipt.tst -token_in -CAfile {root_a} "
        f"-untrusted {ca_dir()}/tsa/tsa.crt.pem",
        f"My bids: {url.rstrip('/')}/bids (sign in as bidder1 ... bidder6)",
    ]
