"""The amounts of a tender notice as the page and the sealed PDF both print them.

A ceiling price (最高投标限价) is set for the whole tender or per lot; the
demo's tender and most works tenders set it per lot. The page used to print
only the tender's own, a dash when the lots carried it, while the opening
record printed the lot's: two readings of one notice. Both the page
(``pages.announcement_page``) and the notice PDF (``jobs.notice_context``) now
take their amounts from here, written by ``core.formats.yuan``, so they read
the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.formats import EMPTY, yuan


@dataclass(frozen=True)
class LotAmounts:
    number: int
    title: str
    budget: str
    ceiling: str
    security: str


@dataclass(frozen=True)
class Amounts:
    budget: str
    # the tender's ceiling; when only the lots carry one, their sum and ``per_lot`` set
    ceiling: str
    per_lot: bool
    lots: list[LotAmounts]


def amounts(tender: dict[str, Any], lots: Sequence[dict[str, Any]]) -> Amounts:
    ceilings = [lot["ceiling_price"] for lot in lots if lot["ceiling_price"] is not None]
    per_lot = tender["ceiling_price"] is None and bool(ceilings)
    if tender["ceiling_price"] is not None:
        ceiling = yuan(tender["ceiling_price"])
    elif ceilings and len(ceilings) == len(lots):
        ceiling = yuan(sum(ceilings, Decimal(0)))
    else:
        ceiling = EMPTY
    return Amounts(
        budget=yuan(tender["budget"]), ceiling=ceiling, per_lot=per_lot,
        lots=[LotAmounts(lot["number"], lot["title"], yuan(lot["budget"]),
                         yuan(lot["ceiling_price"]), yuan(lot["security_amount"]))
              for lot in lots])
