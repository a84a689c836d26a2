"""HTTP routes of the opening: a bidder opens its own bid with its content key."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from core.auth import actor_of, authenticate
from core.db import short_transaction
from core.errors import DomainError, NotAuthenticated
from trading.opening import decrypt


class OpenIn(msgspec.Struct, forbid_unknown_fields=True):
    content_key: str  # base64: unwrapped by the bidder from its own recipient entry


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
    async with short_transaction(state) as conn:
        user = await authenticate(request, conn, state.settings.web.session_secret)
        if user is None:
            raise NotAuthenticated()
        actor = actor_of(request, user)
        found, bid, trust = await decrypt.prepare(conn, user, bid_id=bid_id)
    if found is not None:
        return _out(found, created=False)
    try:
        opened = await decrypt.decrypt_stored(state.store, trust, bid, cek)
    except DomainError as exc:
        async with short_transaction(state) as conn:
            await decrypt.record_failure(conn, user, actor, bid, exc.code)
        raise
    async with short_transaction(state) as conn:
        row, created = await decrypt.record(conn, user, actor, bid, opened)
    return _out(row, created=created)


def _out(row: dict[str, Any], *, created: bool) -> Response[OpenedOut]:
    return Response(OpenedOut(**{k: row[k] for k in OpenedOut.__struct_fields__}),
                    status_code=201 if created else 200)


ROUTES = [open_bid]
