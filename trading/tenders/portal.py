"""The public portal's sections by notice type, as a trading centre publishes them.

招标公告 (tender notices) is the tender list itself (``service.list_public``);
变更/澄清公告 (amendments and clarifications) and 开标记录 (opening records)
are read here, with the same filters. Candidates and results (中标候选人公示,
中标结果公告) get their section when the award stage publishes them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg

from core import clock
from trading.tenders.queries import portal as portal_sql

SECTIONS = ("changes", "openings")


async def list_section(conn: asyncpg.Connection, section: str, *, keyword: str | None,
                       region: str | None, procedure: str | None, published_from: date | None,
                       published_to: date | None, page: int, page_size: int,
                       ) -> tuple[list[dict[str, Any]], int]:
    """One page of a section, newest first, and how many rows the section has in all.

    The dates are days in Asia/Shanghai, inclusive, as in the tender list.
    """
    statement, args = portal_sql.section(section, {
        "keyword": keyword or None, "region": region or None, "procedure": procedure or None,
        "since": clock.day_start(published_from) if published_from else None,
        "until": clock.day_start(published_to + timedelta(days=1)) if published_to else None,
    }, limit=page_size, offset=(page - 1) * page_size)
    rows = [dict(r) for r in await conn.fetch(statement, *args)]
    total = rows[0]["total"] if rows else 0
    return rows, total
