"""HTTP routes of the opening: a bidder opens its own bid with its content key; the
officers fetch and hand over their shares of a lot's key.

Each handler takes short transactions of its own and publishes the hall's
events only after they commit.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from core.audit import Actor
from core.auth import Principal, actor_of, authenticate
from core.db import short_transaction
from core.errors import DomainError, NotAuthenticated
from trading.opening import decrypt, hall, officers


class OpenIn(msgspec.Struct, forbid_unknown_fields=True):
    content_key: str  # base64: unwrapped by the bidder from its own recipient entry


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    share: str  # base64: the officer's share, unsealed on the officer's own machine


class SealedShareOut(msgspec.Struct):
    lot_id: UUID
    index: int
    k: int
    n: int
    envelope: str  # base64 CMS envelope to the officer's encryption certificate
    submitted_at: datetime | None
    used_at: datetime | None


class ShareOut(msgspec.Struct):
    lot_id: UUID
    index: int
    have: int
    need: int
    status: str


class OpenedOut(msgspec.Struct):
    bid_id: UUID
    opened_by: str
    opened_at: datetime
    inner_signer: str
    total_price: Decimal
    price_sheet: dict[str, Any]
    files: list[str]


@post("/api/bids/{bid_id:uuid}/open", tags=["opening"])
async def open_bid(request: Request[Any, Any, Any], state: State, bid_id: FromPath[UUID],
                   data: JSONBody[OpenIn]) -> Response[OpenedOut]:
    """Open your own bid after the deadline with its content key (201); a retry answers 200.

    No transaction is held while the bid is fetched and decrypted; a refusal
    is recorded (the hall shows each bidder's progress) before it is answered.
    """
    cek = decrypt.content_key(data.content_key)
    out = hall.Outgoing()
    async with short_transaction(state) as conn:
        user = await signed_in(request, state, conn)
        actor = actor_of(request, user)
        await decrypt.start(conn, user, out, bid_id=bid_id)
    await hall.publish(state.redis, out)
    async with short_transaction(state) as conn:
        found, bid, trust = await decrypt.prepare(conn, user, bid_id=bid_id)
    if found is not None:
        return _out(found, created=False)
    try:
        opened = await decrypt.decrypt_stored(state.store, trust, bid, cek)
    except DomainError as exc:
        async with short_transaction(state) as conn:
            await decrypt.record_failure(conn, actor, out, bid, exc.code)
        await hall.publish(state.redis, out)
        raise
    async with short_transaction(state) as conn:
        row, created = await decrypt.record(conn, actor, out, bid, opened, by="bidder",
                                            user_id=user.user_id)
    await hall.publish(state.redis, out)
    return _out(row, created=created)


async def signed_in(request: Request[Any, Any, Any], state: State,
                     conn: Any) -> Principal:
    user = await authenticate(request, conn, state.settings.web.session_secret)
    if user is None:
        raise NotAuthenticated()
    return user


@asynccontextmanager
async def acting(request: Request[Any, Any, Any],
                 state: State) -> AsyncIterator[tuple[Any, Principal, Actor, hall.Outgoing]]:
    """A signed-in change in a short transaction of its own; the hall's events it wrote are
    published once it has committed (and never if it rolled back)."""
    out = hall.Outgoing()
    async with short_transaction(state) as conn:
        user = await signed_in(request, state, conn)
        yield conn, user, actor_of(request, user), out
    await hall.publish(state.redis, out)


@get("/api/lots/{lot_id:uuid}/shares/mine", tags=["opening"])
async def my_share(request: Request[Any, Any, Any], state: State,
                   lot_id: FromPath[UUID]) -> SealedShareOut:
    """Your share of the lot's opening key, sealed to your encryption certificate."""
    async with short_transaction(state) as conn:
        user = await signed_in(request, state, conn)
        row = await officers.my_share(conn, user, lot_id)
    return SealedShareOut(lot_id=row["lot_id"], index=row["share_index"], k=row["officers_k"],
                          n=row["officers_n"],
                          envelope=base64.b64encode(bytes(row["envelope"])).decode(),
                          submitted_at=row["submitted_at"], used_at=row["used_at"])


@post("/api/lots/{lot_id:uuid}/shares", tags=["opening"], status_code=200)
async def submit_share(request: Request[Any, Any, Any], state: State, lot_id: FromPath[UUID],
                       data: JSONBody[ShareIn]) -> ShareOut:
    """Hand over your unsealed share once the window has closed on bids left encrypted;
    with k shares in, the remaining bids are opened (a retry answers the same)."""
    share = officers.share_bytes(data.share)
    async with acting(request, state) as (conn, user, actor, out):
        result = await officers.submit(conn, user, actor, out, state.settings, lot_id=lot_id,
                                       share=share)
    return ShareOut(**result)


def _out(row: dict[str, Any], *, created: bool) -> Response[OpenedOut]:
    return Response(OpenedOut(**{k: row[k] for k in OpenedOut.__struct_fields__}),
                    status_code=201 if created else 200)


ROUTES = [open_bid, my_share, submit_share]
