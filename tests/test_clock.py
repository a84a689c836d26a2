"""Working-day calendar (rule A8) and the database clock."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from core import clock

# The 2025 National Day and Mid-Autumn holiday as published (国办发明电〔2024〕12号):
# Oct 1-8 off, Sunday Sep 28 and Saturday Oct 11 worked.
HOLIDAYS = {date(2025, 10, d) for d in range(1, 9)}
WORKDAYS = {date(2025, 9, 28), date(2025, 10, 11)}


def test_weekends_and_exceptions() -> None:
    cal = clock.Calendar(HOLIDAYS, WORKDAYS)
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday, make-up working day
    assert not cal.is_working_day(date(2025, 10, 6))  # Monday, holiday
    assert not cal.is_working_day(date(2025, 10, 12))  # Sunday
    assert cal.is_working_day(date(2025, 10, 9))  # Thursday after the holiday
    assert cal.is_working_day(date(2025, 10, 11))  # Saturday, make-up working day


def test_add_working_days_across_a_holiday() -> None:
    cal = clock.Calendar(HOLIDAYS, WORKDAYS)
    # From Monday Sep 29: Sep 30 (1), Oct 9 (2), Oct 10 (3), Saturday Oct 11 make-up (4),
    # Oct 13 (5)
    assert cal.add_working_days(date(2025, 9, 29), 5) == date(2025, 10, 13)
    assert cal.add_working_days(date(2025, 9, 29), 0) == date(2025, 9, 29)
    assert cal.working_days_between(date(2025, 9, 29), date(2025, 10, 13)) == 5


def test_plain_week_without_exceptions() -> None:
    cal = clock.Calendar()
    assert cal.add_working_days(date(2026, 11, 20), 3) == date(2026, 11, 25)  # Fri -> Wed


async def test_seeded_official_calendars(conn: asyncpg.Connection) -> None:
    """The migrations seed the State Council's 2025 and 2026 calendars."""
    assert await clock.add_working_days(conn, date(2025, 9, 29), 5) == date(2025, 10, 13)
    # 2026 (国办发明电〔2025〕7号): Spring Festival Feb 15-23, Saturdays Feb 14 and 28 worked
    cal = await clock.load_calendar(conn, date(2026, 1, 1), date(2026, 12, 31))
    assert cal.is_working_day(date(2026, 2, 14)) and cal.is_working_day(date(2026, 2, 28))
    assert not any(cal.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    # National Day Oct 1-7 with Sunday Sep 20 and Saturday Oct 10 worked; Mid-Autumn Sep 25
    assert cal.is_working_day(date(2026, 9, 20)) and cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 9, 25)) and not cal.is_working_day(date(2026, 10, 7))
    assert cal.is_working_day(date(2026, 10, 8))
    # an administrator's change is data: a new holiday counts at once
    await conn.execute("INSERT INTO calendar_days (day, kind, name) VALUES "
                       "('2026-12-01', 'holiday', '测试')")
    assert await clock.add_working_days(conn, date(2026, 11, 30), 1) == date(2026, 12, 2)


async def test_database_clock_is_utc_aware(conn: asyncpg.Connection) -> None:
    now = await clock.db_now(conn)
    assert now.utcoffset() == timedelta(0)  # the pool's sessions run in UTC
    late = now.replace(hour=20, minute=0)  # 20:00 UTC is 04:00 next day in Shanghai
    assert clock.local_date(late) == late.date() + timedelta(days=1)
    early = now.replace(hour=1, minute=0)
    assert clock.local_date(early) == early.date()
