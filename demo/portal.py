"""The portal's back catalogue: forty tenders of the past two months across eight cities in
seven provinces, three procurement types and every public phase, so the home page reads like
a trading centre's and not like a test.

Organizations are made through the identity service (their credit codes are
valid GB 32100 codes carrying their city's administrative division). The
tenders, lots, signed notices and opening outcomes are written in bulk, in one
transaction: publishing through the service would date every tender today,
could not put a deadline in the past, and would make a key pair and three
sealed shares per lot, minutes for forty tenders. Each notice is still the
canonical notice bytes signed (CMS) by a certificate of its agency from the
demo CA 甲, so the verification section of every page works; its sealed PDF is
rendered by the worker after commit, like a published one's. These tenders have
no documents and no opening certificates: bidding happens on the scripted
tender. Running it again finds them and adds nothing.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.serialization import Encoding

from core import audit, clock, jobs, uscc
from core.clock import SHANGHAI
from core.identity import service as identity
from demo import queries as q
from signing import cms
from signing.ca import DevCA
from trading.tenders import notices, schedule
from trading.tenders.jobs import render_notice_pdf
from trading.tenders.queries import tenders as tender_sql


@dataclass(frozen=True)
class City:
    region: str
    short: str       # as titles name it
    abbr: str        # as tender codes start
    division: str    # GB/T 2260 administrative division code


CITIES = [
    City("四川省成都市", "成都市", "CD", "510100"),
    City("四川省绵阳市", "绵阳市", "MY", "510700"),
    City("重庆市", "重庆市", "CQ", "500000"),
    City("陕西省西安市", "西安市", "XA", "610100"),
    City("云南省昆明市", "昆明市", "KM", "530100"),
    City("贵州省贵阳市", "贵阳市", "GY", "520100"),
    City("湖北省武汉市", "武汉市", "WH", "420100"),
    City("甘肃省兰州市", "兰州市", "LZ", "620100"),
]

# (name, city index): agencies registered with the market regulator (91...)
AGENCIES = [("四川天府招标代理有限公司", 0), ("重庆巴渝工程咨询有限公司", 2),
            ("陕西长安建设项目管理有限公司", 3), ("云南滇池招标有限公司", 4),
            ("湖北江汉工程咨询有限公司", 6)]
# who signs each agency's notices
AGENCY_SIGNERS = ["张建华", "刘晓燕", "陈志刚", "杨帆", "周敏"]

# per city: its transport, education and emergency bureaus (11: organs of government), its
# people's hospital (12: a public institution) and its city investment company (91: an
# enterprise)
OWNERS = [("{city}交通运输局", "11"), ("{city}第一人民医院", "12"),
          ("{city}城市建设投资有限公司", "91"), ("{city}教育局", "11"), ("{city}应急管理局", "11")]

# the agency each city's tenderers engage (an index into AGENCIES)
AGENCY_OF_CITY = [0, 0, 1, 2, 3, 3, 4, 2]
KIND_CODE = {"construction": "GC", "goods": "HW", "services": "FW"}

# (title, sector, procedure, owner index, lots with budgets in ten-thousand yuan)
PROJECTS: list[tuple[str, str, str, int, list[tuple[str, int]]]] = [
    ("{city}绕城高速连接线道路改造工程施工", "construction", "open", 0,
     [("道路工程", 4200), ("桥涵工程", 2800)]),
    ("{city}第一人民医院门诊综合楼建设工程施工总承包", "construction", "open", 1,
     [("施工总承包", 18600)]),
    ("{city}老旧小区改造工程（二期）施工", "construction", "open", 2,
     [("第一片区", 1350), ("第二片区", 1120), ("第三片区", 980)]),
    ("{city}第一人民医院医用直线加速器采购", "goods", "gp_open", 1, [("医用直线加速器", 2350)]),
    ("{city}中小学智慧教室设备采购", "goods", "gp_open", 3,
     [("交互式显示设备", 640), ("录播系统", 310)]),
    ("{city}城区道路清扫保洁服务采购", "services", "gp_competitive_consultation", 2,
     [("东片区", 520), ("西片区", 480)]),
    ("{city}交通运输局公路养护工程监理服务", "services", "open", 0, [("监理服务", 185)]),
    ("{city}公交场站充电设施建设工程施工", "construction", "invited", 2, [("充电设施", 760)]),
    ("{city}第一人民医院物业管理服务采购", "services", "gp_open", 1, [("物业管理服务", 420)]),
    ("{city}应急物资储备库货架及搬运设备采购", "goods", "gp_inquiry", 4, [("货架及设备", 96)]),
]

# (phase, how many); the scripted tender adds one more that is opened by its bidders
PHASES = [("published", 14), ("bidding", 8), ("opened", 10), ("failed", 4), ("cancelled", 4)]

CANCEL_REASONS = ["项目资金来源调整，本次招标终止。", "招标人需求发生重大变化，终止本次采购活动。",
                  "因规划调整，项目暂缓实施。", "经监督部门责令改正，终止本次招标。"]
CLARIFICATION = ("关于{title}的澄清公告",
                 "招标文件第三章评标办法中“类似工程业绩”指近五年（自投标截止日起算）完成的"
                 "同类项目，其余内容不变。")


def credit_code(prefix: str, division: str, name: str) -> str:
    """A valid code in the city's division; the organization part is read off the name, so a
    second run finds the same organization."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    digest = hashlib.sha256(name.encode()).digest()
    body = "MA" + "".join(alphabet[b % len(alphabet)] for b in digest[:7])
    return uscc.make(prefix + division + body)


