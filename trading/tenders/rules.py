"""The tender rules T1-T5 (RULES.md) as pure functions, so each is tested at its boundary.

Periods counted in days are exact durations between stored moments
(``timestamptz``): twenty days from 09:00 on the 1st is 09:00 on the 21st,
and one second less is refused. Periods counted in working days (government
procurement, T2) follow the civil-code reading: the day the period starts is
not counted; every working day after it, up to and including the day it ends,
is; days are dates in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from core.clock import SHANGHAI, Calendar, local_date
from core.errors import DomainError

BID_PERIOD = timedelta(days=20)  # T1
DOCUMENTS_PERIOD_DAYS = 5  # T2 (government procurement: working days)
CLARIFICATION_NOTICE = timedelta(days=15)  # T3
OBJECTION_NOTICE = timedelta(days=10)  # T4
OBJECTION_ANSWER = timedelta(days=3)  # T4
CONSTRUCTION_SECURITY_CAP = Decimal("800000.00")  # T5, construction


class RuleViolation(DomainError):
    status = 422
    code = "rule_violation"
    message = "违反招标投标规则"
    message_en = "This breaks a tendering rule"


class BidPeriodTooShort(RuleViolation):
    code = "rule_t1_bid_period"
    message = "自招标文件发出至投标截止不得少于20日（招标投标法第24条）"
    message_en = ("At least 20 days must pass from issuing the tender documents to the bid "
                  "deadline (Tendering Law art. 24)")


class DocumentsPeriodTooShort(RuleViolation):
    code = "rule_t2_documents_period"
    message = "招标文件发售期不得少于5日（政府采购不得少于5个工作日）"
    message_en = ("Tender documents must be obtainable for at least 5 days (government "
                  "procurement: 5 working days)")


class ScheduleOrder(RuleViolation):
    code = "schedule_order"
    message = "时间安排顺序不正确"
    message_en = "The schedule is out of order"


class SecurityTooHigh(RuleViolation):
    code = "rule_t5_security_cap"
    message = "投标保证金不得超过估算价的2%（工程建设项目不超过80万元）"
    message_en = ("Bid security may not exceed 2% of the estimated price (construction: "
                  "also 800,000 yuan)")


class ObjectionTooLate(RuleViolation):
    code = "rule_t4_objection_deadline"
    message = "对招标文件的异议应在投标截止时间10日前提出"
    message_en = "Objections to the tender documents close 10 days before the bid deadline"


@dataclass(frozen=True)
class Schedule:
    documents_from: datetime
    documents_until: datetime
    bid_deadline: datetime
    clarification_deadline: datetime | None = None


@dataclass(frozen=True)
class LotSecurity:
    number: int
    budget: Decimal
    security_amount: Decimal


def is_government(procedure: str) -> bool:
    return procedure.startswith("gp_")


def check_schedule(schedule: Schedule, *, government: bool, calendar: Calendar) -> None:
    """Order, T1 and T2; raises the specific violation."""
    s = schedule
    if not s.documents_from < s.documents_until <= s.bid_deadline:
        raise ScheduleOrder({"rule": "documents_from < documents_until <= bid_deadline"})
    if s.clarification_deadline is not None and not (
            s.documents_from <= s.clarification_deadline <= s.bid_deadline):
        raise ScheduleOrder({"rule": "documents_from <= clarification_deadline <= bid_deadline"})
    bid_period = s.bid_deadline - s.documents_from
    if bid_period < BID_PERIOD:
        raise BidPeriodTooShort({"days": _days(bid_period), "minimum": 20})
    if government:
        working = calendar.working_days_between(local_date(s.documents_from),
                                                local_date(s.documents_until))
        if working < DOCUMENTS_PERIOD_DAYS:
            raise DocumentsPeriodTooShort({"working_days": working, "minimum": 5})
    elif s.documents_until - s.documents_from < timedelta(days=DOCUMENTS_PERIOD_DAYS):
        raise DocumentsPeriodTooShort({"days": _days(s.documents_until - s.documents_from),
                                       "minimum": 5})


def security_cap(budget: Decimal, *, sector: str, cap_percent: Decimal,
                 cap_amount: Decimal | None) -> Decimal:
    """The highest bid security a lot of this budget may ask (T5), to the fen."""
    cap = (budget * cap_percent / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    if sector == "construction":
        cap = min(cap, CONSTRUCTION_SECURITY_CAP)
    if cap_amount is not None:  # a tender may cap lower, never higher
        cap = min(cap, cap_amount)
    return cap


def check_security(lots: Sequence[LotSecurity], *, sector: str, cap_percent: Decimal,
                   cap_amount: Decimal | None) -> None:
    for lot in lots:
        cap = security_cap(lot.budget, sector=sector, cap_percent=cap_percent,
                           cap_amount=cap_amount)
        if lot.security_amount > cap:
            raise SecurityTooHigh({"lot": lot.number, "security_amount": str(lot.security_amount),
                                   "cap": str(cap)})


def deadline_after_clarification(deadline: datetime, issued_at: datetime) -> datetime:
    """T3: the deadline itself if 15 days remain, else the first moment at least 15 days
    after the clarification that keeps the deadline's time of day (an opening set for
    09:30 stays at 09:30)."""
    earliest = issued_at + CLARIFICATION_NOTICE
    if deadline >= earliest:
        return deadline
    local = deadline.astimezone(SHANGHAI)
    day = local_date(earliest)
    moved = datetime.combine(day, local.timetz())
    if moved < earliest:
        moved += timedelta(days=1)
    return moved


def check_objection_time(filed_at: datetime, deadline: datetime) -> None:
    if filed_at > deadline - OBJECTION_NOTICE:
        raise ObjectionTooLate({"latest": (deadline - OBJECTION_NOTICE).isoformat()})


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86400, 4)
