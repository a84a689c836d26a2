"""Checking a guarantee's issued terms against the lot it secures (Deliver 4 of bid
security), each failure by its own code, so the opening hall and the committee can say what
is wrong. The signature, its path and the signer's binding to the issuer were checked when
the issuance message came in (inbox.py): a guarantee exists here only if they held.

| code | the issued terms |
|---|---|
| `beneficiary_mismatch` | name a beneficiary other than the tenderer (by credit code) |
| `bidder_mismatch` | name a bidder other than the applicant (by credit code) |
| `amount_too_low` | cover less than the lot's security amount |
| `validity_too_short` | end before the bid deadline plus the bid validity |
| `project_mismatch` | name another tender code or lot number |

(An issuer's suspension is checked when its message comes in: a suspended issuer's
issuance never arrives here.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any


def issued_terms(g: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """The codes of the checks the issued terms fail; [] when they meet the lot's."""
    problems = []
    if _get(body, "beneficiary", "credit_code") != g["beneficiary_code"]:
        problems.append("beneficiary_mismatch")
    if _get(body, "bidder", "credit_code") != g["bidder_code"]:
        problems.append("bidder_mismatch")
    try:
        amount = Decimal(str(body.get("amount")))
    except InvalidOperation:
        amount = Decimal(0)
    if not amount.is_finite() or amount < g["security_amount"]:
        problems.append("amount_too_low")
    needed = g["bid_deadline"] + timedelta(days=g["bid_validity_days"])
    try:
        until = datetime.fromisoformat(str(body.get("valid_until")))
        short = until.tzinfo is None or until < needed
    except ValueError:
        short = True
    if short:
        problems.append("validity_too_short")
    if (_get(body, "project", "code") != g["tender_code"]
            or _get(body, "project", "lot") != g["lot_number"]):
        problems.append("project_mismatch")
    return problems


def _get(body: dict[str, Any], outer: str, inner: str) -> Any:
    value = body.get(outer)
    return value.get(inner) if isinstance(value, dict) else None
