"""HTTP routes of the opening hall: its state, its event log, the live stream, sign-in and
the host's messages. Watching needs no account (the opening is public, S4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.response import ServerSentEvent

from core.auth import client_ip
from core.db import short_transaction
from core.errors import InvalidInput
from trading.opening import hall, presence, stream, supervision, view
from trading.opening.routes import acting, signed_in


class SignInIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: str | None = None  # from POST /api/auth/cert/challenge
    signature: str | None = None  # base64 CMS over the nonce, by the login certificate


class SignInOut(msgspec.Struct):
    lot_id: UUID
    role: str
    count: int
    certificate: str | None


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class MessageOut(msgspec.Struct):
    seq: int
    at: datetime


def _after(last_event_id: str | None, after: int | None) -> int:
    text = last_event_id if last_event_id is not None else str(after or 0)
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput({"field": "Last-Event-ID", "expected": "a non-negative integer"},
                           message="Last-Event-ID 应为非负整数",
                           message_en="Last-Event-ID must be a non-negative integer")
    return value


@get("/api/lots/{lot_id:uuid}/hall", tags=["opening"])
async def hall_state(state: State, lot_id: FromPath[UUID]) -> dict[str, Any]:
    """The hall now: phase, countdown, sign-ins, each bid's progress and reading, shares."""
    async with short_transaction(state) as conn:
        return await view.state(conn, lot_id)


@get("/api/lots/{lot_id:uuid}/hall/events", tags=["opening"])
async def hall_events(state: State, lot_id: FromPath[UUID],
                      after: FromQuery[int] = 0) -> list[dict[str, Any]]:
    """The hall's events after ``after``, in order (at most 500 at a time)."""
    start = _after(None, after)
    async with short_transaction(state) as conn:
        await view.lot_of(conn, lot_id)
        return [e.wire() for e in await hall.since(conn, lot_id, start)]


@get("/api/lots/{lot_id:uuid}/hall/stream", tags=["opening"])
async def hall_stream(state: State, channels: NamedDependency[ChannelsPlugin], lot_id: FromPath[UUID],
                      last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")]
                      = None, after: FromQuery[int | None] = None) -> ServerSentEvent:
    """Live events (Server-Sent Events); reconnect with Last-Event-ID to resume."""
    start = _after(last_event_id, after)
    async with short_transaction(state) as conn:
        await view.lot_of(conn, lot_id)
    return ServerSentEvent(stream.events(state, channels, lot_id, start), retry_duration=2000)


@post("/api/lots/{lot_id:uuid}/hall/signin", tags=["opening"], status_code=200)
async def sign_in(request: Request[Any, Any, Any], state: State, lot_id: FromPath[UUID],
                  data: JSONBody[SignInIn]) -> SignInOut:
    """Sign in to the hall: bidders with their certificate, the host and supervisors as
    signed in; once (again answers the same)."""
    async with acting(request, state) as (conn, user, actor, out):
        result = await presence.sign_in(conn, user, actor, out, lot_id=lot_id,
                                        ip=client_ip(request), nonce=data.nonce,
                                        signature=data.signature)
    return SignInOut(**result)


@post("/api/lots/{lot_id:uuid}/hall/messages", tags=["opening"], status_code=201)
async def post_message(request: Request[Any, Any, Any], state: State, lot_id: FromPath[UUID],
                       data: JSONBody[MessageIn]) -> MessageOut:
    """The host's message to everyone in the hall."""
    async with acting(request, state) as (conn, user, actor, out):
        result = await presence.post_message(conn, user, actor, out, lot_id=lot_id,
                                             text=data.text)
    return MessageOut(**result)


@get("/api/lots/{lot_id:uuid}/hall/supervision", tags=["opening"])
async def hall_supervision(request: Request[Any, Any, Any], state: State,
                           lot_id: FromPath[UUID]) -> dict[str, Any]:
    """Supervisors: each bidder's addresses and device, with C1/C2 flags (from the deadline)."""
    async with short_transaction(state) as conn:
        user = await signed_in(request, state, conn)
        return await supervision.supervision(conn, user, lot_id)


ROUTES = [hall_state, hall_events, hall_stream, sign_in, post_message, hall_supervision]
