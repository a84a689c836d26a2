"""The demo's portal catalogue: forty tenders across cities, types and phases, organizations
with valid credit codes of their own city, notices that openssl verifies, seeded once."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import asyncpg

from core import uscc
from demo import portal
from signing.ca import DevCA
from tests.conftest import SYSTEM, Client


async def test_the_catalogue_fills_every_section_once(client: Client, conn: asyncpg.Connection,
                                                      tmp_path: Path) -> None:
    ca = DevCA(tmp_path / "ca-a")
    ca.init("测试CA甲", crl_url="http://127.0.0.1:9/ca-a/crl.der")
    # The browser tests commit the same catalogue to the shared database; set theirs aside,
    # inside this test's transaction, so the seed is measured from nothing in any order.
    codes = [p["code"] for p in portal.PLAN]
    await conn.execute("UPDATE tenders SET code = code || '-e2e' WHERE code = ANY($1)", codes)
    began = time.perf_counter()
    made, notices = await portal.seed_portal(conn, SYSTEM, ca)
    elapsed = time.perf_counter() - began
    print(f"portal catalogue: {made} tenders, {notices} notices in {elapsed:.2f}s")
    assert made == 40 and notices > 40
    assert await portal.seed_portal(conn, SYSTEM, ca) == (0, 0)  # again: nothing new

    rows = await conn.fetch(
        "SELECT t.status, t.region, t.sector, t.procedure, o.credit_code, o.kind, a.credit_code "
        "AS agency_code FROM tenders t JOIN organizations o ON o.id = t.owner_org_id "
        "JOIN organizations a ON a.id = t.agency_org_id WHERE t.code = ANY($1)", codes)
    assert Counter(r["status"] for r in rows) == {"published": 22, "opened": 10, "failed": 4,
                                                  "cancelled": 4}
    assert len({r["region"] for r in rows}) == 8
    assert len({r["region"][:2] for r in rows}) >= 6  # provinces
    assert {r["sector"] for r in rows} == {"construction", "goods", "services"}
    divisions = {c.region: c.division for c in portal.CITIES}
    for r in rows:
        assert uscc.is_valid(r["credit_code"]) and uscc.is_valid(r["agency_code"])
        assert r["credit_code"][2:8] == divisions[r["region"]], r  # the owner's own city
        assert r["kind"] == "tenderer"
    # published ones are still open: some for documents, all for bids
    open_rows = await conn.fetch(
        "SELECT documents_until > now() AS documents, bid_deadline > now() AS bids, next_due_at "
        "FROM tenders WHERE code = ANY($1) AND status = 'published'", codes)
    assert all(r["bids"] and r["next_due_at"] is not None for r in open_rows)
    assert 0 < sum(r["documents"] for r in open_rows) < len(open_rows)
    # each notice is signed by its agency's certificate, and openssl says so
    notice = await conn.fetchrow(
        "SELECT n.content, n.signature FROM notices n JOIN tenders t ON t.id = n.tender_id "
        "WHERE t.code = $1 AND n.number = 0", codes[0])
    (tmp_path / "n.json").write_bytes(notice["content"])
    (tmp_path / "n.p7s").write_bytes(notice["signature"])
    out = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                          str(tmp_path / "n.p7s"), "-content", str(tmp_path / "n.json"),
                          "-CAfile", str(ca.dir / "root.crt.pem"), "-purpose", "any",
                          "-out", "/dev/null"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    # their PDFs are left to the worker, one job each
    assert await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE job_key IN (SELECT 'notice-pdf:' || n.id FROM notices n"
        " JOIN tenders t ON t.id = n.tender_id WHERE t.code = ANY($1))", codes) == notices

    # the home page: every section has rows, the list pages past its first twenty
    r = await client.get("/")
    assert r.status_code == 200
    for name in ("tenders", "changes", "openings"):
        section = re.search(rf'data-testid="section-{name}">(.*?)</section>', r.text, re.S)
        assert section is not None and "<tbody>" in section.group(1), name
    assert 'data-testid="next-page"' in r.text
    assert "流标" in r.text and "已唱标" in r.text
    # the hall of a lot opened before the catalogue's day still shows, empty of events
    lot_id = await conn.fetchval(
        "SELECT l.id FROM lots l JOIN tenders t ON t.id = l.tender_id WHERE t.code = $1",
        next(p["code"] for p in portal.PLAN if p["phase"] == "opened"))
    assert (await client.get(f"/hall/{lot_id}")).status_code == 200
    hall = await client.get(f"/api/lots/{lot_id}/hall")
    assert hall.status_code == 200, hall.text
