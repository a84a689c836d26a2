"""Sealed bids through the API: received with a receipt, refused for each reason, kept sealed."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from litestar import Litestar

from core.storage import MinioStore
from signing import cms, stream, trust, tsa
from signing.envelope import NotARecipient
from tests.conftest import PKI, SYSTEM, Client, World, login
from tests.trading.bidding import (
    MIB,
    b64,
    bid_zip,
    make_bidder,
    obtain,
    seal,
    submit,
    upload,
)
from tests.trading.conftest import Lot, Tenderer
from trading.bids import service
from trading.bids.envelope_check import issuer_name, serial_hex
from trading.bids.jobs import make_receipt_pdf


async def move_deadline(conn: asyncpg.Connection, tender_id: str, seconds: float) -> None:
    """The bid deadline ``seconds`` from the database clock (negative: passed)."""
    await conn.execute("""
        UPDATE tenders SET documents_from = clock_timestamp() - interval '30 days',
            clarification_deadline = NULL,
            bid_deadline = clock_timestamp() + make_interval(secs => $2),
            documents_until = clock_timestamp() + make_interval(secs => $2)
        WHERE id = $1""", tender_id, seconds)


def openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


async def test_a_bid_in_two_parts_gets_a_receipt_that_openssl_checks(
        lot: Lot, client: Client, conn: asyncpg.Connection, pki: PKI, app: Litestar) -> None:
    p7m = lot.sealed(padding=6 * MIB)  # two parts of 5 MiB at most
    r = await submit(client, lot.tender, lot.bidder, p7m, key="first-submission-1")
    assert r.status_code == 201, r.text
    bid = r.json()
    assert bid["status"] == "submitted" and bid["size"] == len(p7m)
    assert bid["p7m_sha256"] == hashlib.sha256(p7m).hexdigest()
    assert bid["envelope_kind"] == "authenticated_enveloped_data"
    assert {r_["serial"] for r_ in bid["recipients"]} == {
        serial_hex(lot.bidder.enc.cert.serial_number), serial_hex(lot.opening.serial_number)}

    receipt = (await client.get(f"/api/bids/{bid['id']}/receipt.p7s")).content
    token = (await client.get(f"/api/bids/{bid['id']}/receipt.tst")).content
    fields = json.loads((await client.get(f"/api/bids/{bid['id']}/receipt.json")).content)
    assert fields["bid_p7m"] == {"sha256": bid["p7m_sha256"], "size": len(p7m)}
    assert fields["bidder"]["credit_code"] == lot.bidder.credit_code
    assert fields["received_at"] < fields["bid_deadline"]
    # one name format in the receipt (RFC 4514, as openssl -nameopt RFC2253 prints it), and
    # serials as whole bytes of hex, leading zero kept
    assert fields["bid_p7m_p7s"]["signer"] == lot.bidder.signer.cert.subject.rfc4514_string()
    assert sorted(fields["recipients"], key=lambda x: x["serial"]) == sorted(
        ({"issuer": c.issuer.rfc4514_string(), "serial": serial_hex(c.serial_number)}
         for c in (lot.bidder.enc.cert, lot.opening)), key=lambda x: x["serial"])

    # checked by openssl alone: the platform's signature and the timestamp over it
    root = pki.root_file(pki.ca1)
    files = {n: pki.write(f"{bid['id']}.{n}", d) for n, d in (("p7s", receipt), ("tst", token))}
    out = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(files["p7s"]),
                  "-CAfile", str(root), "-purpose", "any")
    assert out.returncode == 0, out.stderr.decode()
    assert json.loads(out.stdout) == fields
    out = openssl("ts", "-verify", "-data", str(files["p7s"]), "-in", str(files["tst"]),
                  "-token_in", "-CAfile", str(root), "-untrusted",
                  app.state.settings.tsa_cert_file)
    assert out.returncode == 0 and b"Verification: OK" in out.stdout, out.stderr.decode()
    tampered = pki.write("tampered.p7s", receipt[:-1] + bytes([receipt[-1] ^ 1]))
    out = openssl("ts", "-verify", "-data", str(tampered), "-in", str(files["tst"]),
                  "-token_in", "-CAfile", str(root), "-untrusted",
                  app.state.settings.tsa_cert_file)
    assert out.returncode != 0
    # and here
    assert (await cms.verify(receipt, trust=pki.trust())).content == json.dumps(
        fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    stamped = await tsa.verify_token(token, trust=pki.trust(), content=receipt)
    assert stamped.gen_time.isoformat() >= bid["received_at"][:19]

    # stored as sent, and locked
    store = app.state.store
    key = await conn.fetchval("SELECT object_key FROM bids WHERE id = $1", bid["id"])
    assert hashlib.sha256(await store.get_bytes("bids", key)).digest() == hashlib.sha256(
        p7m).digest()
    lock = await store.get_lock("bids", key)
    assert lock is not None and lock.mode == "COMPLIANCE"

    # a retried finalize and a retried start answer with the same bid
    up_id = await conn.fetchval("SELECT upload_id FROM bids WHERE id = $1", bid["id"])
    r = await client.post(f"/api/bid-uploads/{up_id}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 200 and r.json()["id"] == bid["id"]
    again = await upload(client, lot.tender, p7m, key="first-submission-1")
    assert again["status"] == "finalized" and again["bid_id"] == bid["id"]
    assert await conn.fetchval("SELECT count(*) FROM bids WHERE organization_id = $1",
                               lot.bidder.org_id) == 1


async def test_the_receipt_pdf_is_sealed(lot: Lot, client: Client, conn: asyncpg.Connection,
                                         app: Litestar, pki: PKI) -> None:

    bid = (await submit(client, lot.tender, lot.bidder, lot.sealed())).json()
    assert (await client.get(f"/api/bids/{bid['id']}/receipt.pdf")).status_code == 404
    await make_receipt_pdf(conn, app.state.store, app.state.settings, bid["id"])
    r = await client.get(f"/api/bids/{bid['id']}/receipt.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    path = pki.write("receipt.pdf", r.content)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr


async def test_refused_bids_leave_nothing_and_say_why(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(p7m: bytes, code: str, *, signature: bytes | None = None,
                      status: int | None = None) -> None:
        r = await submit(client, lot.tender, lot.bidder, p7m, signature=signature)
        assert r.json()["code"] == code, r.text
        if status:
            assert r.status_code == status
        assert await conn.fetchval("SELECT count(*) FROM bids WHERE organization_id = $1",
                                   lot.bidder.org_id) == 0

    zipped = bid_zip(lot.tender, lot.bidder)
    # S2: not encrypted at all; signed but not encrypted; encrypted but not for the lot
    await refused(zipped, "bid_not_encrypted", status=422)
    await refused(cms.sign(zipped, cert=lot.bidder.signer.cert, key=lot.bidder.signer.key,
                           detached=False), "bid_not_encrypted")
    await refused(seal(zipped, lot.bidder, [lot.bidder.enc.cert]), "bid_not_for_lot", status=422)
    # for the opening certificate alone: the bidder could not open its own bid
    await refused(seal(zipped, lot.bidder, [lot.opening]), "bid_no_own_recipient", status=422)
    # the outer signature: over other bytes, not a signature, someone else's certificate
    good = lot.sealed()
    await refused(good, "signature_content_mismatch", signature=lot.bidder.sign(b"other"))
    await refused(good, "signature_malformed", signature=b"\x30\x03\x02\x01\x00" * 8)
    other = await make_bidder(conn, world, pki.ca1)
    await refused(good, "bid_signer_not_bidder", signature=other.sign(good))
    untrusted = await make_bidder(conn, world, pki.ca2)
    await refused(good, "certificate_unknown_issuer", signature=untrusted.sign(good))
    revoked = await make_bidder(conn, world, pki.ca1)
    pki.ca1.revoke(revoked.signer.cert.serial_number)

    async def fetch(url: str) -> bytes:
        r = await client.get(urlsplit(url).path)
        r.raise_for_status()
        return r.content

    monkeypatch.setenv("DEV_CA_DIR", str(pki.dir))
    await trust.refresh_crls(conn, fetch=fetch)
    await refused(good, "certificate_revoked", signature=revoked.sign(good))

    # size: over the lot's limit at start, and at finalize when the limit shrank meanwhile
    up = await upload(client, lot.tender, good)
    await conn.execute("UPDATE lots SET max_bid_bytes = 1024 WHERE tender_id = $1",
                       lot.tender["id"])
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(good))})
    assert r.status_code == 413 and r.json()["code"] == "bid_too_large", r.text
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads",
                          json={"size": 2048, "idempotency_key": "too-large-0001"})
    assert r.status_code == 413 and r.json()["code"] == "bid_too_large"
    await conn.execute("UPDATE lots SET max_bid_bytes = 524288000 WHERE tender_id = $1",
                       lot.tender["id"])

    # nothing was lost or changed: the same upload now finalizes with the right signature
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(good))})
    assert r.status_code == 201, r.text


async def test_documents_not_obtained_deadline_and_closed_lot(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    stranger = await make_bidder(conn, world, pki.ca1)
    await login(client, stranger.login)
    p7m = lot.sealed(bidder=stranger)
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads",
                          json={"size": len(p7m), "idempotency_key": "no-documents-01"})
    assert r.status_code == 403 and r.json()["code"] == "documents_not_obtained"

    # an upload begun in time, finalized after the deadline: refused (S1)
    await login(client, lot.bidder.login)
    p7m = lot.sealed()
    up = await upload(client, lot.tender, p7m)
    await move_deadline(conn, lot.tender["id"], -1)
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 409 and r.json()["code"] == "bid_deadline_passed", r.text
    assert r.json()["detail"]["now"] > r.json()["detail"]["bid_deadline"]
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads",
                          json={"size": len(p7m), "idempotency_key": "after-deadline-1"})
    assert r.json()["code"] == "bid_deadline_passed"

    await move_deadline(conn, lot.tender["id"], 3600)
    await conn.execute("UPDATE tenders SET status = 'bidding_closed' WHERE id = $1",
                       lot.tender["id"])
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 409 and r.json()["code"] == "bidding_closed"
    assert await conn.fetchval("SELECT count(*) FROM bids WHERE tender_id = $1",
                               lot.tender["id"]) == 0


async def test_replace_and_withdraw_keep_every_bid(
        lot: Lot, client: Client, conn: asyncpg.Connection, pki: PKI) -> None:
    first = (await submit(client, lot.tender, lot.bidder, lot.sealed(total="990000.00"))).json()
    r = await submit(client, lot.tender, lot.bidder, lot.sealed(total="970000.00"))
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["replaces"] == first["id"]
    old = (await client.get(f"/api/bids/{first['id']}")).json()
    assert old["status"] == "superseded" and old["superseded_by"] == second["id"]
    mine = (await client.get("/api/bids/mine")).json()
    assert [b["id"] for b in mine] == [second["id"], first["id"]]
    receipt = json.loads((await client.get(f"/api/bids/{second['id']}/receipt.json")).content)
    assert receipt["replaces"] == first["id"]

    statement = (await client.get(f"/api/bids/{second['id']}/withdrawal")).content
    r = await client.post(f"/api/bids/{second['id']}/withdraw",
                          json={"signature": b64(lot.bidder.sign(b"not the statement"))})
    assert r.json()["code"] == "signature_content_mismatch"
    r = await client.post(f"/api/bids/{second['id']}/withdraw",
                          json={"signature": b64(lot.bidder.sign(statement))})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    wr = (await client.get(f"/api/bids/{second['id']}/withdrawal-receipt.p7s")).content
    content = (await cms.verify(wr, trust=pki.trust())).content
    assert content is not None and json.loads(content)["type"] == "bid_withdrawal_receipt"
    r = await client.post(f"/api/bids/{second['id']}/withdraw",
                          json={"signature": b64(lot.bidder.sign(statement))})
    assert r.json()["code"] == "bid_not_current"

    # the database refuses any change to a received bid, and any deletion
    with pytest.raises(asyncpg.PostgresError) as changed:
        async with conn.transaction():
            await conn.execute("UPDATE bids SET size = 1 WHERE id = $1", first["id"])
    assert changed.value.constraint_name == "bids_immutable"  # type: ignore[attr-defined]
    with pytest.raises(asyncpg.PostgresError) as deleted:
        async with conn.transaction():
            await conn.execute("DELETE FROM bids WHERE id = $1", first["id"])
    assert deleted.value.constraint_name == "bids_never_deleted"  # type: ignore[attr-defined]

    # after the deadline nothing moves: not even a withdrawal through SQL
    third = (await submit(client, lot.tender, lot.bidder, lot.sealed())).json()
    await move_deadline(conn, lot.tender["id"], -1)
    with pytest.raises(asyncpg.PostgresError) as late:
        async with conn.transaction():
            await conn.execute("UPDATE bids SET status = 'superseded', superseded_at = now() "
                               "WHERE id = $1", third["id"])
    assert late.value.constraint_name == "bids_sealed_after_deadline"  # type: ignore[attr-defined]
    r = await client.post(f"/api/bids/{third['id']}/withdraw", json={
        "signature": b64(lot.bidder.sign((await client.get(
            f"/api/bids/{third['id']}/withdrawal")).content))})
    assert r.json()["code"] == "bid_deadline_passed"


async def test_nobody_else_sees_a_bid_or_can_open_it(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        tenderer: Tenderer, app: Litestar) -> None:
    p7m = lot.sealed()
    bid = (await submit(client, lot.tender, lot.bidder, p7m)).json()
    paths = [f"/api/bids/{bid['id']}", f"/api/bids/{bid['id']}/receipt.p7s",
             f"/api/bids/{bid['id']}/receipt.json", f"/api/bids/{bid['id']}/withdrawal"]
    admin = await world.user("admin")
    rival = await make_bidder(conn, world, pki.ca1)
    for who in (admin, tenderer.login, rival.login):
        await login(client, who)
        for path in paths:
            r = await client.get(path)
            assert r.status_code == 404, (who, path, r.text)
        r = await client.get(f"/api/tenders/{lot.tender['id']}/bid-counts")
        assert r.status_code == 403 and r.json()["code"] == "bids_sealed", (who, r.text)
    await login(client, admin)
    assert (await client.get("/api/bids/mine")).json()["code"] == "not_a_bidder"

    # what the platform stores is an envelope for the bidder and the opening key only;
    # none of the keys the platform holds opens it
    key = await conn.fetchval("SELECT object_key FROM bids WHERE id = $1", bid["id"])
    stored = await app.state.store.get_bytes("bids", key)
    settings = app.state.settings
    for cert_file, key_file in ((settings.platform_cert_file, settings.platform_key_file),
                                (settings.tsa_cert_file, settings.tsa_key_file)):
        with open(cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificates(f.read())[0]
        with open(key_file, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), None)
        with pytest.raises(NotARecipient):
            stream.open_stream(io.BytesIO(stored), io.BytesIO(), cert=cert, key=private)
    assert stored == p7m

    # after the deadline: the staff in charge and supervisors see a count, never who
    await move_deadline(conn, lot.tender["id"], -1)
    for who in (tenderer.login, await world.user("supervisor"), admin):
        await login(client, who)
        r = await client.get(f"/api/tenders/{lot.tender['id']}/bid-counts")
        assert r.status_code == 200 and [c["bids"] for c in r.json()] == [1], r.text
        assert (await client.get(f"/api/bids/{bid['id']}")).status_code == 404
    await login(client, lot.bidder.login)
    r = await client.get(f"/api/tenders/{lot.tender['id']}/bid-counts")
    assert r.json()["code"] == "bids_sealed"


async def test_the_upload_protocol(lot: Lot, client: Client, conn: asyncpg.Connection,
                                   world: World, pki: PKI) -> None:
    p7m = lot.sealed(padding=6 * MIB)
    part = 5 * MIB
    base = f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads"
    r = await client.post(base, json={"size": len(p7m), "idempotency_key": "protocol-test-1",
                                      "part_size": part, "sha256": "0" * 64})
    assert r.status_code == 201
    up = r.json()
    assert up["parts"] == 2 and up["parts_done"] == 0
    same = await client.post(base, json={"size": len(p7m), "idempotency_key": "protocol-test-1",
                                         "part_size": part})
    assert same.status_code == 200 and same.json()["id"] == up["id"]
    r = await client.post(base, json={"size": 99, "idempotency_key": "protocol-test-1"})
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"

    url = f"/api/bid-uploads/{up['id']}/parts"
    r = await client.put(f"{url}/2", content=p7m[part:])
    assert r.status_code == 409 and r.json()["code"] == "bid_part_out_of_order"
    r = await client.put(f"{url}/1", content=p7m[:part - 1])
    assert r.status_code == 400 and r.json()["code"] == "bid_part_wrong_size"
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 409 and r.json()["code"] == "bid_upload_incomplete"
    r = await client.put(f"{url}/1", content=p7m[:part])
    assert r.status_code == 200 and r.json()["parts_done"] == 1
    again = await client.put(f"{url}/1", content=p7m[:part])  # a retry of a received part
    assert again.status_code == 200 and again.json()["parts_done"] == 1
    r = await client.put(f"{url}/2", content=p7m[part:])
    assert r.json()["bytes_done"] == len(p7m)
    # the declared SHA-256 was wrong: the platform says so rather than storing it
    r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                          json={"signature": b64(lot.bidder.sign(p7m))})
    assert r.status_code == 422 and r.json()["code"] == "bid_upload_corrupted"

    rival = await make_bidder(conn, world, pki.ca1)
    await login(client, rival.login)
    assert (await client.get(f"/api/bid-uploads/{up['id']}")).status_code == 404
    assert (await client.put(f"{url}/2", content=p7m[part:])).status_code == 404


async def test_shared_devices_are_flagged_after_the_fact(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI) -> None:
    """C1/C2: two bidders from one machine share marks; the common tool name flags nobody."""

    shared = {"format": 1, "host_id": "4c4c4544-0042-3510-8052-b4c04f4e3732",
              "macs": ["00:1a:2b:3c:4d:5e"], "disks": ["WD-WCC4N0123456"], "hostname": "pc-1",
              "os": "Windows 10"}
    creator = {"tool": "tenderhall", "version": "0.1.0", "machine_code": None}
    rival = await make_bidder(conn, world, pki.ca1)
    await obtain(client, rival, lot.tender)
    alone = await make_bidder(conn, world, pki.ca1)
    await obtain(client, alone, lot.tender)
    for who, device in ((lot.bidder, shared), (rival, shared),
                        (alone, {**shared, "host_id": "other", "macs": ["00:aa:bb:cc:dd:ee"],
                                 "disks": []})):
        await login(client, who.login)
        p7m = lot.sealed(bidder=who)
        up = await upload(client, lot.tender, p7m, device=device, creator=creator)
        r = await client.post(f"/api/bid-uploads/{up['id']}/finalize",
                              json={"signature": b64(who.sign(p7m))})
        assert r.status_code == 201, r.text
    lot_id = lot.tender["lots"][0]["id"]
    flagged = {(m["kind"], m["value"]): set(m["organizations"])
               for m in await service.shared_marks(conn, lot_id)}
    pair = {lot.bidder.org_id, rival.org_id}
    assert flagged[("host_id", shared["host_id"])] == pair
    assert flagged[("mac", "00:1a:2b:3c:4d:5e")] == pair
    # the third bidder shares only the address (the tests all come from 127.0.0.1: C1 too)
    assert flagged[("ip", "127.0.0.1")] == pair | {alone.org_id}
    assert all(orgs == pair for (kind, _), orgs in flagged.items() if kind != "ip")
    assert not any(kind == "creator" for kind, _ in flagged)
    # but the tool is on record for each bid
    assert await conn.fetchval("SELECT count(*) FROM bid_marks WHERE lot_id = $1 "
                               "AND kind = 'creator'", lot_id) == 3


async def test_a_store_outage_answers_503_and_blames_nobody(
        lot: Lot, client: Client, conn: asyncpg.Connection, app: Litestar,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The store unreachable during a part and during finalize: 503 storage_unavailable with
    Retry-After (not bid_part_wrong_size, not a 500); nothing recorded, nothing held, and the
    same requests succeed once the store is back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    real = app.state.store
    dead = MinioStore(replace(app.state.settings.storage, endpoint=f"http://127.0.0.1:{port}"))
    p7m = lot.sealed(padding=6 * MIB)
    part = 5 * MIB
    r = await client.post(f"/api/tenders/{lot.tender['id']}/lots/1/bid-uploads", json={
        "size": len(p7m), "idempotency_key": "store-outage-01", "part_size": part})
    up = r.json()
    url = f"/api/bid-uploads/{up['id']}"
    assert (await client.put(f"{url}/parts/1", content=p7m[:part])).status_code == 200

    def state() -> Any:
        return conn.fetchrow("SELECT parts_done, busy_until, status FROM bid_uploads "
                             "WHERE id = $1", up["id"])

    try:
        monkeypatch.setattr(app.state, "store", dead)
        r = await client.put(f"{url}/parts/2", content=p7m[part:])
        assert r.status_code == 503 and r.json()["code"] == "storage_unavailable", r.text
        assert int(r.headers["retry-after"]) >= 1
        assert tuple(await state()) == (1, None, "open")
        monkeypatch.setattr(app.state, "store", real)
        assert (await client.put(f"{url}/parts/2", content=p7m[part:])).status_code == 200

        monkeypatch.setattr(app.state, "store", dead)
        signature = {"signature": b64(lot.bidder.sign(p7m))}
        r = await client.post(f"{url}/finalize", json=signature)
        assert r.status_code == 503 and r.json()["code"] == "storage_unavailable", r.text
        assert int(r.headers["retry-after"]) >= 1
        assert tuple(await state()) == (2, None, "open")
        assert await conn.fetchval("SELECT count(*) FROM bids WHERE upload_id = $1",
                                   up["id"]) == 0
        monkeypatch.setattr(app.state, "store", real)
        r = await client.post(f"{url}/finalize", json=signature)
        assert r.status_code == 201, r.text
    finally:
        monkeypatch.setattr(app.state, "store", real)
        await dead.aclose()


async def test_an_sm2_signed_bid_is_checked_over_the_stored_object(
        lot: Lot, client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An SM3 outer signature: the object is completed and read back before the checks end,
    with no transaction held; the bid is received like any other."""
    monkeypatch.setenv("DEV_CA_DIR", str(pki.dir))
    for name, cert, crl in (("SM2 root", pki.ca3.root, None),
                            ("SM2 issuing", pki.ca3.issuing, pki.ca3.crl_url)):
        await trust.add_ca(conn, SYSTEM, name=name, certificate=cert.public_bytes(
            serialization.Encoding.PEM), crl_url=crl)

    async def fetch(url: str) -> bytes:
        r = await client.get(urlsplit(url).path)
        r.raise_for_status()
        return r.content

    await trust.refresh_crls(conn, fetch=fetch)
    bidder = await make_bidder(conn, world, pki.ca3)
    await obtain(client, bidder, lot.tender)
    p7m = lot.sealed(bidder=bidder)
    r = await submit(client, lot.tender, bidder, p7m)
    assert r.status_code == 201, r.text
    assert r.json()["p7m_sha256"] == hashlib.sha256(p7m).hexdigest()


def test_recipients_are_named_as_subjects_are_and_serials_keep_whole_bytes(pki: PKI) -> None:
    """The receipt's one format (docs/sealing.md): RFC 4514 names, even-length hex serials."""
    assert [serial_hex(n) for n in (0x1, 0xA1B, 0xABCD, 0x80)] == ["01", "0a1b", "abcd", "80"]
    cert = pki.ca1.issue(cn="名称格式", org="测试单位", purpose="encryption").cert
    name = asn1_x509.Certificate.load(cert.public_bytes(
        serialization.Encoding.DER))["tbs_certificate"]["issuer"]
    assert issuer_name(name) == cert.issuer.rfc4514_string()
