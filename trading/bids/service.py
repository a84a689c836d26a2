"""Bids after finalize: the bidder's own list and receipts, withdrawal, counts after the deadline.

Who may see what (S2, and the "sealed" promise): a bid, its receipt and even
the fact that it exists are visible to its own organization only. Nobody
else, administrators included, gets anything about bids before the deadline;
after it the staff in charge, supervisors and administrators see how many
bids each lot received, and who only once the opening hall shows it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core import audit
from core.auth import Principal
from core.settings import Settings
from signing import cms, identity, tsa
from signing.trust import load_trust_store
from trading.bids import errors, receipts, uploads
from trading.bids import queries as q
from trading.tenders import service as tenders


async def clock(conn: asyncpg.Connection) -> datetime:
    """The moment that decides the deadline (finalize reads the same clock), not the
    transaction's start: what a page shows as time left must agree with it."""
    now: datetime = await conn.fetchval(q.CLOCK)
    return now


async def own_bid(conn: asyncpg.Connection, principal: Principal, bid_id: UUID) -> dict[str, Any]:
    """The caller's organization's bid; anyone else's does not exist (for admins too)."""
    row = await conn.fetchrow(q.GET_BID, bid_id)
    if row is None or principal.organization_id is None or \
            row["organization_id"] != principal.organization_id:
        raise errors.BidNotFound()
    return dict(row)


async def mine(conn: asyncpg.Connection, principal: Principal,
               tender_id: UUID | None = None) -> list[dict[str, Any]]:
    org_id = uploads.bidder_org(principal)
    return [dict(r) for r in await conn.fetch(q.BIDS_OF_ORG, org_id, tender_id)]


async def biddable(conn: asyncpg.Connection, principal: Principal) -> list[dict[str, Any]]:
    """Lots the organization can still bid for, so a bidder with no bid yet learns where to start."""
    org_id = uploads.bidder_org(principal)
    return [dict(r) for r in await conn.fetch(q.BIDDABLE, org_id)]


async def receipt_files(conn: asyncpg.Connection, principal: Principal,
                        bid_id: UUID) -> dict[str, Any]:
    await own_bid(conn, principal, bid_id)
    return dict(await conn.fetchrow(q.RECEIPT, bid_id))


async def withdrawal_statement(conn: asyncpg.Connection, principal: Principal,
                               bid_id: UUID) -> bytes:
    return receipts.withdrawal_statement(await own_bid(conn, principal, bid_id))


async def withdraw(conn: asyncpg.Connection, settings: Settings,
                   authority: tsa.TimestampAuthority | None, principal: Principal,
                   actor: audit.Actor, *, bid_id: UUID, signature: bytes) -> dict[str, Any]:
    """Withdraw before the deadline with a signed statement; the bid is kept, marked withdrawn."""
    uploads.bidder_org(principal)
    bid = await own_bid(conn, principal, bid_id)
    if bid["status"] != "submitted":
        raise errors.BidNotCurrent({"status": bid["status"]})
    statement = receipts.withdrawal_statement(bid)
    verified = await cms.verify(cms.pem_to_der(signature), trust=await load_trust_store(conn),
                                content=statement)
    if identity.credit_code(verified.signer) != bid["bidder_credit_code"]:
        raise errors.SignerNotBidder({"certificate": verified.subject,
                                      "expected_credit_code": bid["bidder_credit_code"]})
    tender = await conn.fetchrow(q.LOCK_TENDER_SHARE, bid["tender_id"])
    now = await conn.fetchval(q.CLOCK)
    uploads.check_open({"status": tender["status"], "bid_deadline": tender["bid_deadline"]}, now)
    receipt = await receipts.issue(settings, authority, receipts.withdrawal_receipt(
        bid, withdrawn_at=now, statement_sha256=hashlib.sha256(statement).digest()))
    if await conn.fetchval(q.WITHDRAW, bid_id, now, cms.pem_to_der(signature), receipt.p7s,
                           receipt.tst) is None:
        raise errors.BidNotCurrent()
    await audit.record(conn, actor, "bid.withdraw", "lot", bid["lot_id"], {
        "bid": str(bid_id), "statement_sha256": hashlib.sha256(statement).hexdigest()})
    return dict(await conn.fetchrow(q.GET_BID, bid_id))


def may_count(principal: Principal, tender: dict[str, Any]) -> bool:
    return tenders.in_charge(principal, tender) or principal.has("supervisor", "admin")


async def counts(conn: asyncpg.Connection, principal: Principal,
                 tender_id: UUID) -> list[dict[str, Any]]:
    """Bids per lot, for the staff in charge and supervisors, after the deadline only."""
    tender = await tenders.get_tender(conn, principal, tender_id)
    if not may_count(principal, tender):
        raise errors.BidsSealed()
    now = await conn.fetchval(q.CLOCK)
    if tender["bid_deadline"] is None or now < tender["bid_deadline"]:
        raise errors.BidsSealed({"bid_deadline": tender["bid_deadline"].isoformat()
                                 if tender["bid_deadline"] else None})
    return [dict(r) for r in await conn.fetch(q.COUNTS, tender_id)]


async def shared_marks(conn: asyncpg.Connection, lot_id: UUID) -> list[dict[str, Any]]:
    """C1/C2: device and tool identifiers that bids of different bidders share in a lot.

    For the opening hall's supervisor view, after the deadline; it names
    organizations, so no route exposes it before then.
    """
    return [dict(r) for r in await conn.fetch(q.SHARED_MARKS, lot_id)]
