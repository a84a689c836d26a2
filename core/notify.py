"""In-platform notifications, delivered through the outbox.

Later stages (clarifications to every document holder, award notices) call
``notify``; the row appears in the person's inbox once the job has run, and
``read_at`` is the read receipt.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import jobs
from core import queries as q


async def notify(conn: asyncpg.Connection, *, key: str, user_id: UUID, subject: str,
                 subject_en: str, body: str = "", ref: str | None = None) -> int | None:
    """``ref`` names what the notification is about, so its read receipts can be found."""
    return await jobs.enqueue(conn, deliver_notification, f"notify:{key}:{user_id}",
                              user_id=str(user_id), subject=subject, subject_en=subject_en,
                              body=body, ref=ref)


@jobs.job
async def deliver_notification(ctx: dict[str, Any], outbox_id: int) -> None:
    async def body(conn: asyncpg.Connection, args: dict[str, Any]) -> None:
        await conn.execute(
            q.DELIVER_NOTIFICATION, outbox_id, UUID(args["user_id"]), args["subject"],
            args["subject_en"], args["body"], args.get("ref"))
    await jobs.run_once(ctx, outbox_id, body)
