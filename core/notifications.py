"""The notifications inbox: what a person has been told, and their read receipts.

Rows are written by the ``deliver_notification`` job (core.notify); this side
only reads them and sets ``read_at``. A read receipt is set once: reading a
notification again keeps the first time, because that time is what a
clarification's sender relies on. Someone else's notification looks absent,
never forbidden, so its ids tell nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK

from core import queries as q
from core.db import fetch_all, fetch_one
from core.deps import Conn, User
from core.errors import NotFound


# ---------------------------------------------------------------- service
async def list_inbox(conn: asyncpg.Connection, *, user_id: UUID, unread_only: bool, page: int,
                     page_size: int) -> tuple[list[dict[str, Any]], int, int]:
    """(rows of the page, how many match the filter, how many are unread)."""
    rows = await fetch_all(conn, q.NOTIFICATIONS, user_id, unread_only, page_size, (page - 1) * page_size)
    counts = await conn.fetchrow(q.NOTIFICATION_COUNTS, user_id, unread_only)
    return rows, int(counts["total"]), int(counts["unread"])


async def mark_read(conn: asyncpg.Connection, *, user_id: UUID,
                    notification_id: int) -> dict[str, Any]:
    row = await fetch_one(conn, q.MARK_READ, notification_id, user_id)
    if row is None:
        raise NotFound({"notification_id": notification_id})
    return row


async def mark_all_read(conn: asyncpg.Connection, *, user_id: UUID) -> int:
    """How many notifications got their read receipt now."""
    status: str = await conn.execute(q.MARK_ALL_READ, user_id)
    return int(status.rsplit(" ", 1)[-1])


# ---------------------------------------------------------------- wire
class NotificationOut(msgspec.Struct):
    id: int
    subject: str
    subject_en: str
    body: str
    ref: str | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(msgspec.Struct):
    items: list[NotificationOut]
    total: int
    unread: int
    page: int
    page_size: int


class ReadAllOut(msgspec.Struct):
    marked: int


# ---------------------------------------------------------------- routes
class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]  # noqa: RUF012

    @get("/")
    async def inbox(
        self, conn: Conn, user: User,
        unread: FromQuery[bool] = False,
        page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> NotificationPage:
        """The caller's notifications, newest first; ``unread=true`` leaves out the read ones.
        ``total`` counts what the filter matches, ``unread`` the unread ones in any case."""
        rows, total, unread_count = await list_inbox(conn, user_id=user.user_id,
                                                     unread_only=unread, page=page,
                                                     page_size=page_size)
        return NotificationPage(items=[NotificationOut(**r) for r in rows], total=total,
                                unread=unread_count, page=page, page_size=page_size)

    @post("/read-all", status_code=HTTP_200_OK)
    async def read_all(self, conn: Conn, user: User) -> ReadAllOut:
        return ReadAllOut(marked=await mark_all_read(conn, user_id=user.user_id))

    @post("/{notification_id:int}/read", status_code=HTTP_200_OK)
    async def read(self, conn: Conn, user: User,
                   notification_id: FromPath[int]) -> NotificationOut:
        """The read receipt; calling it again keeps the first reading time."""
        return NotificationOut(**await mark_read(conn, user_id=user.user_id,
                                                 notification_id=notification_id))
