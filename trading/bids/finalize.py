"""Finalize: the checks, then the bid stored for good with its receipt, in one transaction.

Checks run in a fixed order, each with its own error: the lot is open for
bids; the organization obtained the documents; the outer signature verifies
over the exact bytes received, with a trusted, valid, unrevoked certificate
of the submitting organization; ``bid.p7m`` is an envelope whose recipients
include the lot's opening certificate (S2); the size is within the lot's
limit. Only then is the S3 upload completed (the object was born locked).

The deadline is the database's (S1): the tender row is share-locked, so the
deadline transition waits for finalizes in flight, and the clock is read after
the lock is held; ``received_at`` is that reading and it is what the receipt
says. A refusal writes nothing: the transaction rolls back, the upload stays
as it was, and the bidder may fix the signature and finalize again.

Retrying is safe: a finalized upload answers with its bid and receipt. A crash
anywhere leaves either nothing (the transaction never committed) or the bid
with its receipt (it did); the S3 completion before it is repeatable.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bidformat.device import marks
from core import audit, faults, jobs
from core.auth import Principal
from core.settings import Settings
from core.storage import ObjectStore
from signing import cms, identity, tsa
from signing.resumable import ResumableSHA256
from signing.trust import load_trust_store
from trading.bids import envelope_check, errors, receipts, uploads
from trading.bids import jobs as _jobs  # noqa: F401 - registers the receipt job it enqueues
from trading.bids import queries as q
from trading.bids.jobs import render_bid_receipt_pdf


async def _verify_outer(conn: asyncpg.Connection, store: ObjectStore, upload: dict[str, Any],
                        signature: bytes, sha256: bytes, org: dict[str, Any]) -> cms.Verified:
    """The bidder's detached signature over the exact bytes of ``bid.p7m``."""
    signature = cms.pem_to_der(signature)
    trust = await load_trust_store(conn)
    algorithm = cms.digest_algorithm(signature)
    if algorithm == "sha256":
        verified = await cms.verify(signature, trust=trust, digests={"sha256": sha256})
    else:  # SM3 (an SM2 signer) or another hash: from the stored object, read back once
        await _complete(store, upload)
        digest = cms.HASHES[algorithm]()
        async for chunk in store.get_stream(uploads.BUCKET, upload["object_key"]):
            digest.update(chunk)
        verified = await cms.verify(signature, trust=trust, digests={algorithm: digest.digest()})
    if identity.credit_code(verified.signer) != org["credit_code"]:
        raise errors.SignerNotBidder({"certificate": verified.subject,
                                      "expected_credit_code": org["credit_code"]})
    return verified


async def _complete(store: ObjectStore, upload: dict[str, Any]) -> str | None:
    parts = list(enumerate(upload["part_etags"], start=1))
    stored = await store.complete_multipart(uploads.BUCKET, upload["object_key"],
                                            upload["s3_upload_id"], parts)
    if stored.size != upload["size"]:
        raise errors.UploadIncomplete({"stored": stored.size, "size": upload["size"]})
    return stored.version_id


