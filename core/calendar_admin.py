"""The working-day calendar as an administrator keeps it (rule A8).

Only exceptions are stored (core.clock): holidays and make-up working days
that put a weekend day to work. A holiday may fall on a weekend, so that a
period reads as the State Council's notice announces it (10月1日至8日); a
"make-up" working day on a weekday changes nothing and is refused.
Changes are audited: a deadline counted in working days is only as
trustworthy as the calendar it was counted on.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from core import audit, clock
from core import queries as q
from core.auth import actor_of
from core.db import fetch_all, fetch_one
from core.deps import Conn, User
from core.errors import InvalidInput, NotFound


# ---------------------------------------------------------------- service
def check_exception(day: date, kind: str) -> None:
    """Refuse a make-up working day that is a working day anyway."""
    weekend = day.weekday() >= 5
    if kind == "workday" and not weekend:
        raise InvalidInput({"day": day.isoformat(), "kind": kind, "reason": "workday_on_weekday"},
                           message="该日为周一至周五，本就是工作日，无需设为调休上班日",
                           message_en="This day is a weekday and a working day anyway; "
                                      "it need not be a make-up working day")


async def year_calendar(conn: asyncpg.Connection, *, year: int
                        ) -> tuple[list[dict[str, Any]], list[int]]:
    """The year's exceptions and the number of working days in each month."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    rows = await fetch_all(conn, q.YEAR_DAYS, first, last)
    cal = clock.Calendar({r["day"] for r in rows if r["kind"] == "holiday"},
                         {r["day"] for r in rows if r["kind"] == "workday"})
    months = [0] * 12
    day = first
    while day <= last:
        months[day.month - 1] += cal.is_working_day(day)
        day += timedelta(days=1)
    return rows, months


async def set_day(conn: asyncpg.Connection, actor: audit.Actor, *, day: date, kind: str,
                  name: str) -> dict[str, Any]:
    """Upsert one exception; setting what is already there writes nothing, audit included."""
    check_exception(day, kind)
    name = name.strip()
    previous = await fetch_one(conn, q.GET_DAY, day)
    if previous is not None and previous["kind"] == kind and previous["name"] == name:
        return previous
    row = dict(await conn.fetchrow(q.UPSERT_DAY, day, kind, name))
    await audit.record(conn, actor, "calendar.set", "calendar_day", day.isoformat(), {
        "kind": kind, "name": name,
        "previous": {"kind": previous["kind"], "name": previous["name"]} if previous else None})
    return row


async def delete_day(conn: asyncpg.Connection, actor: audit.Actor, *, day: date) -> None:
    row = await fetch_one(conn, q.DELETE_DAY, day)
    if row is None:
        raise NotFound({"day": day.isoformat()})
    await audit.record(conn, actor, "calendar.delete", "calendar_day", day.isoformat(),
                       {"kind": row["kind"], "name": row["name"]})


# ---------------------------------------------------------------- wire
class CalendarDayIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["holiday", "workday"]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class CalendarDayOut(msgspec.Struct):
    day: date
    kind: str
    name: str


class MonthOut(msgspec.Struct):
    month: int
    working_days: int


class CalendarYearOut(msgspec.Struct):
    year: int
    days: list[CalendarDayOut]
    months: list[MonthOut]
    working_days: int


# ---------------------------------------------------------------- routes
class CalendarController(Controller):
    path = "/api/calendar"
    tags = ["calendar"]  # noqa: RUF012

    @get("/")
    async def year(
        self, conn: Conn,
        year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
    ) -> CalendarYearOut:
        """Holidays and make-up working days of ``year`` (this year in Asia/Shanghai by
        default), with the working days of each month."""
        if year is None:
            year = clock.local_date(await clock.db_now(conn)).year
        rows, months = await year_calendar(conn, year=year)
        return CalendarYearOut(
            year=year, days=[CalendarDayOut(**r) for r in rows],
            months=[MonthOut(month=i + 1, working_days=n) for i, n in enumerate(months)],
            working_days=sum(months))

    @put("/days/{day:date}", status_code=HTTP_200_OK)
    async def put_day(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                      day: FromPath[date], data: JSONBody[CalendarDayIn]) -> CalendarDayOut:
        user.require("admin")
        return CalendarDayOut(**await set_day(conn, actor_of(request, user), day=day,
                                              kind=data.kind, name=data.name))

    @delete("/days/{day:date}")
    async def remove_day(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                         day: FromPath[date]) -> None:
        """The day follows the plain week again: weekdays work, weekends do not."""
        user.require("admin")
        await delete_day(conn, actor_of(request, user), day=day)
