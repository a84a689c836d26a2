"""The public tender page and the sealed notice PDF read the same amounts, dates and names.

The ceiling price was a dash on the page and a number in the record when only the lots
carried one; the page and the PDF now print the same values, and this test reads both.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from pathlib import Path

import asyncpg

from core import formats, pdf, uscc
from core.i18n import LANG_COOKIE
from tests.trading.conftest import Tenderer
from trading.tenders import jobs as tender_jobs
from trading.tenders import presentation

LOTS = [
    {"number": 1, "title": "第一标段：路基路面工程", "budget": "24000000.00",
     "ceiling_price": "23500000.00", "security_amount": "480000.00"},
    {"number": 2, "title": "第二标段：交通安全设施工程", "budget": "14650000.00",
     "ceiling_price": "14300000.00", "security_amount": "293000.00"},
]


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "notice.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                         check=True, timeout=60)
    return " ".join(out.stdout.split())


async def test_page_and_notice_pdf_print_the_same_amounts(
        tenderer: Tenderer, conn: asyncpg.Connection, tmp_path: Path) -> None:
    tender = await tenderer.published("T-PRT-1", title="G351 线路面改造工程", budget="38650000.00",
                                      lots=LOTS)
    notice_id = await conn.fetchval("SELECT id FROM notices WHERE tender_id = $1 AND number = 0",
                                    tender["id"])
    context = await tender_jobs.notice_context(conn, notice_id)
    printed = _pdf_text(await pdf.render("pdf/notice.html", context), tmp_path)
    r = await tenderer.client.get(f"/tenders/{tender['id']}")
    assert r.status_code == 200, r.text
    page = _text(r.text)

    # the lots' ceilings, their sum for the tender, budgets and securities: on both
    expected = ["23,500,000.00", "14,300,000.00", "37,800,000.00", "38,650,000.00",
                "24,000,000.00", "480,000.00", "293,000.00"]
    for amount in expected:
        assert amount in printed, (amount, printed)
        assert amount in page, amount
    ceiling = re.search(r'data-testid="ceiling">([^<]+)<', r.text)
    assert ceiling is not None and ceiling.group(1).strip() == "37,800,000.00"
    assert "各标段合计" in page and "各标段合计" in printed
    # the same function made both: what the page shows is what the PDF context held
    amounts = context["amounts"]
    assert amounts == presentation.amounts(
        {"ceiling_price": None, "budget": Decimal("38650000.00")},
        [{**lot, "budget": Decimal(lot["budget"]), "ceiling_price": Decimal(lot["ceiling_price"]),
          "security_amount": Decimal(lot["security_amount"])} for lot in LOTS])
    # one date format on both: the deadline to the minute, Beijing time
    deadline = formats.when(datetime.fromisoformat(tender["bid_deadline"]))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", deadline)
    assert deadline in printed and deadline in page
    # the signer as people read it, on both; the raw name only in the verify section
    signer = formats.subject(context["notice"]["signer_subject"])
    assert signer is not None and signer.organization and signer.credit_code
    assert str(signer) in page and signer.organization in printed
    raw = context["notice"]["signer_subject"]
    assert r.text.count(f">{raw}<") == 1
    assert r.text.index(f">{raw}<") > r.text.index('data-testid="how-to-verify"')
    # no rule codes in what the public reads
    assert not re.search(r"\bT\d\b", page)


async def test_a_tender_ceiling_is_printed_as_set(tenderer: Tenderer,
                                                 conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-PRT-2", budget="1000000.00", ceiling_price="950000.00")
    r = await tenderer.client.get(f"/tenders/{tender['id']}")
    ceiling = re.search(r'data-testid="ceiling">([^<]+)<', r.text)
    assert ceiling is not None and ceiling.group(1).strip() == "950,000.00"
    lot_ceiling = re.search(r'data-testid="lot-ceiling">([^<]+)<', r.text)
    assert lot_ceiling is not None and lot_ceiling.group(1).strip() == formats.EMPTY
    # each lot's opening hall is one click from the tender page
    lot_id = tender["lots"][0]["id"]
    assert f'href="/hall/{lot_id}"' in r.text
    hall = await tenderer.client.get(f"/hall/{lot_id}")
    assert hall.status_code == 200
    # the same page in English, the amounts written the same way
    tenderer.client.cookies.set(LANG_COOKIE, "en")
    r = await tenderer.client.get(f"/tenders/{tender['id']}")
    tenderer.client.cookies.delete(LANG_COOKIE)
    assert r.status_code == 200
    text = _text(r.text)
    assert "Tender notice" in text and "Ceiling price (CNY) 950,000.00" in text
    assert "1. The tender" in text and "Verify" in text


def test_formats_write_beijing_minutes_yuan_and_people() -> None:
    assert formats.when(datetime(2026, 3, 1, 1, 30, 59, tzinfo=UTC)) == "2026-03-01 09:30"
    assert formats.when(None) == "—"
    assert formats.yuan(Decimal("23500000")) == "23,500,000.00"
    assert formats.yuan(None) == "—"
    code = uscc.make("91510100MA61R8Q2X")
    name = f"CN=李代理,2.5.4.97={code},O=四川蜀道招标代理有限公司\\, 成都,C=CN"
    who = formats.subject(name)
    assert who is not None
    assert (who.person, who.organization, who.credit_code) == (
        "李代理", "四川蜀道招标代理有限公司, 成都", code)
    assert str(who) == f"四川蜀道招标代理有限公司, 成都 · 李代理（{code}）"
    # a code whose check character is wrong is not claimed
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert formats.subject(f"CN=李代理,2.5.4.97={wrong}") == formats.Subject(
        "李代理", None, None, f"CN=李代理,2.5.4.97={wrong}")
    assert formats.subject("not a name") is not None
    assert formats.subject(None) is None
