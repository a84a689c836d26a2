"""The hall's live stream (Server-Sent Events): what was missed, then every event as it comes.

A client subscribes to the lot's channel first, then reads from the log what
came after its ``Last-Event-ID`` (so nothing falls between the two), then
relays the channel. A number that skips ahead means a publish was missed or
overtaken: the gap is read from the log. While idle, a heartbeat every
``HEARTBEAT_S`` keeps proxies from closing the connection and checks the
log too, so a lost publish costs at most that long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from uuid import UUID

import anyio
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.datastructures import State
from litestar.response import ServerSentEventMessage

from core.db import short_transaction
from trading.opening import hall

HEARTBEAT_S = 15.0


async def _with_heartbeat(subscriber: Subscriber, every: float) -> AsyncIterator[bytes | None]:
    """The subscriber's messages, and None after each ``every`` seconds of silence (one
    pending read is kept across timeouts: cancelling it would lose a message)."""
    events = subscriber.iter_events().__aiter__()
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                yield task.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            pending.cancel()


def message(seq: int, kind: str, body: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(id=str(seq), event=kind, data=body)


async def _read_log(state: State, lot_id: UUID, after: int) -> list[tuple[int, str, str]]:
    async with short_transaction(state) as conn:
        return [hall.decode_head(e.encoded()) for e in await hall.since(conn, lot_id, after)]


async def events(state: State, channels: ChannelsPlugin, lot_id: UUID, after: int,
                 heartbeat: float = HEARTBEAT_S) -> AsyncGenerator[ServerSentEventMessage, None]:
    subscriber = await channels.subscribe(hall.channel(lot_id))
    seen = after
    try:
        async def catch_up() -> AsyncIterator[ServerSentEventMessage]:
            nonlocal seen
            while True:
                missed = await _read_log(state, lot_id, seen)
                for seq, kind, body in missed:
                    seen = seq
                    yield message(seq, kind, body)
                if len(missed) < hall.REPLAY_LIMIT:
                    return

        async for m in catch_up():
            yield m
        async for raw in _with_heartbeat(subscriber, heartbeat):
            if raw is None:
                async for m in catch_up():
                    yield m
                yield ServerSentEventMessage(comment="heartbeat", data=None)
                continue
            seq, kind, body = hall.decode_head(raw)
            if seq <= seen:
                continue  # read from the log already
            if seq > seen + 1:
                async for m in catch_up():
                    yield m
                continue
            seen = seq
            yield message(seq, kind, body)
    finally:
        # a client that leaves cancels this generator: unsubscribe anyway
        with anyio.CancelScope(shield=True):
            await channels.unsubscribe(subscriber)
