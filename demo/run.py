"""The demo: a seeded data set and a scripted tender life cycle, one line per step.

Seeding goes straight through the services; the life cycle goes through the
running platform's HTTP API, as a tenderer's or bidder's software would. Each
stage of the platform adds its steps to ``LIFE_CYCLE``. Running it again finds
what exists and says so instead of creating it twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import httpx

from core import audit, uscc
from core.auth import check_password, hash_password
from core.db import connect
from core.identity import service as identity
from core.settings import Settings
from demo import bids as bid_demo
from demo import opening as opening_demo
from demo import pki as signing_demo
from demo import portal as portal_demo
from demo import queries as q
from demo import tenders as tender_demo
from demo.context import DemoContext
from signing.ca import DevCA


@dataclass(frozen=True)
class Org:
    key: str
    name: str
    kind: str
    region: str
    code17: str

    @property
    def credit_code(self) -> str:
        return uscc.make(self.code17)


@dataclass(frozen=True)
class Person:
    login: str
    name: str
    roles: tuple[str, ...]
    org: str | None = None
    city: str = ""


ORGS = [
    Org("centre", "雅安市公共资源交易中心", "trading_centre", "四川省雅安市", "12511800MB1578031"),
    Org("agency", "四川蜀道招标代理有限公司", "agency", "四川省成都市", "91510100MA61R8Q2X"),
    Org("tenderer", "雅安市交通建设投资有限公司", "tenderer", "四川省雅安市", "91511800MA62H3K7P"),
    Org("bidder1", "中建蜀通路桥工程有限公司", "bidder", "四川省成都市", "91510100MA6CB1N4T"),
    Org("bidder2", "重庆渝川建设集团有限公司", "bidder", "重庆市", "91500000MA5U7D2R8"),
    Org("bidder3", "陕西秦岭公路工程有限公司", "bidder", "陕西省西安市", "91610100MA6TGK5L3"),
    Org("bidder4", "云南滇中交通建设有限公司", "bidder", "云南省昆明市", "91530100MA6K9P1W2"),
    Org("bidder5", "贵州黔通桥隧工程有限公司", "bidder", "贵州省贵阳市", "91520100MA6HQ4E6C"),
    Org("bidder6", "甘肃陇原路桥建设有限公司", "bidder", "甘肃省兰州市", "91620100MA72MF3J9"),
    Org("insurer", "蜀安财产保险股份有限公司四川分公司", "insurer", "四川省成都市",
        "91510100MA6DX2T5B"),
    Org("supervision", "雅安市住房和城乡建设局", "supervision", "四川省雅安市", "11511800MB1N2Q4R6"),
]

EXPERT_CITIES = ["成都", "成都", "成都", "雅安", "雅安", "重庆", "重庆", "西安", "西安",
                 "昆明", "贵阳", "兰州"]
EXPERT_NAMES = ["王建国", "李晓梅", "张志强", "刘芳", "陈伟", "杨丽", "赵磊", "黄敏",
                "周涛", "吴静", "徐鹏", "孙红"]

# where each role's work is, as the top bar's 工作台 leads there
WORK_PAGE = {"admin": "/workspace/admin", "site_operator": "/workspace/operator",
             "agency": "/workspace", "tenderer": "/workspace", "bidder": "/bids",
             "insurer": "/workspace/insurer", "supervisor": "/workspace/supervisor",
             "expert": "/workspace/expert"}

PEOPLE = [
    Person("admin", "平台管理员", ("admin",), None, "雅安"),
    Person("centre.op", "交易中心主场运维", ("site_operator",), "centre", "雅安"),
    Person("agency.li", "李代理", ("agency",), "agency", "成都"),
    Person("agency.chen", "陈代理", ("agency",), "agency", "成都"),
    Person("tenderer.wang", "王招标", ("tenderer",), "tenderer", "雅安"),
    *[Person(f"bidder{i}", f"投标人{i}经办人", ("bidder",), f"bidder{i}") for i in range(1, 7)],
    Person("insurer.api", "保险机构接口", ("insurer",), "insurer", "成都"),
    Person("supervisor.zhao", "赵监督", ("supervisor",), "supervision", "雅安"),
    *[Person(f"expert{i + 1:02d}", EXPERT_NAMES[i], ("expert",), None, EXPERT_CITIES[i])
      for i in range(12)],
]


def step(n: int, text: str, started: float) -> None:
    print(f"[{n:02d}] {text}  ({time.perf_counter() - started:.2f}s)", flush=True)


async def seed(conn: asyncpg.Connection, password: str) -> tuple[dict[str, UUID], int, int]:
    """Create what is missing; return org ids and how many orgs/people were new."""
    actor = audit.Actor(None, "system", None, "demo-seed")
    orgs: dict[str, UUID] = {}
    new_orgs = new_people = 0
    for org in ORGS:
        found = await conn.fetchval(q.ORGANIZATION_BY_CREDIT_CODE, org.credit_code)
        if found is None:
            row = await identity.create_organization(conn, actor, credit_code=org.credit_code,
                                                     name=org.name, kind=org.kind,
                                                     region=org.region)
            found = row["id"]
            new_orgs += 1
        orgs[org.key] = found
    # The password is per machine (var/demo/secrets); data kept from an earlier
    # run may carry another one: the demo logins take the current one.
    stored = await conn.fetchval(q.HASH_OF_LOGIN, PEOPLE[0].login)
    if stored is not None and not await check_password(stored, password):
        new_hash = await hash_password(password)
        await conn.execute(q.SET_HASH_OF_LOGINS, [p.login for p in PEOPLE], new_hash)
    for person in PEOPLE:
        if await conn.fetchval(q.USER_EXISTS, person.login):
            continue
        await identity.create_user(conn, actor, login=person.login, name=person.name,
                                   roles=list(person.roles), password=password,
                                   organization_id=orgs[person.org] if person.org else None,
                                   city=person.city)
        new_people += 1
    return orgs, new_orgs, new_people


async def _portal(settings: Settings) -> str:
    """The portal's back catalogue, last: its notice PDFs then render while people look around,
    not while the life cycle waits for the worker."""
    begun = time.perf_counter()
    conn = await connect(settings.database.url)
    try:
        async with conn.transaction():
            made, notices = await portal_demo.seed_portal(
                conn, audit.Actor(None, "system", None, "demo-seed"),
                DevCA(signing_demo.ca_dir() / "ca-a"))
    finally:
        await conn.close()
    cities = len(portal_demo.CITIES)
    if not made:
        return f"portal: {len(portal_demo.PLAN)} tenders of the past two months kept"
    return (f"portal: {made} tenders of the past two months in {cities} cities "
            f"({', '.join(f'{n} {phase}' for phase, n in portal_demo.PHASES)}), {notices} signed "
            f"notices, written in bulk in {time.perf_counter() - begun:.2f}s")


Stage = Callable[[DemoContext], Awaitable[str]]
LIFE_CYCLE: list[tuple[str, Stage]] = [
    ("trust three CAs and sign in with certificates", signing_demo.certificate_login),
    ("publish the tender", tender_demo.publish_tender),
    ("six bidders obtain the documents; a clarification", tender_demo.obtain_and_clarify),
    ("six bidders seal and submit their bids", bid_demo.submit_bids),
    ("a bidder replaces its bid", bid_demo.replace_bid),
    ("the bid deadline passes (demo clock)", bid_demo.deadline_passes),
    ("a bid after the deadline is refused", bid_demo.late_bid),
    ("bidding closes", bid_demo.bidding_closes),
    ("the opening hall: bidders decrypt from their offices", opening_demo.bidders_open),
    ("one bid left closed: the officers' shares open it", opening_demo.officers_open),
    ("an objection answered; the signed opening record", opening_demo.objection_and_record),
    ("timestamp a record", signing_demo.timestamp),
]


async def run_demo(settings: Settings, url: str) -> None:
    started = time.perf_counter()
    password = os.environ.get("DEMO_PASSWORD", "")
    if len(password) < 8:
        raise SystemExit("DEMO_PASSWORD (8+ characters) is required; make demo sets one")
    conn = await connect(settings.database.url)
    try:
        async with conn.transaction():
            orgs, new_orgs, new_people = await seed(conn, password)
    finally:
        await conn.close()
    step(1, f"seeded {len(ORGS)} organizations ({new_orgs} new) and {len(PEOPLE)} people "
            f"({new_people} new): trading centre, agency, tenderer, 6 bidders, 12 experts in "
            f"{len(set(EXPERT_CITIES))} cities, supervisor, insurer", started)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        health = (await http.get("/healthz")).json()
        step(2, "platform healthy: " + ", ".join(
            f"{k} {'ok' if v['ok'] else 'DOWN'}" for k, v in health["services"].items()), started)
        ctx = DemoContext(settings, http, password, orgs)
        try:
            for i, (_, stage) in enumerate(LIFE_CYCLE, start=3):
                step(i, await stage(ctx), started)
            halls = await opening_demo.where(ctx, url)
            step(len(LIFE_CYCLE) + 3, await _portal(settings), started)
        finally:
            for client in ctx.clients.values():
                await client.aclose()
    print(f"\nTenderhall is serving at {url}\n")
    print(f"Logins (password for all: {password}), each with the page where its work is:")
    for person in PEOPLE:
        if person.roles[0] != "expert" or person.login == "expert01":
            role = person.roles[0]
            print(f"  {person.login:<18} {'/'.join(person.roles):<14} {url}{WORK_PAGE[role]:<24}"
                  f" {person.name}")
    print("  expert02 ... expert12  expert")
    print(f"Certificates (PKCS#12, same password): {signing_demo.ca_dir().parent / 'certs'}")
    for line in [*bid_demo.where(url, password), *halls]:
        print(line)

