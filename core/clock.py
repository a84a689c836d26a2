"""Time and the working-day calendar (rule A8).

The database clock is the clock: deadlines are compared with ``now()`` inside
the transaction that acts on them, never with a client's or a web process's
clock. Rules about days are evaluated in Asia/Shanghai. Working days come from
the calendar table, which holds only the exceptions an administrator keeps:
public holidays that fall on weekdays and make-up working days on weekends.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from core import queries as q

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def db_now(conn: asyncpg.Connection) -> datetime:
    value: datetime = await conn.fetchval(q.NOW)
    return value


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in Asia/Shanghai."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


class Calendar:
    """Working days given the exceptions; pure, so rules can be tested at the boundary."""

    def __init__(self, holidays: set[date] | frozenset[date] = frozenset(),
                 workdays: set[date] | frozenset[date] = frozenset()) -> None:
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The day ``days`` working days after ``start`` (start itself not counted)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        day = start
        left = days
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


async def load_calendar(conn: asyncpg.Connection, start: date, end: date) -> Calendar:
    rows = await conn.fetch(q.CALENDAR_BETWEEN, start, end)
    return Calendar({r["day"] for r in rows if r["kind"] == "holiday"},
                    {r["day"] for r in rows if r["kind"] == "workday"})


async def add_working_days(conn: asyncpg.Connection, start: date, days: int) -> date:
    """The one function every working-day rule uses (A5, A7, E12, S8...)."""
    horizon = start + timedelta(days=days * 2 + 60)
    return (await load_calendar(conn, start, horizon)).add_working_days(start, days)
