"""The opening officers' fallback (S6): k shares rebuild the lot's key, in memory only.

When the window closes on a lot whose rule is 'officers', the bids left closed
wait for the officers. Each officer fetches the share sealed to their own
encryption certificate at publication, unseals it on their own machine, and
hands it over signed in. A share is checked for its lot and index on arrival
and held sealed under the platform's share-holding key (``SHARE_HOLD_KEY``, its
own secret: rotating the session secret leaves held shares readable; nothing
before the deadline can be handed over, so nothing that opens a bid is ever
held before it). With k in, a job (``open_by_officers``, trading/opening/jobs.py)
rebuilds the opening key in memory, opens the remaining bids one by one, each in
a transaction of its own that the hall shows at once, and then wipes the held
shares and forgets the key. Every share and every use is audited.

One job per lot and round: its key names the lot and how many times the set
had to be completed again (a held share released, a rebuild that failed), so
the outbox absorbs the job a further share would ask for in the same round.
Two runs at once (a re-delivery) are harmless: each bid is recorded once, and
the last step is taken under the lot's row lock only while the lot still
waits for the officers. No lock outlives its transaction.

The job's work is here and trading/opening/jobs.py imports it, so this module
cannot import that one back: the requests it makes are arguments its callers hand
down, ``request_officers`` (the k-th share asks for the job) and ``request_record``
(a lot read out asks for the record's next issue).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import audit, db
from core.auth import Principal
from core.errors import DomainError, InvalidInput
from core.settings import Settings
from signing import shares
from signing.trust import load_trust_store
from trading.bids import queries as bid_queries
from trading.opening import decrypt, errors, hall, lots
from trading.opening import queries as q
from trading.tenders.schedule import schedule_next

# Asks, in the caller's transaction, for the officers' job of the lot's current round:
# (conn, lot_id).
RequestOfficers = Callable[[asyncpg.Connection, UUID], Awaitable[None]]


def _holding_key(settings: Settings) -> AESGCM:
    """The key held shares wait under: derived from a secret of its own, never stored (the
    session secret is rotated for reasons of its own, and must not strand held shares)."""
    secret = settings.share_hold_key.encode()
    return AESGCM(HKDF(hashes.SHA256(), 32, salt=None,
                       info=b"tenderhall opening shares v1").derive(secret))


def _aad(lot_id: UUID, index: int) -> bytes:
    return lot_id.bytes + bytes([index])


def hold(settings: Settings, lot_id: UUID, index: int, share: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + _holding_key(settings).encrypt(nonce, share, _aad(lot_id, index))


def unhold(settings: Settings, lot_id: UUID, index: int, held: bytes) -> bytes:
    try:
        return _holding_key(settings).decrypt(held[:12], held[12:], _aad(lot_id, index))
    except InvalidTag:
        # the holding key changed since: the officer hands the share over again
        raise errors.HeldShareUnreadable({"index": index}) from None


def share_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput({"field": "share", "expected": "base64"},
                           message="密钥分片应为 Base64 编码",
                           message_en="The share must be base64") from None


async def my_share(conn: asyncpg.Connection, principal: Principal,
                   lot_id: UUID) -> dict[str, Any]:
    """The caller's sealed share of the lot's key (only its officer can unseal it)."""
    row = await conn.fetchrow(q.MY_SHARE, lot_id, principal.user_id)
    if row is None:
        raise errors.NotAnOfficer()
    return dict(row)


async def submit(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                 settings: Settings, *, lot_id: UUID, share: bytes,
                 request_officers: RequestOfficers) -> dict[str, Any]:
    """Hand over one's unsealed share after the window has closed on bids left closed; the
    k-th asks for the officers' job (``request_officers``, in this transaction)."""
    mine = await conn.fetchrow(q.MY_SHARE_FOR_UPDATE, lot_id, principal.user_id)
    if mine is None:
        raise errors.NotAnOfficer()
    lot = await conn.fetchrow(q.LOT_OPENING_FOR_UPDATE, lot_id)
    if lot is None or lot["status"] != "officers":
        raise errors.SharesNotNeeded({"status": lot["status"] if lot else "not_started"})
    share_lot, index, *_ = shares.decode(share)
    if share_lot != lot_id:
        raise shares.ShareForAnotherLot({"share_lot": str(share_lot)})
    if index != mine["share_index"]:
        raise shares.ShareError({"reason": "not_your_share", "index": index},
                                message="该分片不是分配给您的分片",
                                message_en="This share is not the one sealed to you")
    if mine["submitted_at"] is None:
        await conn.execute(q.HOLD_SHARE, lot_id, index, hold(settings, lot_id, index, share))
        await audit.record(conn, actor, "opening_share.submitted", "lot", lot_id,
                           {"index": index, "share_sha256": hashlib.sha256(share).hexdigest()})
    have = await conn.fetchval(q.HELD_COUNT, lot_id)
    if mine["submitted_at"] is None:
        await hall.emit(conn, lot_id, "officers.share_submitted",
                        {"officer": mine["officer_name"], "index": index, "have": have,
                         "need": lot["officers_k"]})
        if have >= lot["officers_k"]:
            await request_officers(conn, lot_id)
    return {"lot_id": lot_id, "index": index, "have": have, "need": lot["officers_k"],
            "status": lot["status"]}


