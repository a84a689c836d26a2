"""Finalize: the checks and the bytes first, then the bid recorded in one short transaction.

No transaction, row lock or pooled connection is held while the network is
used (OCSP, the object store): a slow responder or store delays only the
bidder who waits on it, never the pool or the other bidders. In order:

1. **Read** (a short transaction): the upload, its lot and organization and the
   trust store. A finalized upload answers with its bid. Early refusals, each
   with its own error: incomplete or corrupted upload; the lot is not open;
   the organization did not obtain the documents. Then the finalize **claims**
   the upload (its lease, ``uploads.LEASE``, the one parts use): one finalize at
   a time moves this upload's bytes, and the expiry pass leaves it alone.
2. **Check and move bytes** (nothing held): the outer signature over the exact
   bytes received, with a trusted, valid, unrevoked certificate of the
   submitting organization (OCSP is asked here); ``bid.p7m`` is an envelope
   whose recipients include the lot's opening certificate (S2); the size is
   within the lot's limit. Then the S3 upload is completed (the object was
   born locked); an SM3 signature is checked over the object read back.
3. **Decide and write** (one short transaction): the upload row FOR UPDATE,
   the tender row FOR SHARE, then the database clock. The deadline is the
   database's (S1): a bid is in time iff that reading is before
   ``bid_deadline``. The share lock makes the deadline transition (and an
   opening's start, S5) wait for a finalize at this step, and the clock is read
   after the lock is held; ``received_at`` is that reading and it is what the
   receipt says. The bid, its receipt, marks, receipt job and audit record are
   written, and the claim released.

A refusal writes nothing: the upload stays as it was (the claim is released)
and the bidder may fix the signature and finalize again. Concurrent finalizes
of one upload: the second waits for the first's claim (never holding a
connection meanwhile), then answers with the first's bid, or, if the first
was refused, goes on itself; one bid per upload is all the database allows.

Retrying is safe: a finalized upload answers with its bid and receipt. A crash
anywhere leaves either no bid (step 3 never committed; the claim lapses within
the lease) or the bid with its receipt (it did); the S3 completion is
repeatable. The store's failures answer 503 ``storage_unavailable`` with
Retry-After. A store that died while completing may keep the completion
locked for minutes (radosgw: 10); when no complete object is there, the
upload is restarted under the same idempotency key (a new multipart upload,
no parts) and the bidder told to upload again (``bid_upload_restarted``), so
the store cannot hold a bid out past its deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bidformat.device import marks
from core import audit, faults, jobs
from core.auth import Principal
from core.settings import Settings
from core.storage import CompletionInProgress, ObjectStore
from signing import cms, identity, tsa
from signing.pathval import TrustStore
from signing.resumable import ResumableSHA256
from signing.trust import load_trust_store
from trading.bids import envelope_check, errors, expiry, receipts, uploads
from trading.bids import queries as q
from trading.bids.jobs import render_bid_receipt_pdf

Transaction = uploads.Transaction
# a finalize that finds another one holding the upload waits this long for it at most
WAIT_FOR_OTHER = uploads.LEASE + timedelta(seconds=5)
# when the stuck completion's parts are dropped: after the store lets go of them
# (radosgw's rgw_mp_lock_max_time, 600 s, by default)
STUCK_UPLOAD_ABORT_AFTER = timedelta(minutes=11)


@dataclass
class _Claimed:
    upload: dict[str, Any]
    lot: dict[str, Any]
    org: dict[str, Any]
    trust: TrustStore
    sha256: bytes
    token: UUID


async def _read_and_claim(conn: asyncpg.Connection, org_id: UUID,
                          upload_id: UUID) -> _Claimed | dict[str, Any] | None:
    """Step 1: the claimed upload; the bid when already finalized; None when another holds it."""
    row = await conn.fetchrow(q.GET_UPLOAD, upload_id)
    if row is None or row["organization_id"] != org_id:
        raise errors.BidNotFound()
    upload = dict(row)
    if upload["status"] == "finalized":
        return await bid_row(conn, upload["bid_id"])
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
    # 1. the lot is open (checked again at the deciding write); 2. documents obtained
    uploads.check_open(lot, await conn.fetchval(q.CLOCK))
    await uploads.check_holder(conn, lot, org_id)
    token = uuid4()
    if await conn.fetchval(q.CLAIM_UPLOAD, upload_id, upload["parts_done"], token,
                           uploads.LEASE) is None:
        return None
    return _Claimed(upload, lot, org, await load_trust_store(conn), sha256, token)


async def _claim(tx: Transaction, org_id: UUID,
                 upload_id: UUID) -> _Claimed | dict[str, Any]:
    """Step 1, waiting (with no connection held) while another finalize holds the upload."""
    give_up = time.monotonic() + WAIT_FOR_OTHER.total_seconds()
    pause = 0.1
    while True:
        async with tx() as conn:
            got = await _read_and_claim(conn, org_id, upload_id)
            if got is None and time.monotonic() >= give_up:
                raise errors.UploadBusy(
                    {"upload": str(upload_id)},
                    retry_after=await uploads.lease_left(conn, upload_id))
        if got is not None:
            return got
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


class _Renewer:
    """Keeps the claim alive while bytes move (at most every RENEW_EVERY seconds)."""

    def __init__(self, tx: Transaction, upload_id: UUID, token: UUID) -> None:
        self.tx, self.upload_id, self.token = tx, upload_id, token
        self.last = time.monotonic()

    async def __call__(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.last < uploads.RENEW_EVERY:
            return
        async with self.tx() as conn:
            await conn.fetchval(q.RENEW_LEASE, self.upload_id, self.token, uploads.LEASE)
        self.last = time.monotonic()


async def _complete(store: ObjectStore, upload: dict[str, Any]) -> str | None:
    parts = list(enumerate(upload["part_etags"], start=1))
    stored = await store.complete_multipart(uploads.BUCKET, upload["object_key"],
                                            upload["s3_upload_id"], parts)
    if stored.size != upload["size"]:
        raise errors.UploadIncomplete({"stored": stored.size, "size": upload["size"]})
    return stored.version_id


async def _verify_outer(store: ObjectStore, c: _Claimed, signature: bytes,
                        renew: _Renewer) -> tuple[cms.Verified, str | None, bool]:
    """The bidder's detached signature over the exact bytes of ``bid.p7m``: (who signed,
    the completed version when completing was needed to check, whether it was)."""
    der = cms.pem_to_der(signature)
    algorithm = cms.digest_algorithm(der)
    version_id, completed = None, False
    if algorithm == "sha256":
        verified = await cms.verify(der, trust=c.trust, digests={"sha256": c.sha256})
    else:  # SM3 (an SM2 signer) or another hash: from the stored object, read back once
        version_id, completed = await _complete(store, c.upload), True
        digest = cms.HASHES[algorithm]()
        async for chunk in store.get_stream(uploads.BUCKET, c.upload["object_key"]):
            digest.update(chunk)
            await renew()
        verified = await cms.verify(der, trust=c.trust, digests={algorithm: digest.digest()})
    if identity.credit_code(verified.signer) != c.org["credit_code"]:
        raise errors.SignerNotBidder({"certificate": verified.subject,
                                      "expected_credit_code": c.org["credit_code"]})
    return verified, version_id, completed


async def _restart(tx: Transaction, store: ObjectStore, settings: Settings, c: _Claimed,
                   actor: audit.Actor, cause: CompletionInProgress) -> errors.UploadRestarted:
    """The store keeps the completion locked and no object is there: a new multipart upload
    under the same row (and idempotency key), its parts to be sent again."""
    up = c.upload
    key, s3_id = await uploads.new_multipart(store, settings, c.lot, up["id"])
    async with tx() as conn:
        done = await conn.fetchval(q.RESTART_UPLOAD, up["id"], c.token, key, s3_id,
                                   ResumableSHA256().state())
        if done is None:  # the claim lapsed and someone else went on: leave it to them
            await store.abort_multipart(uploads.BUCKET, key, s3_id)
            return errors.UploadRestarted({"upload": str(up["id"])})
        await audit.record(conn, actor, "bid_upload.restarted", "bid_upload", up["id"], {
            "object_key": up["object_key"], "reason": cause.code})
        await jobs.enqueue(conn, expiry.abort_stale_upload, f"bid-upload-stale:{up['s3_upload_id']}",
                           available_at=await conn.fetchval(q.CLOCK) + STUCK_UPLOAD_ABORT_AFTER,
                           object_key=up["object_key"], s3_upload_id=up["s3_upload_id"])
    return errors.UploadRestarted({"upload": str(up["id"]), "parts_done": 0})


async def finalize(tx: Transaction, store: ObjectStore, settings: Settings,
                   authority: tsa.TimestampAuthority | None, principal: Principal,
                   actor: audit.Actor, *, upload_id: UUID,
                   signature: bytes) -> tuple[dict[str, Any], bool]:
    """The bid (new: True; a retried finalize: False). ``tx`` opens a short transaction."""
    org_id = uploads.bidder_org(principal)
    claimed = await _claim(tx, org_id, upload_id)
    if not isinstance(claimed, _Claimed):
        return claimed, False
    c = claimed
    renew = _Renewer(tx, upload_id, c.token)
    try:
        try:
            # 3. the outer signature (OCSP: with nothing held; SM3: over the completed object)
            verified, version_id, completed = await _verify_outer(store, c, signature, renew)
            await renew()
            # 4. an envelope for the lot's opening certificate
            head = envelope_check.inspect(bytes(c.upload["head"]), size=c.upload["size"])
            envelope_check.require_recipient(
                head, x509.load_der_x509_certificate(c.lot["opening_cert_der"]))
            # 5. the size
            uploads.check_size(c.lot, c.upload["size"])
            if not completed:
                version_id = await _complete(store, c.upload)
        except CompletionInProgress as exc:
            raise await _restart(tx, store, settings, c, actor, exc) from None
        await faults.point("bid.finalize.stored")
        await renew(force=True)
        async with tx() as conn:
            return await _record(conn, c, settings, authority, principal, actor,
                                 verified=verified, head=head, signature=signature,
                                 version_id=version_id)
    except BaseException:
        try:
            async with tx() as conn:
                await conn.execute(q.RELEASE_LEASE, upload_id, c.token)
        except Exception:  # noqa: S110 - the claim lapses by itself within the lease
            pass
        raise


async def _record(conn: asyncpg.Connection, c: _Claimed, settings: Settings,
                  authority: tsa.TimestampAuthority | None, principal: Principal,
                  actor: audit.Actor, *, verified: cms.Verified, head: envelope_check.EnvelopeHead,
                  signature: bytes, version_id: str | None) -> tuple[dict[str, Any], bool]:
    """Step 3: decide by the database clock and write, under the upload's and tender's locks."""
    up, lot, org = c.upload, c.lot, c.org
    upload = await conn.fetchrow(q.LOCK_UPLOAD, up["id"])
    if upload["status"] == "finalized":  # a finalize that outlived our claim won
        return await bid_row(conn, upload["bid_id"]), False
    uploads.check_not_expired(dict(upload))
    if upload["busy_token"] != c.token or upload["s3_upload_id"] != up["s3_upload_id"]:
        raise errors.UploadBusy({"upload": str(up["id"])})

    # the deciding moment: tender share-locked, then the database clock
    tender = await conn.fetchrow(q.LOCK_TENDER_SHARE, lot["tender_id"])
    received_at = await conn.fetchval(q.CLOCK)
    uploads.check_open({**lot, "status": tender["status"],
                        "bid_deadline": tender["bid_deadline"]}, received_at)

    bid_id = uuid4()
    org_id = org["id"]
    sha256 = c.sha256
    replaces = await conn.fetchval(q.SUPERSEDE, lot["lot_id"], org_id, received_at)
    der = cms.pem_to_der(signature)
    bid = {
        "id": bid_id, "tender_id": lot["tender_id"], "tender_code": lot["code"],
        "lot_id": lot["lot_id"], "lot_number": lot["number"], "organization_id": org_id,
        "bidder_name": org["name"], "bidder_credit_code": org["credit_code"],
        "p7m_sha256": sha256, "p7s_sha256": hashlib.sha256(der).digest(), "size": up["size"],
        "signer_subject": verified.subject, "recipients": head.recipients,
        "received_at": received_at, "bid_deadline": tender["bid_deadline"], "replaces": replaces,
    }
    receipt = await receipts.issue(settings, authority, receipts.bid_receipt(bid))
    ips = await conn.fetchval(q.SET_UPLOAD_FINALIZED, up["id"],
                              audit.normalize_ip(actor.client_ip))
    await conn.execute(
        q.INSERT_BID, bid_id, lot["tender_id"], lot["lot_id"], org_id, principal.user_id,
        up["id"], up["object_key"], version_id, up["size"], sha256, der,
        bid["p7s_sha256"], verified.subject,
        hashlib.sha256(verified.signer.public_bytes(Encoding.DER)).digest(), head.kind,
        head.cipher, head.recipients, received_at, receipt.p7s, receipt.tst, replaces, ips,
        up["device"], up["creator"])
    found = marks(up["device"], client_ip=None, creator=up["creator"])
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
