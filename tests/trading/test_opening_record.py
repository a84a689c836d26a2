"""The opening record (a signed PDF that pdfsig accepts), confirmations and objections (S7)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar
from PIL import Image

from core import audit, db
from core.settings import Settings
from tests.conftest import PKI, Client, World, login
from tests.trading.bidding import make_bidder, obtain, opening_cert
from tests.trading.conftest import Lot, Tenderer
from tests.trading.test_opening_lots import bids_from, deadline_passes, jobs_for, open_own
from trading import chronograph
from trading.opening import objections, record


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def not_blank(pdf: Path, tmp: Path) -> float:
    """The share of the first page's pixels that are not white, rendered by pdftoppm."""
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(tmp / "page")], check=True, capture_output=True)
    with Image.open(tmp / "page.png") as page:
        grey = page.convert("L")
        histogram = grey.histogram()  # 256 counts of grey levels
        return sum(histogram[:200]) / (grey.width * grey.height)


async def issue(conn: asyncpg.Connection, app: Litestar, settings: Settings,
                lot_id: str) -> dict[str, object] | None:
    async with db.transaction(conn, {}):
        return await record.issue(conn, app.state.store, settings, UUID(lot_id))


@pytest.fixture
async def lot45(tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
                pki: PKI) -> Lot:
    """Like ``lot``, with 45 minutes to confirm or object set on the draft (S7)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    tender = await tenderer.published("REC-T-0001", documents_from=start.isoformat(),
                                      objection_minutes=45)
    bidder = await make_bidder(conn, world, pki.ca1)
    await obtain(client, bidder, tender)
    return Lot(tender, bidder, await opening_cert(client, tender))


async def test_the_record_is_signed_and_takes_objections_and_answers(
        lot45: Lot, tenderer: Tenderer, client: Client, conn: asyncpg.Connection, world: World,
        pki: PKI, app: Litestar, settings: Settings, tmp_path: Path) -> None:
    lot = lot45
    tender_id, lot_id = lot.tender["id"], lot.tender["lots"][0]["id"]
    assert lot.tender["objection_minutes"] == 45
    bids = await bids_from(lot, client, conn, world, pki, 3)
    await deadline_passes(conn, tender_id)
    # nothing to confirm before every price is read
    await login(client, bids[0][0].login)
    r = await client.post(f"/api/lots/{lot_id}/opening/confirm")
    assert r.status_code == 409 and r.json()["code"] == "opening_not_read", r.text
    for bidder, p7m, bid in bids:
        assert (await open_own(client, bidder, p7m, bid)).status_code == 201
    opening = await conn.fetchrow("SELECT * FROM lot_openings WHERE lot_id = $1", lot_id)
    assert opening["status"] == "read"
    # the period is the tender's own, set on its draft through the API (45, not the 30 default)
    period = (opening["confirm_until"] - opening["read_at"]).total_seconds()
    assert abs(period - 45 * 60) < 1, period
    assert await jobs_for(conn, "issue_opening_record", lot_id) == 1

    first = await issue(conn, app, settings, lot_id)
    assert first is not None and first["version"] == 1
    assert await issue(conn, app, settings, lot_id) is None  # once per hall event
    client.cookies.clear()  # the record is public, as the opening is
    r = await client.get(f"/api/lots/{lot_id}/opening-records/1")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    path = tmp_path / "record-v1.pdf"
    path.write_bytes(r.content)
    out = subprocess.run(["pdfsig", "-nocert", "-no-ocsp", str(path)], capture_output=True,
                         text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    assert not_blank(path, tmp_path) > 0.01
    text = pdf_text(path)
    assert "开标记录表" in text and lot.tender["code"] in text
    for bidder, _, _ in bids:
        assert bidder.name in text
    assert "950,000.00" in text and "970,000.00" in text
    # the lot named once, the signers as people read them
    assert "第一标段" in text and "第 1 标段：第一标段" not in text
    assert "2.5.4.97" not in text
    for bidder, _, _ in bids:
        assert f"统一社会信用代码 {bidder.credit_code}" in text
    # the audit chain commits to the record's SHA-256
    digest = await conn.fetchval("SELECT payload_digest FROM audit_log WHERE action = "
                                 "'opening_record.issued' AND object_id = $1", lot_id)
    assert bytes(digest) == audit.payload_digest({
        "version": 1, "sha256": first["sha256"].hex(),  # type: ignore[attr-defined]
        "as_of_event": first["as_of_event"]})

    # confirm (once), object; a stranger to the lot may do neither
    await login(client, bids[1][0].login)
    for _ in range(2):
        r = await client.post(f"/api/lots/{lot_id}/opening/confirm")
        assert r.status_code == 200, r.text
    await login(client, bids[2][0].login)
    r = await client.post(f"/api/lots/{lot_id}/objections", json={"text": " "})
    assert r.status_code == 400, r.text
    r = await client.post(f"/api/lots/{lot_id}/objections",
                          json={"text": "我单位工期应为365日历天，唱标读为空，请核实。"})
    assert r.status_code == 201, r.text
    objection = r.json()
    await tenderer.act()
    r = await client.post(f"/api/lots/{lot_id}/objections", json={"text": "主持人异议"})
    assert r.status_code == 403, r.text
    r = await client.post(f"/api/lots/{lot_id}/opening/confirm")
    assert r.status_code == 403, r.text

    # the period ends with the objection unanswered: the lot stays open, no evaluation
    await conn.execute("UPDATE lot_openings SET confirm_until = clock_timestamp() "
                       "WHERE lot_id = $1", lot_id)
    await login(client, bids[0][0].login)
    r = await client.post(f"/api/lots/{lot_id}/objections", json={"text": "迟到的异议"})
    assert r.status_code == 409 and r.json()["code"] == "objection_period_closed", r.text
    await conn.execute("UPDATE tenders SET next_due_at = now() - interval '1 second', "
                       "next_due_kind = 'objections_closed' WHERE id = $1", tender_id)
    async with db.transaction(conn, {}):
        assert await chronograph.fire(conn, UUID(tender_id)) == "objections_closed"
    assert await conn.fetchval("SELECT status FROM lot_openings WHERE lot_id = $1",
                               lot_id) == "read"
    with pytest.raises(objections.NotYetClosed):
        await objections.ready_for_evaluation(conn, UUID(lot_id))

    # the host answers: the lot closes, and the record is issued again with both
    await tenderer.act()
    path_answer = f"/api/lots/{lot_id}/objections/{objection['id']}/answer"
    r = await client.post(path_answer, json={"text": "经核，该单位开标一览表未填写工期，以原件为准。"})
    assert r.status_code == 200 and r.json()["answer"].startswith("经核"), r.text
    r = await client.post(path_answer, json={"text": "改答复"})
    assert r.status_code == 409 and r.json()["code"] == "objection_answered", r.text
    assert await conn.fetchval("SELECT status FROM lot_openings WHERE lot_id = $1",
                               lot_id) == "closed"
    await objections.ready_for_evaluation(conn, UUID(lot_id))
    latest = await issue(conn, app, settings, lot_id)
    assert latest is not None and latest["version"] == 2
    path = tmp_path / "record-v2.pdf"
    path.write_bytes((await client.get(f"/api/lots/{lot_id}/opening-records/2")).content)
    text = pdf_text(path)
    assert "唱标读为空" in text and "以原件为准" in text and "确认开标记录" in text
    kinds = [r["kind"] for r in await conn.fetch(
        "SELECT kind FROM hall_events WHERE lot_id = $1 ORDER BY seq", lot_id)]
    assert kinds[-6:] == ["record.issued", "opening.confirmed", "objection.raised",
                          "objection.answered", "opening.closed", "record.issued"]
    listing = (await client.get(f"/api/lots/{lot_id}/opening-records")).json()
    assert [x["version"] for x in listing] == [1, 2]

    # never changed: an objection's text, an answer, an issued record
    for sql in ("UPDATE opening_objections SET text = 'x'",
                "UPDATE opening_objections SET answer = 'x'",
                "UPDATE opening_records SET size = 1"):
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await conn.execute(sql)


async def test_a_failed_lot_gets_its_record_too(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        app: Litestar, settings: Settings, tmp_path: Path) -> None:
    lot_id = lot.tender["lots"][0]["id"]
    await bids_from(lot, client, conn, world, pki, 2)
    await deadline_passes(conn, lot.tender["id"])
    assert await jobs_for(conn, "issue_opening_record", lot_id) == 1
    assert await issue(conn, app, settings, lot_id) is not None
    path = tmp_path / "failed.pdf"
    path.write_bytes((await client.get(f"/api/lots/{lot_id}/opening-records/1")).content)
    assert "流标" in pdf_text(path)


@pytest.mark.parametrize(("number", "title", "label"), [
    (1, "第一标段", "第一标段"), (2, "G351 线雅安段 第2标段", "G351 线雅安段 第2标段"),
    (3, "土建工程", "第 3 标段：土建工程"), (4, "", "第 4 标段"), (5, None, "第 5 标段")])
def test_lot_label(number: int, title: str | None, label: str) -> None:
    assert record.lot_label(number, title) == label


def test_readable_name() -> None:
    code = "91510100MA6CJ4UX05"
    assert record.readable_name(f"2.5.4.97=NTRCN-{code},CN=张三,O=蜀道建设有限公司") == (
        f"张三（蜀道建设有限公司，统一社会信用代码 {code}）")
    assert record.readable_name("2.5.4.97=VATDE-123456789,CN=Erika Mustermann") == (
        "Erika Mustermann（机构标识 VATDE-123456789）")
    assert record.readable_name("CN=李四") == "李四"
    assert record.readable_name("not a name") == "not a name"
