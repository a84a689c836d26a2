"""T1-T5 at their boundaries, as pure functions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import SHANGHAI, Calendar
from trading.tenders import rules

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
PLAIN = Calendar()


def schedule(bid_period: timedelta, documents: timedelta = timedelta(days=5),
             start: datetime = START) -> rules.Schedule:
    return rules.Schedule(start, start + documents, start + bid_period)


def test_t1_exactly_twenty_days_passes_one_second_less_fails() -> None:
    rules.check_schedule(schedule(timedelta(days=20)), government=False, calendar=PLAIN)
    for short in (timedelta(days=19, hours=23), timedelta(days=20) - timedelta(seconds=1)):
        with pytest.raises(rules.BidPeriodTooShort) as err:
            rules.check_schedule(schedule(short), government=False, calendar=PLAIN)
        assert err.value.code == "rule_t1_bid_period" and err.value.status == 422


def test_t2_five_days_for_open_tendering() -> None:
    rules.check_schedule(schedule(timedelta(days=20), timedelta(days=5)), government=False,
                         calendar=PLAIN)
    with pytest.raises(rules.DocumentsPeriodTooShort):
        rules.check_schedule(schedule(timedelta(days=20), timedelta(days=4, hours=23)),
                             government=False, calendar=PLAIN)


def test_t2_five_working_days_for_government_procurement() -> None:
    # Monday Mar 2 to Monday Mar 9: Mar 3-6 and Mar 9 are five working days (start not counted)
    rules.check_schedule(schedule(timedelta(days=20), timedelta(days=7)), government=True,
                         calendar=PLAIN)
    # to Friday Mar 6 only four
    with pytest.raises(rules.DocumentsPeriodTooShort) as err:
        rules.check_schedule(schedule(timedelta(days=20), timedelta(days=4, hours=8)),
                             government=True, calendar=PLAIN)
    assert err.value.detail == {"working_days": 4, "minimum": 5}
    # five calendar days over a holiday are not five working days
    holiday = Calendar({date(2026, 3, d) for d in range(3, 6)})
    with pytest.raises(rules.DocumentsPeriodTooShort):
        rules.check_schedule(schedule(timedelta(days=20), timedelta(days=7)), government=True,
                             calendar=holiday)
    # and a make-up Saturday counts
    makeup = Calendar(workdays={date(2026, 3, 7)})
    rules.check_schedule(schedule(timedelta(days=20), timedelta(days=5)), government=True,
                         calendar=makeup)


def test_schedule_order() -> None:
    with pytest.raises(rules.ScheduleOrder):
        rules.check_schedule(schedule(timedelta(days=20), timedelta(days=21)), government=False,
                             calendar=PLAIN)
    late_clarification = rules.Schedule(START, START + timedelta(days=5),
                                        START + timedelta(days=20), START + timedelta(days=21))
    with pytest.raises(rules.ScheduleOrder):
        rules.check_schedule(late_clarification, government=False, calendar=PLAIN)


@pytest.mark.parametrize(("sector", "budget", "security", "ok"), [
    ("goods", "1000000.00", "20000.00", True),  # exactly 2%
    ("goods", "1000000.00", "20000.01", False),
    ("construction", "50000000.00", "800000.00", True),  # 2% would be 1,000,000
    ("construction", "50000000.00", "800000.01", False),
    ("services", "333333.33", "6666.66", True),  # 2% rounded down to the fen
    ("services", "333333.33", "6666.67", False),
])
def test_t5_security_cap(sector: str, budget: str, security: str, ok: bool) -> None:
    lots = [rules.LotSecurity(1, Decimal(budget), Decimal(security))]
    if ok:
        rules.check_security(lots, sector=sector, cap_percent=Decimal(2), cap_amount=None)
    else:
        with pytest.raises(rules.SecurityTooHigh) as err:
            rules.check_security(lots, sector=sector, cap_percent=Decimal(2), cap_amount=None)
        assert err.value.detail["lot"] == 1


def test_t5_a_lower_local_cap() -> None:
    lots = [rules.LotSecurity(2, Decimal("1000000.00"), Decimal("15000.00"))]
    with pytest.raises(rules.SecurityTooHigh):
        rules.check_security(lots, sector="goods", cap_percent=Decimal("1.0"), cap_amount=None)
    assert rules.security_cap(Decimal("1000000.00"), sector="goods", cap_percent=Decimal(2),
                              cap_amount=Decimal("5000.00")) == Decimal("5000.00")


def test_t5_a_local_cap_cannot_lift_the_construction_limit() -> None:
    """800,000 yuan is the law's ceiling for works; a tender's own cap only lowers it."""
    budget = Decimal("50000000.00")
    assert rules.security_cap(budget, sector="construction", cap_percent=Decimal(2),
                              cap_amount=Decimal("900000.00")) == Decimal("800000.00")
    assert rules.security_cap(budget, sector="construction", cap_percent=Decimal(2),
                              cap_amount=Decimal("500000.00")) == Decimal("500000.00")
    with pytest.raises(rules.SecurityTooHigh):
        rules.check_security([rules.LotSecurity(1, budget, Decimal("850000.00"))],
                             sector="construction", cap_percent=Decimal(2),
                             cap_amount=Decimal("900000.00"))


def test_t3_deadline_moves_to_keep_fifteen_days_at_the_same_time_of_day() -> None:
    deadline = datetime(2026, 3, 23, 9, 30, tzinfo=SHANGHAI)
    # exactly 15 days before: no move
    assert rules.deadline_after_clarification(deadline, deadline - timedelta(days=15)) == deadline
    # one minute later: the opening moves to 09:30 on the first day that keeps 15 days
    issued = deadline - timedelta(days=15) + timedelta(minutes=1)
    moved = rules.deadline_after_clarification(deadline, issued)
    assert moved == datetime(2026, 3, 24, 9, 30, tzinfo=SHANGHAI)
    assert moved - issued >= timedelta(days=15)
    # issued at 08:00 ten days before: 09:30, 15 days after the clarification's day
    issued = datetime(2026, 3, 13, 8, 0, tzinfo=SHANGHAI)
    assert rules.deadline_after_clarification(deadline, issued) == \
        datetime(2026, 3, 28, 9, 30, tzinfo=SHANGHAI)


def test_t4_objections_close_ten_days_before_the_deadline() -> None:
    deadline = datetime(2026, 3, 23, 9, 30, tzinfo=SHANGHAI)
    rules.check_objection_time(deadline - timedelta(days=10), deadline)
    with pytest.raises(rules.ObjectionTooLate):
        rules.check_objection_time(deadline - timedelta(days=10) + timedelta(seconds=1), deadline)
