"""Publication end to end: signatures, opening keys, holders, T3, T4, OCDS, the sealed PDF."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing import shares
from tests.conftest import PKI, Client, World, login
from tests.trading.conftest import Tenderer, sha256
from tests.trading.test_bids import move_deadline
from tests.trading.test_ocds import errors
from tests.trading.test_opening_lots import deadline_passes
from trading.tenders import jobs as tender_jobs


async def _bidder(client: Client, world: World) -> str:
    return await world.user("bidder", await world.org("bidder"))


async def test_publication_checks_every_signature(tenderer: Tenderer, pki: PKI,
                                                  conn: asyncpg.Connection) -> None:
    draft = await tenderer.draft("T-SIG-1")
    # no documents yet
    assert (await tenderer.publish(draft["id"])).json()["code"] == "tender_has_no_documents"
    # a signature over other bytes than the file
    r = await tenderer.upload(draft["id"], "a.pdf", b"%PDF real", signature=tenderer.sign(b"x"))
    assert r.status_code == 422 and r.json()["code"] == "signature_content_mismatch"
    # a trusted certificate of another organization
    other = pki.ca1.issue(cn="别人", org="其他公司", credit_code="91510100MA6CB1N4T",
                          purpose="signing")
    stranger = Tenderer(tenderer.client, conn, tenderer.org_id, tenderer.login, other, [])
    r = await tenderer.upload(draft["id"], "a.pdf", b"%PDF real",
                              signature=stranger.sign(b"%PDF real"))
    assert r.status_code == 422 and r.json()["code"] == "signer_not_of_organization"
    r = await tenderer.upload(draft["id"], "a.pdf", b"%PDF real")
    assert r.status_code == 201 and r.json()["sha256"] == sha256(b"%PDF real")
    assert (await tenderer.upload(draft["id"], "a.pdf", b"%PDF 2")).json()["code"] == \
        "document_name_taken"
    # a notice signed, then the draft changed: the signature is for the old version
    content = (await tenderer.client.get(f"/api/tenders/{draft['id']}/announcement")).content
    assert json.loads(content)["documents"][0]["sha256"] == sha256(b"%PDF real")
    await tenderer.upload(draft["id"], "b.pdf", b"%PDF b")
    r = await tenderer.client.post(f"/api/tenders/{draft['id']}/publish",
                                   json={"signature": tenderer.sign(content)})
    assert r.status_code == 409 and r.json()["code"] == "notice_outdated"
    r = await tenderer.publish(draft["id"])
    assert r.status_code == 200, r.text
    tender = r.json()
    # published documents are frozen, by the service and by the database
    doc = (await tenderer.client.get(f"/api/tenders/{draft['id']}/documents")).json()[0]
    r = await tenderer.client.delete(f"/api/tenders/{draft['id']}/documents/{doc['id']}")
    assert r.status_code == 409
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM tender_documents WHERE id = $1", doc["id"])
        raise AssertionError("the trigger let a published document go")
    except asyncpg.InsufficientPrivilegeError:
        pass
    # the opening certificate is public; k of the officers' shares rebuild its key
    lot = tender["lots"][0]
    pem = (await tenderer.client.get(
        f"/api/tenders/{draft['id']}/lots/{lot['id']}/opening-certificate")).content
    cert = x509.load_pem_x509_certificate(pem)
    assert sha256(cert.public_bytes(Encoding.DER)) == lot["opening_cert_sha256"]
    rows = await conn.fetch("SELECT officer_id, envelope FROM lot_opening_shares WHERE lot_id = $1",
                            lot["id"])
    assert len(rows) == 3
    keys = dict(tenderer.officers)
    opened = [shares.unseal_share(r["envelope"], keys[r["officer_id"]].cert,
                                  keys[r["officer_id"]].key) for r in rows[:2]]
    assert shares.recombine(UUID(lot["id"]), cert, opened) is not None


async def test_officers_need_encryption_certificates(tenderer: Tenderer, world: World) -> None:
    draft = await tenderer.draft("T-OFF-1", officer_ids=[str(tenderer.officers[0][0])])
    await tenderer.upload(draft["id"], "a.pdf", b"%PDF a")
    r = await tenderer.publish(draft["id"])
    assert r.status_code == 422 and r.json()["code"] == "tender_officers_incomplete"
    outsider = await world.user("tenderer", await world.org("tenderer"))
    uid = await tenderer.conn.fetchval("SELECT id FROM users WHERE login = $1", outsider)
    r = await tenderer.client.post("/api/tenders/", json={
        "code": "T-OFF-2", "title": "x", "officer_ids": [str(uid)]})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "officer_ids"


async def test_bidders_obtain_documents_and_become_holders(tenderer: Tenderer, world: World,
                                                           conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-GET-1")
    doc = (await tenderer.client.get(f"/api/tenders/{tender['id']}/documents")).json()[0]
    url = f"/api/tenders/{tender['id']}/documents/{doc['id']}"
    obtain = f"/api/tenders/{tender['id']}/documents/obtain"
    # documents_from is an hour ahead in tender_body: not yet
    await login(tenderer.client, await _bidder(tenderer.client, world))
    r = await tenderer.client.post(obtain)
    assert r.status_code == 409 and r.json()["code"] == "documents_not_yet_available"
    await conn.execute("UPDATE tenders SET documents_from = now() - interval '1 minute' "
                       "WHERE id = $1", tender["id"])
    # a download (a GET, which a cross-site link can trigger) makes nobody a holder
    r = await tenderer.client.get(url)
    assert r.status_code == 403 and r.json()["code"] == "documents_not_obtained"
    assert await conn.fetchval("SELECT count(*) FROM document_holders WHERE tender_id = $1",
                               tender["id"]) == 0
    # obtaining is a POST; a cross-site one is refused like every other write
    r = await tenderer.client.post(obtain, headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403 and r.json()["code"] == "cross_site_request"
    r = await tenderer.client.post(obtain)
    assert r.status_code == 200 and r.json()["tender_id"] == tender["id"]
    assert (await tenderer.client.post(obtain)).json() == r.json()  # again: nothing new
    r = await tenderer.client.get(url)
    assert r.status_code == 200 and sha256(r.content) == doc["sha256"]
    await tenderer.client.get(url)
    # an expert is no bidder; anonymous callers must sign in
    await login(tenderer.client, await world.user("expert"))
    assert (await tenderer.client.post(obtain)).status_code == 403
    assert (await tenderer.client.get(url)).status_code == 403
    tenderer.client.cookies.clear()
    assert (await tenderer.client.post(obtain)).status_code == 401
    assert (await tenderer.client.get(url)).status_code == 401
    # the period over: no new holders
    await conn.execute("UPDATE tenders SET documents_until = now() - interval '1 second' "
                       "WHERE id = $1", tender["id"])
    await login(tenderer.client, await _bidder(tenderer.client, world))
    assert (await tenderer.client.post(obtain)).json()["code"] == "documents_period_over"
    assert await conn.fetchval("SELECT count(*) FROM document_holders WHERE tender_id = $1",
                               tender["id"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM document_downloads WHERE tender_id = $1",
                               tender["id"]) == 2
    # the signature is public, for anyone to check the file
    sig = await tenderer.client.get(f"{url}/signature")
    assert sig.status_code == 200 and sig.content[:1] == b"\x30"


async def test_nobody_learns_the_holders_before_the_deadline(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection) -> None:
    """T7: before the deadline no role learns who obtained the documents, or how many; from
    the deadline on the staff learn the number and supervisors the names."""
    tender = await tenderer.published("T-T7-1")
    await conn.execute("UPDATE tenders SET documents_from = now() - interval '1 minute' "
                       "WHERE id = $1", tender["id"])
    bidder = await _bidder(tenderer.client, world)
    await login(tenderer.client, bidder)
    assert (await tenderer.client.post(
        f"/api/tenders/{tender['id']}/documents/obtain")).status_code == 200
    url = f"/api/tenders/{tender['id']}/holders"
    supervisor = await world.user("supervisor", await world.org("supervision"))
    admin = await world.user("admin")
    other_agency = await world.user("agency", await world.org("agency"))
    roles = {"tenderer": tenderer.login, "supervisor": supervisor, "admin": admin,
             "bidder": bidder, "other_agency": other_agency}

    async def as_(name: str) -> Any:
        await login(tenderer.client, roles[name])
        return await tenderer.client.get(url)

    for name in ("tenderer", "supervisor"):
        r = await as_(name)
        assert r.status_code == 403 and r.json()["code"] == "holders_sealed", name
        assert "count" not in str(r.json()["detail"])
    for name in ("admin", "bidder", "other_agency"):
        assert (await as_(name)).status_code == 404, name
    # the manage page: neither names nor a number
    await tenderer.act()
    page = await tenderer.client.get(f"/workspace/tenders/{tender['id']}")
    assert page.status_code == 200 and 'data-testid="holders-sealed"' in page.text
    assert 'data-testid="holders-count"' not in page.text
    # the deadline passes and the chronograph closes bidding
    await move_deadline(conn, tender["id"], -3600)  # before now(), the test's start
    await conn.execute("UPDATE tenders SET status = 'bidding_closed' WHERE id = $1",
                       tender["id"])
    r = await as_("tenderer")
    assert r.status_code == 200 and r.json() == {"count": 1, "holders": None}
    r = await as_("supervisor")
    assert r.status_code == 200 and r.json()["count"] == 1
    assert [h["organization_id"] for h in r.json()["holders"]] == [
        str(await conn.fetchval("SELECT organization_id FROM users WHERE login = $1", bidder))]
    for name in ("admin", "bidder", "other_agency"):
        assert (await as_(name)).status_code == 404, name
    await tenderer.act()
    page = await tenderer.client.get(f"/workspace/tenders/{tender['id']}")
    assert 'data-testid="holders-count"' in page.text and 'data-testid="holders"' not in page.text


async def test_clarification_read_receipts_are_sealed_until_the_deadline(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection) -> None:
    """Who received a clarification is who obtained the documents (T7)."""
    tender = await tenderer.published("T-T7-2")
    await conn.execute("UPDATE tenders SET documents_from = now() - interval '1 minute', "
                       "bid_deadline = now() + interval '20 days' WHERE id = $1", tender["id"])
    await login(tenderer.client, await _bidder(tenderer.client, world))
    await tenderer.client.post(f"/api/tenders/{tender['id']}/documents/obtain")
    await tenderer.act()
    notice = (await tenderer.clarify(tender["id"])).json()
    url = f"/api/tenders/{tender['id']}/clarifications/{notice['id']}/deliveries"
    r = await tenderer.client.get(url)
    assert r.status_code == 403 and r.json()["code"] == "holders_sealed"
    await move_deadline(conn, tender["id"], -3600)  # before now(), the test's start
    await conn.execute("UPDATE tenders SET status = 'bidding_closed' WHERE id = $1",
                       tender["id"])
    r = await tenderer.client.get(url)
    assert r.status_code == 200
    assert (r.json()["expected"], r.json()["recipients"]) == (1, [])


async def test_clarification_moves_the_deadline_to_keep_15_days(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-T3-1")
    await conn.execute("UPDATE tenders SET documents_from = now() - interval '1 minute' "
                       "WHERE id = $1", tender["id"])
    bidder = await _bidder(tenderer.client, world)
    await login(tenderer.client, bidder)
    assert (await tenderer.client.post(
        f"/api/tenders/{tender['id']}/documents/obtain")).status_code == 200
    await tenderer.act()
    # 15 days: unchanged, and recorded as no change (no new deadline), not "from X to X"
    await conn.execute("UPDATE tenders SET bid_deadline = now() + interval '15 days 1 hour' "
                       "WHERE id = $1", tender["id"])
    r = await tenderer.clarify(tender["id"], title="第一次澄清")
    assert r.status_code == 200, r.text
    assert r.json()["old_bid_deadline"] is not None and r.json()["new_bid_deadline"] is None
    unchanged = r.json()
    # 10 days left: the deadline moves so 15 remain, at the same time of day
    await conn.execute("UPDATE tenders SET bid_deadline = now() + interval '10 days' "
                       "WHERE id = $1", tender["id"])
    old = await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1", tender["id"])
    r = await tenderer.clarify(tender["id"], title="第二次澄清")
    assert r.status_code == 200, r.text
    new = await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1", tender["id"])
    now = await conn.fetchval("SELECT now()")
    assert new - now >= timedelta(days=15) and new - now < timedelta(days=16)
    assert new.timetz() == old.timetz() and (new - old) % timedelta(days=1) == timedelta(0)
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_log WHERE object_id = $1 ORDER BY id", tender["id"])]
    assert actions.count("tender.deadline_moved") == 1
    # OCDS: the first amendment tells of no move, the second of the one move
    releases = json.loads((await tenderer.client.get(
        f"/api/tenders/{tender['id']}/ocds/releases")).content, parse_float=Decimal)
    amendments = {a["id"]: a["description"]
                  for a in releases["releases"][-1]["tender"]["amendments"]}
    assert "变更为" not in amendments[unchanged["id"]]
    assert sum("变更为" in d for d in amendments.values()) == 1
    jobs = {r["function"]: r["args"] for r in await conn.fetch(
        "SELECT function, args FROM outbox WHERE job_key LIKE 'postponed:' || $1 || '%'",
        tender["id"])}
    assert set(jobs) == {"opening_postponed"}
    # every holder's bidders are notified, with a read receipt to come
    notes = await conn.fetch("SELECT args FROM outbox WHERE function = 'deliver_notification' "
                             "AND args->>'ref' LIKE 'notice:%' AND job_key LIKE '%' || $1",
                             str(await conn.fetchval("SELECT id FROM users WHERE login = $1",
                                                     bidder)))
    assert len(notes) == 2
    # only while published; a clarification cannot bring the deadline forward
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/clarifications", json={
        "title": "提前", "body": "提前截止", "bid_deadline": now.isoformat()})
    assert r.json()["code"] == "clarification_deadline_earlier"
    # an amendment drafted to extend the deadline, which moved further since (T4 resume)
    current = await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1", tender["id"])
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/clarifications", json={
        "title": "延期", "body": "截止时间延后一日", "bid_deadline":
        (current + timedelta(days=1)).isoformat()})
    assert r.status_code == 201, r.text
    draft = r.json()
    await conn.execute("UPDATE tenders SET bid_deadline = bid_deadline + interval '3 days' "
                       "WHERE id = $1", tender["id"])
    content = (await tenderer.client.get(
        f"/api/tenders/{tender['id']}/clarifications/{draft['id']}/content")).content
    r = await tenderer.client.post(
        f"/api/tenders/{tender['id']}/clarifications/{draft['id']}/publish",
        json={"signature": tenderer.sign(content)})
    assert r.status_code == 200, r.text
    assert await conn.fetchval("SELECT bid_deadline FROM tenders WHERE id = $1",
                               tender["id"]) == current + timedelta(days=3)
    # past the deadline (the chronograph not yet run): refused by the clock
    await conn.execute("UPDATE tenders SET bid_deadline = now() - interval '1 second', "
                       "clarification_deadline = NULL, documents_until = now() - interval "
                       "'2 seconds' WHERE id = $1", tender["id"])
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/clarifications",
                                   json={"title": "迟到", "body": "截止后的澄清"})
    assert r.status_code == 409 and r.json()["code"] == "tender_deadline_passed"


async def test_objection_pauses_until_answered(tenderer: Tenderer, world: World,
                                               conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-T4-1")
    await login(tenderer.client, await _bidder(tenderer.client, world))
    # T4: 10 days before the deadline at the latest
    await conn.execute("UPDATE tenders SET bid_deadline = now() + interval '9 days 23 hours' "
                       "WHERE id = $1", tender["id"])
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/objections",
                                   json={"body": "评分标准第3条排斥潜在投标人"})
    assert r.status_code == 422 and r.json()["code"] == "rule_t4_objection_deadline"
    await conn.execute("UPDATE tenders SET bid_deadline = now() + interval '12 days' "
                       "WHERE id = $1", tender["id"])
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/objections",
                                   json={"body": "评分标准第3条排斥潜在投标人"})
    assert r.status_code == 201, r.text
    objection = r.json()
    row = await conn.fetchrow("SELECT paused_since, next_due_at, bid_deadline FROM tenders "
                              "WHERE id = $1", tender["id"])
    assert row["paused_since"] is not None and row["next_due_at"] is None
    # two days of pause: the deadline moves by two whole days on the answer
    await conn.execute("UPDATE tenders SET paused_since = now() - interval '1 day 2 hours' "
                       "WHERE id = $1", tender["id"])
    await tenderer.act()
    r = await tenderer.answer(tender["id"], objection["id"], "经核查，评分标准不存在排斥情形，维持原文件。")
    assert r.status_code == 200, r.text
    after = await conn.fetchrow("SELECT paused_since, next_due_at, bid_deadline FROM tenders "
                                "WHERE id = $1", tender["id"])
    assert after["paused_since"] is None and after["next_due_at"] is not None
    assert after["bid_deadline"] - row["bid_deadline"] == timedelta(days=2)
    again = await tenderer.client.post(
        f"/api/tenders/{tender['id']}/objections/{objection['id']}/answer",
        json={"answer": "再次答复", "signature": tenderer.sign(b"x")})
    assert again.status_code == 409


async def test_ocds_of_a_published_amended_cancelled_tender_validates(
        tenderer: Tenderer, conn: asyncpg.Connection) -> None:
    tender = await tenderer.published("T-OCDS-1")
    await conn.execute("UPDATE tenders SET bid_deadline = now() + interval '10 days' "
                       "WHERE id = $1", tender["id"])
    assert (await tenderer.clarify(tender["id"])).status_code == 200
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/cancel",
                                   json={"reason": "项目资金未落实"})
    assert r.status_code == 200
    releases = json.loads((await tenderer.client.get(
        f"/api/tenders/{tender['id']}/ocds/releases")).content, parse_float=Decimal)
    assert [r["tag"] for r in releases["releases"]] == [["tender"], ["tenderAmendment"],
                                                        ["tenderCancellation"]]
    assert errors("release-package-schema.json", releases) == []
    record = json.loads((await tenderer.client.get(
        f"/api/tenders/{tender['id']}/ocds/record")).content, parse_float=Decimal)
    assert errors("record-package-schema.json", record) == []
    compiled = record["records"][0]["compiledRelease"]["tender"]
    assert compiled["status"] == "cancelled" and compiled["statusDetails"] == "项目资金未落实"
    assert len(compiled["amendments"]) == 1
    assert compiled["value"]["amount"] == Decimal("1000000.00")


async def test_ocds_follows_the_tender_past_its_deadline_and_links_public_pages(
        tenderer: Tenderer, client: Client, conn: asyncpg.Connection) -> None:
    """Releases at the deadline and at the end of the opening (here: no bids, so the tender
    fails); every document URL in them answers the public."""
    tender = await tenderer.published("T-OCDS-2")
    await deadline_passes(conn, tender["id"])
    client.cookies.clear()
    package = json.loads((await client.get(
        f"/api/tenders/{tender['id']}/ocds/releases")).content, parse_float=Decimal)
    assert errors("release-package-schema.json", package) == []
    steps = [(r["tag"], r["tender"]["status"], r["tender"].get("statusDetails"))
             for r in package["releases"]]
    assert steps == [(["tender"], "active", None),
                     (["tenderUpdate"], "complete", "已截标 Bidding closed"),
                     (["tenderUpdate"], "unsuccessful", "流标 Failed")]
    documents = package["releases"][-1]["tender"]["documents"]
    assert {d["documentType"] for d in documents} == {"biddingDocuments", "tenderNotice"}
    for d in documents:
        r = await client.get(urlsplit(d["url"]).path)
        assert r.status_code == 200, d
    # the opening certificate is self-signed (docs/sealing.md, docs/tenders.md agree)
    lot = (await client.get(f"/api/tenders/{tender['id']}")).json()["lots"][0]
    opening = x509.load_pem_x509_certificate((await client.get(
        f"/api/tenders/{tender['id']}/lots/{lot['id']}/opening-certificate")).content)
    assert opening.issuer == opening.subject
    opening.verify_directly_issued_by(opening)
    page = next(d["url"] for d in documents if d["documentType"] == "biddingDocuments")
    assert f'id="document-{page.split("#document-")[1]}"' in (await client.get(
        f"/tenders/{tender['id']}")).text


async def test_notice_pdf_is_sealed_and_verifies(tenderer: Tenderer, app: Any, pki: PKI,
                                                 conn: asyncpg.Connection, tmp_path: Any) -> None:
    tender = await tenderer.published("T-PDF-1")
    notice = await conn.fetchval("SELECT id FROM notices WHERE tender_id = $1", tender["id"])
    key = await tender_jobs.make_notice_pdf(conn, app.state.store, app.state.settings, notice)
    assert key is not None
    assert await tender_jobs.make_notice_pdf(conn, app.state.store, app.state.settings,
                                             notice) is None  # once
    pdf = (await tenderer.client.get(f"/api/tenders/{tender['id']}/notices/0/pdf")).content
    path = tmp_path / "notice.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", "-nocert", "-no-ocsp", str(path)], capture_output=True,
                         text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "T-PDF-1" in text and "SHA-256" in text and "开标证书" in text
