"""A bidder opens its own bid at the opening, from its own office (不见面开标, S4, S6).

The bidder's tool unwraps the content key from the bidder's own recipient
entry (``tenderhall bid decrypt --key-only``) and hands it over the
authenticated session. The platform decrypts the stored envelope with it,
checks that the inner signature is the submitting organization's and that
the price sheet names this tender, lot and bidder, and records what the
opening reads out (唱标). The key lives in memory for that request only.
Before the deadline nothing is decrypted: the platform holds no key that
could, and this refuses regardless.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from minio.error import S3Error

from bidformat import sealing
from core import audit
from core.auth import Principal
from core.errors import InvalidInput
from core.storage import ObjectStore
from signing import identity
from signing.keys import PrivateKey
from signing.pathval import TrustStore
from signing.trust import load_trust_store
from trading.bids import errors as bid_errors
from trading.bids import service as bids
from trading.bids.uploads import BUCKET
from trading.opening import errors, hall, lots, view
from trading.opening import queries as q

KEY_SIZES = (16, 24, 32)  # AES-128/192/256 (and SM4's 16)


def content_key(text: str) -> bytes:
    """The base64 content key as bytes, or a clear refusal."""
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) not in KEY_SIZES:
        raise InvalidInput({"field": "content_key", "expected": "base64 of 16, 24 or 32 bytes"},
                           message="内容加密密钥应为 16、24 或 32 字节的 Base64",
                           message_en="The content key must be base64 of 16, 24 or 32 bytes")
    return key


def not_before_deadline(schedule: dict[str, Any], now: datetime) -> None:
    """Nothing is decrypted before the deadline (nor in a tender that never reached it)."""
    opens = schedule["bid_deadline"]
    if schedule["status"] == "cancelled":
        raise errors.TenderCancelled({"status": "cancelled"})
    # a paused tender (T4) has not reached its deadline: the pause will move it
    if schedule["status"] == "draft" or now < opens or schedule["paused_since"] is not None:
        raise errors.OpeningNotStarted({"opens_at": opens.isoformat(), "now": now.isoformat(),
                                        "paused": schedule["paused_since"] is not None})


async def start(conn: asyncpg.Connection, principal: Principal, *, bid_id: UUID,
                request_record: lots.RequestRecord) -> None:
    """The lot's opening started if the deadline has passed (the first to need it starts
    it), in a transaction of its own: a refusal that follows does not undo it."""
    bid = await bids.own_bid(conn, principal, bid_id)  # anyone else's bid does not exist
    if await conn.fetchval(q.OPENING_STARTED, bid["tender_id"]):
        return
    schedule = dict(await conn.fetchrow(q.OPENING_OF_BID_TO_START, bid["tender_id"]))
    now = await conn.fetchval(q.CLOCK)
    not_before_deadline(schedule, now)
    await lots.start(conn, bid["tender_id"], now, request_record=request_record)


HEAD_BYTES = 64 * 1024


async def envelope_head(conn: asyncpg.Connection, principal: Principal, *,
                        bid_id: UUID) -> dict[str, Any]:
    """The caller's own bid, once the deadline has passed, for the first bytes of its envelope.

    The page that decrypts in the browser needs the envelope's recipients to unwrap the content
    key with the bidder's certificate; they sit at its head, within the first 64 KiB. Before the
    deadline the head is refused like the opening itself: nothing about a sealed bid is handed
    out while it is sealed, even to its owner.
    """
    bid = await bids.own_bid(conn, principal, bid_id)
    schedule = dict(await conn.fetchrow(q.OPENING_OF_BID, bid["tender_id"]))
    not_before_deadline(schedule, await conn.fetchval(q.CLOCK))
    return bid


async def prepare(conn: asyncpg.Connection, principal: Principal, *,
                  bid_id: UUID) -> tuple[dict[str, Any] | None, dict[str, Any], TrustStore]:
    """Before decrypting, in a short transaction: the bid opened already (or None), the bid,
    and the trust store for its inner signature; refusals for the rest."""
    bid = await bids.own_bid(conn, principal, bid_id)
    schedule = dict(await conn.fetchrow(q.OPENING_OF_BID, bid["tender_id"]))
    now = await conn.fetchval(q.CLOCK)
    not_before_deadline(schedule, now)
    found = await conn.fetchrow(q.OPENED, bid_id)
    if found is not None:
        return dict(found), bid, await load_trust_store(conn)
    if bid["status"] != "submitted":
        raise bid_errors.BidNotCurrent({"status": bid["status"]})
    lot = await conn.fetchrow(q.LOT_OPENING, bid["lot_id"])
    if lot["status"] == "failed":
        raise errors.LotFailed({"bids": lot["bids_at_deadline"],
                                "required": lot["required_bids"]})
    closes = lot["window_closes_at"]
    if lot["status"] != "decrypting" or now >= closes:
        raise errors.WindowClosed({"closed_at": closes.isoformat(), "now": now.isoformat()})
    return None, bid, await load_trust_store(conn)


async def decrypt_stored(store: ObjectStore, trust: TrustStore, bid: dict[str, Any],
                         cek: bytes | None = None, *, cert: x509.Certificate | None = None,
                         key: PrivateKey | None = None) -> sealing.Opened:
    """Decrypt the stored envelope with ``cek`` (the bidder's) or the lot's opening key
    (the officers'), and check what it holds; no transaction held (a bid of a gigabyte
    takes seconds, and fifty bidders open at once)."""
    with tempfile.TemporaryDirectory(prefix="th-open-") as tmp:
        p7m = Path(tmp) / "bid.p7m"
        digest = hashlib.sha256()
        try:
            with p7m.open("wb") as out:
                async for chunk in store.get_stream(BUCKET, bid["object_key"]):
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.StoredBidUnreadable({"reason": type(exc).__name__}) from None
        # what was received is what is opened: else a wrong-key refusal could blame the bidder
        if digest.digest() != bytes(bid["p7m_sha256"]):
            raise errors.StoredBidUnreadable({"reason": "sha256_differs"})
        with p7m.open("rb") as source:
            try:
                opened = await sealing.open_bid(source, Path(tmp) / "files", trust=trust,
                                                cek=cek, cert=cert, key=key)
            except (ValueError, zipfile.BadZipFile) as exc:  # what only the bidder could fix
                raise errors.BidContentInvalid({"reason": str(exc)[:200]}) from None
    _check(bid, opened)
    return opened


async def record_failure(conn: asyncpg.Connection, actor: audit.Actor, bid: dict[str, Any],
                         code: str) -> None:
    """A refused opening, kept and shown in the hall (in a transaction of its own: the
    refusal does not undo it)."""
    await conn.execute(q.INSERT_ATTEMPT, bid["id"], bid["lot_id"], actor.user_id, code)
    await audit.record(conn, actor, "bid.open_refused", "bid", bid["id"], {"code": code})
    await hall.emit(conn, bid["lot_id"], "bid.open_refused",
                    {"bid_id": str(bid["id"]), "bidder": bid["bidder_name"], "code": code})


def _check(bid: dict[str, Any], opened: sealing.Opened) -> None:
    signer_code = identity.credit_code(opened.verified.signer)
    if signer_code != bid["bidder_credit_code"]:
        raise errors.InnerSignerNotBidder({"signer": opened.verified.subject,
                                           "expected_credit_code": bid["bidder_credit_code"]})
    sheet = opened.sheet
    named = (sheet.tender_code, sheet.lot, sheet.bidder.credit_code)
    expected = (bid["tender_code"], bid["lot_number"], bid["bidder_credit_code"])
    if named != expected:
        raise errors.PriceSheetMismatch({"price_sheet": list(named), "bid": list(expected)})


async def record(conn: asyncpg.Connection, actor: audit.Actor, bid: dict[str, Any],
                 opened: sealing.Opened, *, by: str, user_id: UUID | None,
                 request_record: lots.RequestRecord) -> tuple[dict[str, Any], bool]:
    """What the opening reads out, recorded once (new: True; a retry got there first: False),
    shown in the hall's price table (唱标); the lot is read once its last bid is.

    A key handed over within the window counts even if the decryption ends after it."""
    await conn.execute(q.LOCK_LOT_OPENING, bid["lot_id"])  # one lot's readings in order
    if await conn.fetchval(q.FAILED_BID, bid["id"]):
        # the window closed while this was decrypting, and the bid was decided without it
        raise errors.WindowClosed({"decided": "not_opened"})
    signer_sha256 = hashlib.sha256(opened.verified.signer.public_bytes(Encoding.DER)).digest()
    row = await conn.fetchrow(
        q.INSERT_OPENED, bid["id"], bid["tender_id"], bid["lot_id"], bid["organization_id"],
        by, user_id, opened.verified.subject, signer_sha256,
        opened.sheet.total_price, msgspec.to_builtins(opened.sheet), opened.files)
    if row is None:
        return dict(await conn.fetchrow(q.OPENED, bid["id"])), False
    await audit.record(conn, actor, "bid.open", "bid", bid["id"], {
        "by": by, "total_price": str(opened.sheet.total_price),
        "inner_signer": opened.verified.subject, "files": len(opened.files)})
    await hall.emit(conn, bid["lot_id"], "bid.opened", view.reading(bid, dict(row)))
    await lots.settle_if_read(conn, bid["lot_id"], request_record=request_record)
    return dict(row), True