async def finalize(conn: asyncpg.Connection, store: ObjectStore, settings: Settings,
                   authority: tsa.TimestampAuthority | None, principal: Principal,
                   actor: audit.Actor, *, upload_id: UUID,
                   signature: bytes) -> tuple[dict[str, Any], bool]:
    """The bid (new: True; a retried finalize: False)."""
    org_id = uploads.bidder_org(principal)
    upload = await conn.fetchrow(q.LOCK_UPLOAD, upload_id)  # retries of one upload queue here
    if upload is None or upload["organization_id"] != org_id:
        raise errors.BidNotFound()
    upload = dict(upload)
    if upload["status"] == "finalized":
        return await bid_row(conn, upload["bid_id"]), False
    uploads.check_not_expired(upload)
    if upload["bytes_done"] != upload["size"]:
        raise errors.UploadIncomplete({"bytes_done": upload["bytes_done"], "size": upload["size"],
                                       "parts_done": upload["parts_done"]})
    sha256 = ResumableSHA256(upload["hash_state"]).digest()
    if upload["declared_sha256"] is not None and bytes(upload["declared_sha256"]) != sha256:
        raise errors.UploadCorrupted({"declared": bytes(upload["declared_sha256"]).hex(),
                                      "received": sha256.hex()})
    lot = dict(await conn.fetchrow(q.LOT_BY_ID, upload["lot_id"]))
    org = dict(await conn.fetchrow(q.ORGANIZATION, org_id))

    # 1. the lot is open; 2. documents obtained
    uploads.check_open(lot, await conn.fetchval(q.CLOCK))
    await uploads.check_holder(conn, lot, org_id)
    # 3. the outer signature
    verified = await _verify_outer(conn, store, upload, signature, sha256, org)
    # 4. an envelope for the lot's opening certificate
    head = envelope_check.inspect(bytes(upload["head"]), size=upload["size"])
    envelope_check.require_recipient(head, x509.load_der_x509_certificate(lot["opening_cert_der"]))
    # 5. the size
    uploads.check_size(lot, upload["size"])

    version_id = await _complete(store, upload)
    await faults.point("bid.finalize.stored")

    # the deciding moment: tender share-locked, then the database clock
    tender = await conn.fetchrow(q.LOCK_TENDER_SHARE, lot["tender_id"])
    received_at = await conn.fetchval(q.CLOCK)
    uploads.check_open({**lot, "status": tender["status"],
                        "bid_deadline": tender["bid_deadline"]}, received_at)

    bid_id = uuid4()
    replaces = await conn.fetchval(q.SUPERSEDE, lot["lot_id"], org_id, received_at)
    der = cms.pem_to_der(signature)
    bid = {
        "id": bid_id, "tender_id": lot["tender_id"], "tender_code": lot["code"],
        "lot_id": lot["lot_id"], "lot_number": lot["number"], "organization_id": org_id,
        "bidder_name": org["name"], "bidder_credit_code": org["credit_code"],
        "p7m_sha256": sha256, "p7s_sha256": hashlib.sha256(der).digest(), "size": upload["size"],
        "signer_subject": verified.subject, "recipients": head.recipients,
        "received_at": received_at, "bid_deadline": tender["bid_deadline"], "replaces": replaces,
    }
    receipt = await receipts.issue(settings, authority, receipts.bid_receipt(bid))
    ips = await conn.fetchval(q.SET_UPLOAD_FINALIZED, upload_id,
                              audit.normalize_ip(actor.client_ip))
    await conn.execute(
        q.INSERT_BID, bid_id, lot["tender_id"], lot["lot_id"], org_id, principal.user_id,
        upload_id, upload["object_key"], version_id, upload["size"], sha256, der,
        bid["p7s_sha256"], verified.subject,
        hashlib.sha256(verified.signer.public_bytes(Encoding.DER)).digest(), head.kind,
        head.cipher, head.recipients, received_at, receipt.p7s, receipt.tst, replaces, ips,
        upload["device"], upload["creator"])
    found = marks(upload["device"], client_ip=None, creator=upload["creator"])
    found += [("ip", str(ip)) for ip in ips or []]
    await conn.executemany(q.INSERT_MARKS, [(bid_id, lot["lot_id"], org_id, kind, value)
                                            for kind, value in dict.fromkeys(found)])
    await jobs.enqueue(conn, render_bid_receipt_pdf, f"bid-receipt-pdf:{bid_id}",
                       bid_id=str(bid_id))
    await audit.record(conn, actor, "bid.submit", "lot", lot["lot_id"], {
        "bid": str(bid_id), "p7m_sha256": sha256.hex(), "replaces": str(replaces) if replaces
        else None, "receipt_sha256": hashlib.sha256(receipt.p7s).hexdigest()})
    await faults.point("bid.finalize.recorded")
    return await bid_row(conn, bid_id), True


async def bid_row(conn: asyncpg.Connection, bid_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(q.GET_BID, bid_id)
    if row is None:
        raise errors.BidNotFound()
    return dict(row)
