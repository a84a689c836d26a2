"""HTTP routes of the opening: a bidder opens its own bid with its content key; the
officers fetch and hand over their shares of a lot's key.

Thin routes on the request's transaction (``conn``) and caller (``user``), like
the rest of the app; the hall's events a service writes are published once the
request commits (``core.db.on_commit``). Opening a bid is the one exception:
see ``open_bid``.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from core.auth import Principal, actor_of, authenticate
from core.db import short_transaction
from core.deps import Conn, User
from core.errors import DomainError, NotAuthenticated
from trading.bids.uploads import BUCKET
from trading.opening import decrypt, officers
from trading.opening import jobs as opening_jobs
from trading.opening import schemas as s


@post("/api/bids/{bid_id:uuid}/open", tags=["opening"])
async def open_bid(request: Request[Any, Any, Any], state: State, bid_id: FromPath[UUID],
                   data: JSONBody[s.OpenIn]) -> Response[s.OpenedOut]:
    """Open your own bid after the deadline with its content key (201); a retry answers 200.

    This handler takes no ``conn``: the request's transaction would stay open
    (a pooled connection waiting on it) while the bid is fetched from the
    object store and decrypted, seconds for a large bid with fifty bidders
    opening at once. So it takes short transactions of its own around that
    work and none during it; each commits (and publishes its hall events)
    before the next step. A refusal is recorded in a transaction of its own
    (the hall shows each bidder's progress) before it is answered.
    """
    cek = decrypt.content_key(data.content_key)
    async with short_transaction(state) as conn:
        user = await _signed_in(request, state, conn)
        await decrypt.start(conn, user, bid_id=bid_id, request_record=opening_jobs.request_record)
    actor = actor_of(request, user)
    async with short_transaction(state) as conn:
        found, bid, trust = await decrypt.prepare(conn, user, bid_id=bid_id)
    if found is not None:
        return _out(found, created=False)
    try:
        opened = await decrypt.decrypt_stored(state.store, trust, bid, cek)
    except DomainError as exc:
        async with short_transaction(state) as conn:
            await decrypt.record_failure(conn, actor, bid, exc.code)
        raise
    async with short_transaction(state) as conn:
        row, created = await decrypt.record(conn, actor, bid, opened, by="bidder",
                                            user_id=user.user_id,
                                            request_record=opening_jobs.request_record)
    return _out(row, created=created)


async def _signed_in(request: Request[Any, Any, Any], state: State, conn: Any) -> Principal:
    user = await authenticate(request, conn, state.settings.web.session_secret)
    if user is None:
        raise NotAuthenticated()
    return user


@get("/api/bids/{bid_id:uuid}/envelope-head", tags=["opening"],
     media_type="application/octet-stream")
async def envelope_head(request: Request[Any, Any, Any], state: State,
                        bid_id: FromPath[UUID]) -> Response[bytes]:
    """The first 64 KiB of your own bid's envelope after the deadline: its recipients, so the
    page unwraps the content key with your certificate without downloading the bid.

    Read from the object store after the short transaction that checks the caller has ended.
    """
    async with short_transaction(state) as conn:
        user = await _signed_in(request, state, conn)
        bid = await decrypt.envelope_head(conn, user, bid_id=bid_id)
    head = await state.store.get_range(BUCKET, bid["object_key"], 0, decrypt.HEAD_BYTES)
    return Response(head, media_type="application/octet-stream",
                    headers={"cache-control": "no-store"})


@get("/api/lots/{lot_id:uuid}/shares/mine", tags=["opening"])
async def my_share(conn: Conn, user: User, lot_id: FromPath[UUID]) -> s.SealedShareOut:
    """Your share of the lot's opening key, sealed to your encryption certificate."""
    row = await officers.my_share(conn, user, lot_id)
    return s.SealedShareOut(lot_id=row["lot_id"], index=row["share_index"],
                            k=row["officers_k"], n=row["officers_n"],
                            envelope=base64.b64encode(bytes(row["envelope"])).decode(),
                            submitted_at=row["submitted_at"], used_at=row["used_at"])


@post("/api/lots/{lot_id:uuid}/shares", tags=["opening"], status_code=200)
async def submit_share(request: Request[Any, Any, Any], state: State, conn: Conn, user: User,
                       lot_id: FromPath[UUID], data: JSONBody[s.ShareIn]) -> s.ShareOut:
    """Hand over your unsealed share once the window has closed on bids left encrypted;
    with k shares in, the remaining bids are opened (a retry answers the same)."""
    share = officers.share_bytes(data.share)
    result = await officers.submit(conn, user, actor_of(request, user), state.settings,
                                   lot_id=lot_id, share=share,
                                   request_officers=opening_jobs.request_officers)
    return s.ShareOut(**result)


def _out(row: dict[str, Any], *, created: bool) -> Response[s.OpenedOut]:
    return Response(s.OpenedOut(**{k: row[k] for k in s.OpenedOut.__struct_fields__}),
                    status_code=201 if created else 200)


ROUTES = [open_bid, envelope_head, my_share, submit_share]
