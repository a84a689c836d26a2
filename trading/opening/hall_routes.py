"""HTTP routes of the opening hall: its state, its event log, the live stream, sign-in and
the host's messages. Watching needs no account (the opening is public, S4)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.response import ServerSentEvent

from core.auth import actor_of, client_ip
from core.deps import Conn, User
from core.errors import InvalidInput
from trading.opening import hall, presence, stream, supervision, view
from trading.opening import schemas as s


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
async def hall_state(conn: Conn, lot_id: FromPath[UUID]) -> dict[str, Any]:
    """The hall now: phase, countdown, sign-ins, each bid's progress and reading, shares."""
    return await view.state(conn, lot_id)


@get("/api/lots/{lot_id:uuid}/hall/events", tags=["opening"])
async def hall_events(conn: Conn, lot_id: FromPath[UUID],
                      after: FromQuery[int] = 0) -> list[dict[str, Any]]:
    """The hall's events after ``after``, in order (at most 500 at a time)."""
    start = _after(None, after)
    await view.lot_of(conn, lot_id)
    return [e.wire() for e in await hall.since(conn, lot_id, start)]


@get("/api/lots/{lot_id:uuid}/hall/stream", tags=["opening"], media_type="text/event-stream")
async def hall_stream(state: State, conn: Conn, channels: NamedDependency[ChannelsPlugin],
                      lot_id: FromPath[UUID],
                      last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")]
                      = None, after: FromQuery[int | None] = None) -> ServerSentEvent:
    """Live events (Server-Sent Events); reconnect with Last-Event-ID to resume.

    The request's transaction ends as the stream's response starts; the stream
    reads the log in short transactions of its own (trading/opening/stream.py)."""
    start = _after(last_event_id, after)
    await view.lot_of(conn, lot_id)
    return ServerSentEvent(stream.events(state, channels, lot_id, start), retry_duration=2000)


@post("/api/lots/{lot_id:uuid}/hall/signin", tags=["opening"], status_code=200)
async def sign_in(request: Request[Any, Any, Any], conn: Conn, user: User,
                  lot_id: FromPath[UUID], data: JSONBody[s.SignInIn]) -> s.SignInOut:
    """Sign in to the hall: bidders with their certificate, the host and supervisors as
    signed in; once (again answers the same)."""
    result = await presence.sign_in(conn, user, actor_of(request, user), lot_id=lot_id,
                                    ip=client_ip(request), nonce=data.nonce,
                                    signature=data.signature)
    return s.SignInOut(**result)


@post("/api/lots/{lot_id:uuid}/hall/messages", tags=["opening"], status_code=201)
async def post_message(request: Request[Any, Any, Any], conn: Conn, user: User,
                       lot_id: FromPath[UUID], data: JSONBody[s.MessageIn]) -> s.MessageOut:
    """The host's message to everyone in the hall."""
    result = await presence.post_message(conn, user, actor_of(request, user), lot_id=lot_id,
                                         text=data.text)
    return s.MessageOut(**result)


@get("/api/lots/{lot_id:uuid}/hall/supervision", tags=["opening"])
async def hall_supervision(conn: Conn, user: User, lot_id: FromPath[UUID]) -> dict[str, Any]:
    """Supervisors: each bidder's addresses and device, with C1/C2 flags (from the deadline)."""
    return await supervision.supervision(conn, user, lot_id)


ROUTES = [hall_state, hall_events, hall_stream, sign_in, post_message, hall_supervision]
