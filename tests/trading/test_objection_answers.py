"""An answer to an objection (T4) is signed by the organization that signs for the tender.

The staff fetch the exact bytes for their text, sign them (detached CMS) and send text and
signature; the platform rebuilds the bytes, checks the signature and the signer's
organization, and keeps both. The objector downloads them and ``openssl cms -verify``
accepts them. Every refusal leaves the objection unanswered and the tender paused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from typing import Any

import asyncpg

from signing import cms
from tests.conftest import PKI, World, login
from tests.trading.conftest import Tenderer
from tests.trading.test_bids import move_deadline
from tests.trading.test_objection_overdue import _object, _published

TEXT = "经核查，评分标准第3条系行业通行条件，不存在排斥潜在投标人的情形，维持原文件。"


async def _state(conn: asyncpg.Connection, objection_id: str) -> tuple[Any, ...]:
    row = await conn.fetchrow(
        "SELECT j.answered_at, j.answer_signature, t.paused_since IS NOT NULL AS paused "
        "FROM objections j JOIN tenders t ON t.id = j.tender_id WHERE j.id = $1", objection_id)
    return tuple(row)


async def test_an_answer_is_signed_and_checks_with_openssl(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection, pki: PKI) -> None:
    tender = await _published(tenderer, "T-T4-SIGNED")
    objector = await world.user("bidder", await world.org("bidder"))
    await login(tenderer.client, objector)
    r = await tenderer.client.post(f"/api/tenders/{tender['id']}/objections",
                                   json={"body": "评分标准第3条排斥潜在投标人"})
    assert r.status_code == 201, r.text
    objection = r.json()
    base = f"/api/tenders/{tender['id']}/objections/{objection['id']}/answer"
    # the objector cannot answer, nor get the bytes to sign
    assert (await tenderer.client.post(f"{base}/content", json={"answer": TEXT})).status_code == 404
    await tenderer.act()

    content = (await tenderer.client.post(f"{base}/content", json={"answer": TEXT})).content
    signed = json.loads(content)
    assert signed["type"] == "objection_answer" and signed["answer"] == TEXT
    assert signed["tender"]["code"] == "T-T4-SIGNED"
    assert signed["objection"]["id"] == objection["id"]
    assert signed["objection"]["body_sha256"] == hashlib.sha256(
        "评分标准第3条排斥潜在投标人".encode()).hexdigest()
    before = await _state(conn, objection["id"])
    assert before == (None, None, True)

    # refused, each with its code, and nothing changes
    r = await tenderer.client.post(base, json={"answer": TEXT})
    assert r.status_code == 400  # the signature is required
    r = await tenderer.client.post(base, json={"answer": TEXT + "（补充）",
                                               "signature": tenderer.sign(content)})
    assert r.status_code == 409 and r.json()["code"] == "answer_signature_mismatch", r.text
    stranger = pki.ca1.issue(cn="他人经办人", org="无关单位", credit_code="91110000MA01OBJ00X",
                             purpose="signing")
    foreign = base64.b64encode(cms.sign(content, cert=stranger.cert, key=stranger.key,
                                        chain=stranger.chain)).decode()
    r = await tenderer.client.post(base, json={"answer": TEXT, "signature": foreign})
    assert r.status_code == 422 and r.json()["code"] == "signer_not_of_organization", r.text
    r = await tenderer.client.post(base, json={"answer": TEXT, "signature": "not base64 at all!"})
    assert r.status_code == 400, r.text
    assert await _state(conn, objection["id"]) == before

    r = await tenderer.client.post(base, json={"answer": TEXT, "signature": tenderer.sign(content)})
    assert r.status_code == 200, r.text
    listed = r.json()[0]
    assert listed["answer"] == TEXT and "招标人经办人" in listed["answer_signer"]
    assert listed["answer_sha256"] == hashlib.sha256(content).hexdigest()
    # T7: until the deadline the staff do not learn who objected
    assert listed["organization"] is None and listed["organization_id"] is None
    answered_at, signature, paused = await _state(conn, objection["id"])
    assert answered_at is not None and signature and not paused
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'objection.answer' "
                               "AND object_id = $1", str(tender["id"])) == 1

    # the objector downloads the answer and its signature; openssl checks them
    await login(tenderer.client, objector)
    got = await tenderer.client.get(f"{base}.json")
    p7s = await tenderer.client.get(f"{base}.p7s")
    assert got.status_code == 200 and got.content == content
    assert p7s.status_code == 200 and "attachment" in p7s.headers["content-disposition"]
    out = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(pki.write("answer.p7s", p7s.content)),
         "-content", str(pki.write("answer.json", got.content)),
         "-CAfile", str(pki.root_file(pki.ca1)), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    # another bidder sees neither
    await login(tenderer.client, await world.user("bidder", await world.org("bidder")))
    assert (await tenderer.client.get(f"{base}.json")).status_code == 404
    assert (await tenderer.client.get(f"{base}.p7s")).status_code == 404


async def test_an_unanswered_objection_has_no_signed_answer(
        tenderer: Tenderer, world: World) -> None:
    tender = await _published(tenderer, "T-T4-NOANSWER")
    objection = await _object(tenderer, world, tender["id"])
    base = f"/api/tenders/{tender['id']}/objections/{objection['id']}/answer"
    assert (await tenderer.client.get(f"{base}.json")).status_code == 404
    assert (await tenderer.client.get(f"{base}.p7s")).status_code == 404


async def test_staff_learn_the_objector_only_from_the_deadline(
        tenderer: Tenderer, world: World, conn: asyncpg.Connection) -> None:
    tender = await _published(tenderer, "T-T4-T7")
    objection = await _object(tenderer, world, tender["id"])
    objector = await conn.fetchrow(
        "SELECT o.id, o.name FROM objections j JOIN organizations o ON o.id = j.organization_id "
        "WHERE j.id = $1", objection["id"])
    listed = (await tenderer.client.get(f"/api/tenders/{tender['id']}/objections")).json()
    assert [(o["organization"], o["organization_id"]) for o in listed] == [(None, None)]
    page = await tenderer.client.get(f"/workspace/tenders/{tender['id']}")
    assert page.status_code == 200 and objector["name"] not in page.text
    assert "异议人（投标截止前保密）" in page.text
    await move_deadline(conn, tender["id"], -1)
    listed = (await tenderer.client.get(f"/api/tenders/{tender['id']}/objections")).json()
    assert [(o["organization"], o["organization_id"]) for o in listed] == [
        (objector["name"], str(objector["id"]))]