async def job_key(conn: asyncpg.Connection, lot_id: UUID) -> str:
    """The officers' job for the lot's current round: a further share in the same round asks
    for the same job (the outbox keeps one); a share released or a rebuild that failed
    starts a new round, whose completed set needs a new run."""
    return f"officers-open:{lot_id}:{await conn.fetchval(q.OFFICERS_ROUND, lot_id)}"


async def _readable_shares(conn: asyncpg.Connection, env: Mapping[str, Any],
                           settings: Settings, lot_id: UUID) -> list[bytes]:
    """The held shares; one that no longer unseals (the holding key changed since) is
    released, so that its officer hands it over again."""
    shares_in = []
    for row in await conn.fetch(q.HELD_SHARES, lot_id):
        try:
            shares_in.append(unhold(settings, lot_id, row["share_index"], bytes(row["held"])))
        except errors.HeldShareUnreadable:
            async with db.transaction(conn, env):
                if await conn.fetchval(q.RELEASE_SHARE, lot_id, row["share_index"]) is None:
                    continue  # released (or used) meanwhile by another run
                await audit.record(conn, audit.SYSTEM, "opening_share.released", "lot", lot_id,
                                   {"index": row["share_index"], "reason": "unreadable"})
                await hall.emit(conn, lot_id, "officers.share_resubmit",
                                {"index": row["share_index"]})
    return shares_in


def rebuild(lot_id: UUID, certificate: x509.Certificate, k: int,
            held: list[bytes]) -> ec.EllipticCurvePrivateKey:
    """The opening key from any k of the shares that match the certificate (a share
    handed over wrong spoils only the sets it is in)."""
    last: DomainError = shares.NotEnoughShares({"have": len(held), "need": k})
    for chosen in itertools.combinations(held, k):
        try:
            return shares.recombine(lot_id, certificate, list(chosen))
        except shares.ShareError as exc:
            last = exc
    raise last


async def open_remaining(conn: asyncpg.Connection, store: Any, settings: Settings,
                         lot_id: UUID, *, env: Mapping[str, Any],
                         request_record: lots.RequestRecord) -> int:
    """Open the lot's bids left closed with the rebuilt key; how many opened.

    ``conn`` is not in a transaction: each bid is recorded in a transaction of its own
    (the hall shows it at once, its events published with ``env``'s Redis), and nothing
    is held open while a bid is fetched and decrypted. A retry carries on where this
    stopped."""
    lot = await conn.fetchrow(q.LOT_FOR_OFFICERS, lot_id)
    if lot is None or lot["status"] != "officers":
        return 0
    held = await _readable_shares(conn, env, settings, lot_id)
    if len(held) < lot["officers_k"]:
        return 0  # the released shares are handed over again, and a new job follows
    certificate = x509.load_der_x509_certificate(bytes(lot["opening_cert_der"]))
    trust = await load_trust_store(conn)
    try:
        key = rebuild(lot_id, certificate, lot["officers_k"], held)
    except shares.ShareError as exc:
        async with db.transaction(conn, env):
            await audit.record(conn, audit.SYSTEM, "opening_key.rebuild_failed", "lot",
                               lot_id, {"code": exc.code, "shares": len(held)})
            await hall.emit(conn, lot_id, "officers.rebuild_failed",
                            {"code": exc.code, "shares": len(held)})
        return 0
    opened = 0
    try:
        for closed in await conn.fetch(q.UNOPENED_BIDS, lot_id):
            if await conn.fetchval(q.BID_DECIDED, closed["id"]):
                continue  # another run got there first
            bid = dict(await conn.fetchrow(bid_queries.GET_BID, closed["id"]))
            try:
                # StoredBidUnreadable (the platform's) propagates: the job is retried
                result = await decrypt.decrypt_stored(store, trust, bid, cert=certificate,
                                                      key=key)
            except errors.StoredBidUnreadable:
                raise
            except DomainError as exc:  # the bid itself is at fault (S6)
                async with db.transaction(conn, env):
                    await decrypt.record_failure(conn, audit.SYSTEM, bid, exc.code)
                    await lots.record_not_opened(conn, bid, lot_id)
            else:
                async with db.transaction(conn, env):  # the lot's lock first, then the audit
                    _, new = await decrypt.record(conn, audit.SYSTEM, bid, result,
                                                  by="officers", user_id=None,
                                                  request_record=request_record)
                    if new:
                        await audit.record(conn, audit.SYSTEM, "opening_key.used", "bid",
                                           bid["id"], {"lot": str(lot_id)})
                opened += new
    finally:
        del key  # the whole key existed only in this frame
    async with db.transaction(conn, env):
        await conn.execute(q.LOCK_TENDER, lot["tender_id"])
        await conn.execute(q.LOCK_LOT_OPENING, lot_id)  # before the audit: lock order
        wiped = await conn.fetchval(q.WIPE_SHARES, lot_id)
        if not wiped:
            return opened  # another run has finished the lot: done once
        await audit.record(conn, audit.SYSTEM, "opening_key.discarded", "lot", lot_id,
                           {"opened": opened, "shares_wiped": wiped})
        await hall.emit(conn, lot_id, "officers.done", {"opened": opened})
        await lots.settle_if_read(conn, lot_id, request_record=request_record)
        await lots.settle_tender(conn, lot["tender_id"])
        await schedule_next(conn, lot["tender_id"])
    return opened
