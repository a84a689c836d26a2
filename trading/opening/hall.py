"""The opening hall's events: numbered per lot, kept, and published once committed.

Whatever the hall shows (a sign-in, a bid decrypted, a price read out, an
officer's share, a message) is an event row written in the same transaction
as the change it reports, numbered 1, 2, 3... per lot under a per-lot lock, so
numbers commit in order. After the commit it is published on the lot's Redis
channel, which every API process relays to its live clients. The table is the
truth: a client that reconnects with ``Last-Event-ID``, or notices a gap, reads
what it missed from here, so a lost publish loses nothing.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import db
from trading.opening import queries as q

log = structlog.get_logger(__name__)
REPLAY_LIMIT = 500  # events per read-back; a client far behind reads again


def channel(lot_id: UUID | str) -> str:
    """The lot's channel name (as the hall's subscribers know it)."""
    return f"hall:{lot_id}"


@dataclass(frozen=True)
class Event:
    lot_id: UUID
    seq: int
    kind: str
    payload: dict[str, Any]
    at: datetime

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "at": self.at.isoformat(),
                "data": self.payload}

    def encoded(self) -> str:
        """What the channel carries: ``"<seq> <kind> <json>"``. A relay reads the number and
        the kind and passes the JSON on as it is, without decoding it for each client."""
        return f"{self.seq} {self.kind} " + json.dumps(self.wire(), ensure_ascii=False,
                                                         default=str)


def decode_head(raw: bytes | str) -> tuple[int, str, str]:
    """The number, the kind and the JSON of a channel message."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    seq, kind, body = text.split(" ", 2)
    return int(seq), kind, body


async def emit(conn: asyncpg.Connection, lot_id: UUID, kind: str,
               payload: dict[str, Any]) -> Event:
    """Append an event to the lot's log in the caller's transaction; it is published once
    that transaction commits (``core.db.on_commit``), and never if it rolls back."""
    await conn.execute(q.LOCK_HALL, str(lot_id))
    row = await conn.fetchrow(q.INSERT_EVENT, lot_id, kind, payload)
    event = Event(lot_id, row["seq"], kind, payload, row["at"])
    redis: Redis | None = db.current(conn).env.get("redis")
    db.on_commit(conn, functools.partial(publish, redis, event))
    return event


async def publish(redis: Redis | None, event: Event) -> None:
    """After the commit: tell every process's live clients. A failure is logged, not
    raised: the change is committed and clients read it back from the log (as they do
    where there is no Redis to tell, e.g. a job run by hand)."""
    if redis is None:
        return
    try:
        await redis.publish(channel(event.lot_id), event.encoded())
    except (RedisError, OSError) as exc:
        log.warning("hall_publish_failed", lot_id=str(event.lot_id), seq=event.seq,
                    error=type(exc).__name__)


async def since(conn: asyncpg.Connection, lot_id: UUID, after: int) -> list[Event]:
    """The lot's events after ``after``, in order (at most REPLAY_LIMIT)."""
    return [Event(lot_id, r["seq"], r["kind"], r["payload"], r["at"])
            for r in await conn.fetch(q.EVENTS_SINCE, lot_id, after, REPLAY_LIMIT)]
