"""Working-day calendar (rule A8) and the database clock."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from core import clock

# The 2026 National Day holiday as published: Oct 1-8 off, Sep 28 and Oct 10 worked.
HOLIDAYS = {date(2026, 10, d) for d in range(1, 9)}
WORKDAYS = {date(2026, 9, 28), date(2026, 10, 10)}


def test_weekends_and_exceptions() -> None:
    cal = clock.Calendar(HOLIDAYS, WORKDAYS)
    assert cal.is_working_day(date(2026, 9, 28))  # Sunday, make-up working day
    assert not cal.is_working_day(date(2026, 10, 5))  # Monday, holiday
    assert not cal.is_working_day(date(2026, 10, 11))  # Sunday
    assert cal.is_working_day(date(2026, 10, 9))  # Friday after the holiday


def test_add_working_days_across_a_holiday() -> None:
    cal = clock.Calendar(HOLIDAYS, WORKDAYS)
    # From Tuesday Sep 29: Sep 30 (1), Oct 9 (2), Oct 10 Saturday make-up (3), Oct 12 (4), Oct 13 (5)
    assert cal.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 13)
    assert cal.add_working_days(date(2026, 9, 29), 0) == date(2026, 9, 29)
    assert cal.working_days_between(date(2026, 9, 29), date(2026, 10, 13)) == 5


def test_plain_week_without_exceptions() -> None:
    cal = clock.Calendar()
    assert cal.add_working_days(date(2026, 11, 20), 3) == date(2026, 11, 25)  # Fri -> Wed


async def test_calendar_from_the_database(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "INSERT INTO calendar_days (day, kind, name) VALUES ($1, $2, '国庆节')",
        [(d, "holiday") for d in HOLIDAYS] + [(d, "workday") for d in WORKDAYS])
    assert await clock.add_working_days(conn, date(2026, 9, 29), 5) == date(2026, 10, 13)


async def test_database_clock_is_utc_aware(conn: asyncpg.Connection) -> None:
    now = await clock.db_now(conn)
    assert now.utcoffset() == timedelta(0)  # the pool's sessions run in UTC
    late = now.replace(hour=20, minute=0)  # 20:00 UTC is 04:00 next day in Shanghai
    assert clock.local_date(late) == late.date() + timedelta(days=1)
    early = now.replace(hour=1, minute=0)
    assert clock.local_date(early) == early.date()