def _organizations() -> list[tuple[str, str, str, str]]:
    """(name, kind, region, credit code) of every agency and owner the catalogue names."""
    orgs = [(name, "agency", CITIES[i].region, credit_code("91", CITIES[i].division, name))
            for name, i in AGENCIES]
    for city in CITIES:
        for pattern, prefix in OWNERS:
            name = pattern.format(city=city.short)
            orgs.append((name, "tenderer", city.region, credit_code(prefix, city.division, name)))
    return orgs


def _plan() -> list[dict[str, Any]]:
    """Forty tenders: cities and projects interleaved so every page of the list is mixed."""
    rng = random.Random(2026)  # noqa: S311 -- a fixed, repeatable spread of demo dates
    phases = [p for p, n in PHASES for _ in range(n)]
    rng.shuffle(phases)
    plan = []
    for i, phase in enumerate(phases):
        city = CITIES[i % len(CITIES)]
        # each city's five tenders are five different projects
        project = (i % len(CITIES) + 3 * (i // len(CITIES))) % len(PROJECTS)
        title, sector, procedure, owner, lots = PROJECTS[project]
        plan.append({"i": i, "phase": phase, "city": city, "sector": sector,
                     "procedure": procedure, "lots": lots,
                     "title": title.format(city=city.short),
                     "owner": OWNERS[owner][0].format(city=city.short),
                     "agency": AGENCIES[AGENCY_OF_CITY[i % len(CITIES)]][0],
                     "code": f"{city.abbr}-{KIND_CODE[sector]}-2026-{101 + i:04d}",
                     "days_ago": {"published": rng.randint(1, 6), "bidding": rng.randint(9, 19),
                                  "opened": rng.randint(24, 60), "failed": rng.randint(24, 60),
                                  "cancelled": rng.randint(3, 40)}[phase],
                     "clarify": i % 5 == 1 and phase != "cancelled"})
    return plan


PLAN = _plan()


def _schedule(now: datetime, days_ago: int, i: int) -> dict[str, datetime]:
    """Published at office hours that many days ago; documents for 7 days; bids until 09:30
    Beijing time 22 days on (rules T1 and T2 as a centre would publish them)."""
    day = (now - timedelta(days=days_ago)).astimezone(SHANGHAI).date()
    published = datetime.combine(day, time_of_day(9 + i % 8, (i * 7) % 60), SHANGHAI)
    if published > now:
        published = now - timedelta(minutes=30 + i)
    deadline = datetime.combine((published + timedelta(days=22)).date(), time_of_day(9, 30),
                                SHANGHAI)
    return {"published_at": published, "documents_from": published,
            "documents_until": published + timedelta(days=7),
            "clarification_deadline": deadline - timedelta(days=15), "bid_deadline": deadline}


async def seed_portal(conn: asyncpg.Connection, actor: audit.Actor,
                      ca: DevCA) -> tuple[int, int]:
    """Create the catalogue if it is not there; (tenders made, notices made). Each agency's
    signing certificate comes from ``ca`` (the demo's CA 甲)."""
    plan = PLAN
    if await conn.fetchval(q.TENDERS_WITH_CODES, [p["code"] for p in plan]) == len(plan):
        return 0, 0
    orgs: dict[str, tuple[UUID, str]] = {}
    named = {p["owner"] for p in plan} | {p["agency"] for p in plan}
    for name, kind, region, code in _organizations():
        if name not in named:
            continue
        found = await conn.fetchval(q.ORGANIZATION_BY_CREDIT_CODE, code)
        if found is None:
            found = (await identity.create_organization(conn, actor, credit_code=code, name=name,
                                                        kind=kind, region=region))["id"]
        orgs[name] = (found, code)
    now = await clock.db_now(conn)
    signers = {name: ca.issue(cn=person, org=name, credit_code=orgs[name][1], purpose="signing",
                              not_before=now - timedelta(days=90))
               for (name, _), person in zip(AGENCIES, AGENCY_SIGNERS, strict=True)
               if name in orgs}
    made = notices_made = 0
    for p in plan:
        if await conn.fetchval(q.TENDERS_WITH_CODES, [p["code"]]):
            continue
        made += 1
        notices_made += await _tender(conn, p, orgs, signers[p["agency"]], now)
    return made, notices_made


async def _tender(conn: asyncpg.Connection, p: dict[str, Any],
                  orgs: dict[str, tuple[UUID, str]], signer: Any, now: datetime) -> int:
    when = _schedule(now, p["days_ago"], p["i"])
    status = {"published": "published", "bidding": "published", "opened": "opened",
              "failed": "failed", "cancelled": "cancelled"}[p["phase"]]
    budget = Decimal(sum(b for _, b in p["lots"]) * 10000)
    tender_id = await conn.fetchval(
        q.INSERT_PORTAL_TENDER, orgs[p["owner"]][0], orgs[p["agency"]][0], p["code"], p["title"],
        p["city"].region, p["procedure"], p["sector"], budget, status, when["published_at"],
        when["documents_from"], when["documents_until"], when["clarification_deadline"],
        when["bid_deadline"], "lowest_price" if p["sector"] == "goods" else "comprehensive",
        CANCEL_REASONS[p["i"] % len(CANCEL_REASONS)] if status == "cancelled" else None,
        when["published_at"] + timedelta(days=2) if status == "cancelled" else None)
    await conn.executemany(tender_sql.INSERT_LOT, [
        (tender_id, n, title,
         Decimal(b * 10000), (Decimal(b * 10000) * Decimal("0.02")).quantize(Decimal("1000")),
         (Decimal(b * 10000) * Decimal("0.97")).quantize(Decimal("100")))
        for n, (title, b) in enumerate(p["lots"], start=1)])
    tender = dict(await conn.fetchrow(tender_sql.GET_TENDER, tender_id))
    lots = [dict(r) for r in await conn.fetch(tender_sql.LOTS, tender_id)]
    content = notices.tender_notice(tender, lots, [], await notices.parties(conn, tender))
    ids = [await _notice(conn, tender_id, 0, "tender", f"{p['title']} 招标公告", "", content,
                         signer, when["published_at"], when["bid_deadline"], None)]
    if p["clarify"]:
        title, body = CLARIFICATION[0].format(title=p["title"]), CLARIFICATION[1]
        moved = when["bid_deadline"] + timedelta(days=7) if p["i"] % 2 else None
        draft = {"number": 1, "title": title, "body": body, "requested_bid_deadline": moved}
        ids.append(await _notice(
            conn, tender_id, 1, "clarification", title, body,
            notices.clarification(tender, draft, []), signer,
            when["published_at"] + timedelta(days=3), when["bid_deadline"], moved))
        if moved is not None:
            await conn.execute(q.MOVE_PORTAL_DEADLINE, tender_id, moved)
            when["bid_deadline"] = moved
    if p["phase"] in ("opened", "failed"):
        await _openings(conn, tender_id, lots, p, when["bid_deadline"])
    await schedule.schedule_next(conn, tender_id)
    for notice_id in ids:
        await jobs.enqueue(conn, render_notice_pdf, f"notice-pdf:{notice_id}",
                           notice_id=str(notice_id))
    return len(ids)


async def _notice(conn: asyncpg.Connection, tender_id: UUID, number: int, kind: str, title: str,
                  body: str, content: bytes, signer: Any, at: datetime, old: datetime,
                  new: datetime | None) -> UUID:
    signature = cms.sign(content, cert=signer.cert, key=signer.key, chain=signer.chain)
    notice_id: UUID = await conn.fetchval(
        q.INSERT_PORTAL_NOTICE, tender_id, number, kind, title, body, content,
        hashlib.sha256(content).digest(), signature, signer.cert.subject.rfc4514_string(),
        hashlib.sha256(signer.cert.public_bytes(Encoding.DER)).digest(), at,
        old if kind != "tender" else None, new or old)
    return notice_id


async def _openings(conn: asyncpg.Connection, tender_id: UUID, lots: list[dict[str, Any]],
                    p: dict[str, Any], deadline: datetime) -> None:
    """The outcome at the deadline, as the opening leaves it: read out and closed, or too few
    bids (流标)."""
    for lot in lots:
        failed = p["phase"] == "failed"
        bids = (p["i"] + lot["number"]) % 3 if failed else 3 + (p["i"] * 5 + lot["number"]) % 7
        read = deadline + timedelta(minutes=22 + lot["number"] * 3)
        await conn.execute(
            q.INSERT_PORTAL_OPENING, lot["id"], tender_id, "failed" if failed else "closed", bids,
            deadline, deadline + timedelta(minutes=30), None if failed else read,
            None if failed else read + timedelta(minutes=30),
            None if failed else read + timedelta(minutes=31), "too_few_bids" if failed else None)
