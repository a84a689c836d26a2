"""Clarifications reach every holder of the documents: those who hold them when a
clarification is published, and those who obtain them later (who get every clarification
published before). Holders are reached by the platform alone (T7): nobody else learns who
they are before the deadline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core import clock, notify
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql


async def deliver(conn: asyncpg.Connection, tender: dict[str, Any], notice: dict[str, Any], *,
                  organization_id: UUID | None) -> int:
    # a clarification that keeps the deadline has no new one (see clarifications.publish)
    moved = notice["new_bid_deadline"] is not None
    deadline = (notice["new_bid_deadline"] or notice["old_bid_deadline"]).astimezone(
        clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    users = await conn.fetch(document_sql.HOLDER_USERS, tender["id"], organization_id)
    for u in users:
        await notify.notify(
            conn, key=f"notice:{notice['id']}", user_id=u["user_id"], ref=f"notice:{notice['id']}",
            subject=f"【澄清】{tender['code']} {notice['title']}"
                    + (f"（投标截止时间变更为 {deadline}）" if moved else ""),
            subject_en=f"Clarification for {tender['code']}: {notice['title']}"
                       + (f" (bid deadline now {deadline}, Beijing time)" if moved else ""),
            body=notice["body"])
    return len(users)


async def notify_new_holder(conn: asyncpg.Connection, tender: dict[str, Any],
                            organization_id: UUID) -> None:
    for row in await conn.fetch(notice_sql.NOTICES, tender["id"], True):
        if row["kind"] == "clarification":
            await deliver(conn, tender, dict(row), organization_id=organization_id)
