"""The opening officers' fallback (S6): k shares rebuild the lot's key, in memory only.

When the window closes on a lot whose rule is 'officers', the bids left closed
wait for the officers. Each officer fetches the share sealed to their own
encryption certificate at publication, unseals it on their own machine, and
hands it over signed in. A share is checked for its lot and index on arrival
and held sealed under the platform's key (nothing before the deadline can be
handed over, so nothing that opens a bid is ever held before it). With k in,
a job rebuilds the opening key in memory, opens the remaining bids one by one,
each in a transaction of its own that the hall shows at once, and then wipes
the held shares and forgets the key. Every share and every use is audited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import os
import secrets
from typing import Any
from uuid import UUID

import asyncpg
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import audit, jobs
from core.auth import Principal
from core.errors import DomainError, InvalidInput
from core.settings import Settings
from signing import shares
from signing.trust import load_trust_store
from trading import chronograph
from trading.bids import queries as bid_queries
from trading.opening import decrypt, errors, hall, lots
from trading.opening import queries as q

JOB = "open_by_officers"


def _holding_key(settings: Settings) -> AESGCM:
    """The key held shares wait under: derived from the platform's secret, never stored."""
    secret = settings.web.session_secret.encode()
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
        # the platform's secret changed since: the officer hands the share over again
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
                 out: hall.Outgoing, settings: Settings, *, lot_id: UUID,
                 share: bytes) -> dict[str, Any]:
    """Hand over one's unsealed share after the window has closed on bids left closed."""
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
        await hall.emit(conn, out, lot_id, "officers.share_submitted",
                        {"officer": mine["officer_name"], "index": index, "have": have,
                         "need": lot["officers_k"]})
        if have >= lot["officers_k"]:
            # one job per share that completes a set (the job does nothing once the lot is read)
            await jobs.enqueue(conn, open_by_officers,
                               f"officers-open:{lot_id}:{index}:{secrets.token_hex(4)}",
                               lot_id=str(lot_id))
    return {"lot_id": lot_id, "index": index, "have": have, "need": lot["officers_k"],
            "status": lot["status"]}


async def _readable_shares(conn: asyncpg.Connection, out: hall.Outgoing, settings: Settings,
                           lot_id: UUID) -> list[bytes]:
    """The held shares; one that no longer unseals (the platform's secret changed since) is
    released, so that its officer hands it over again."""
    shares_in = []
    for row in await conn.fetch(q.HELD_SHARES, lot_id):
        try:
            shares_in.append(unhold(settings, lot_id, row["share_index"], bytes(row["held"])))
        except errors.HeldShareUnreadable:
            async with conn.transaction():
                await conn.execute(q.RELEASE_SHARE, lot_id, row["share_index"])
                await audit.record(conn, audit.SYSTEM, "opening_share.released", "lot", lot_id,
                                   {"index": row["share_index"], "reason": "unreadable"})
                await hall.emit(conn, out, lot_id, "officers.share_resubmit",
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


async def open_remaining(pool: asyncpg.Pool, store: Any, redis: Any, settings: Settings,
                         lot_id: UUID) -> int:
    """Open the lot's bids left closed with the rebuilt key; how many opened. Each bid is
    recorded in its own transaction; a retry carries on where this stopped. One job at a
    time per lot: another that finds it busy leaves the work to it."""
    async with pool.acquire() as conn:
        if not await conn.fetchval(q.TRY_LOCK_OFFICERS, str(lot_id)):
            return 0
        try:
            return await _open_remaining(conn, store, redis, settings, lot_id)
        finally:
            await conn.fetchval(q.UNLOCK_OFFICERS, str(lot_id))


async def _open_remaining(conn: asyncpg.Connection, store: Any, redis: Any,
                          settings: Settings, lot_id: UUID) -> int:
    lot = await conn.fetchrow(q.LOT_FOR_OFFICERS, lot_id)
    if lot is None or lot["status"] != "officers":
        return 0
    out = hall.Outgoing()
    held = await _readable_shares(conn, out, settings, lot_id)
    await hall.publish(redis, out)
    if len(held) < lot["officers_k"]:
        return 0  # the released shares are handed over again, and a new job follows
    certificate = x509.load_der_x509_certificate(bytes(lot["opening_cert_der"]))
    trust = await load_trust_store(conn)
    try:
        key = rebuild(lot_id, certificate, lot["officers_k"], held)
    except shares.ShareError as exc:
        async with conn.transaction():
            await audit.record(conn, audit.SYSTEM, "opening_key.rebuild_failed", "lot",
                               lot_id, {"code": exc.code, "shares": len(held)})
            await hall.emit(conn, out, lot_id, "officers.rebuild_failed",
                            {"code": exc.code, "shares": len(held)})
        await hall.publish(redis, out)
        return 0
    opened = 0
    try:
        for closed in await conn.fetch(q.UNOPENED_BIDS, lot_id):
            bid = dict(await conn.fetchrow(bid_queries.GET_BID, closed["id"]))
            try:
                # StoredBidUnreadable (the platform's) propagates: the job is retried
                result = await decrypt.decrypt_stored(store, trust, bid, cert=certificate,
                                                      key=key)
            except errors.StoredBidUnreadable:
                raise
            except DomainError as exc:  # the bid itself is at fault (S6)
                async with conn.transaction():
                    await decrypt.record_failure(conn, audit.SYSTEM, out, bid, exc.code)
                    await lots.record_not_opened(conn, out, bid, lot_id)
            else:
                async with conn.transaction():  # the lot's lock first, then the audit
                    _, new = await decrypt.record(conn, audit.SYSTEM, out, bid, result,
                                                  by="officers", user_id=None)
                    if new:
                        await audit.record(conn, audit.SYSTEM, "opening_key.used", "bid",
                                           bid["id"], {"lot": str(lot_id)})
                opened += new
            await hall.publish(redis, out)
    finally:
        del key  # the whole key existed only in this frame
    async with conn.transaction():
        await conn.execute(q.LOCK_TENDER, lot["tender_id"])
        await conn.execute(q.LOCK_LOT_OPENING, lot_id)  # before the audit: lock order
        wiped = await conn.fetchval(q.WIPE_SHARES, lot_id)
        await audit.record(conn, audit.SYSTEM, "opening_key.discarded", "lot", lot_id,
                           {"opened": opened, "shares_wiped": wiped})
        await hall.emit(conn, out, lot_id, "officers.done", {"opened": opened})
        await lots.settle_if_read(conn, out, lot_id)
        await lots.settle_tender(conn, lot["tender_id"])
        await chronograph.schedule_next(conn, lot["tender_id"])
    await hall.publish(redis, out)
    return opened


@jobs.job
async def open_by_officers(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await open_remaining(ctx["db_pool"], ctx["store"], ctx.get("redis"), ctx["settings"],
                             UUID(args["lot_id"]))
    await jobs.run_once(ctx, outbox_id, body)
