"""Money: Decimal yuan with at most two decimal places, never float."""

from __future__ import annotations

from decimal import Decimal

from core.errors import InvalidInput

MAX_AMOUNT = Decimal("9999999999999999.99")  # numeric(18, 2)


def amount(value: Decimal, field: str, *, allow_zero: bool = False) -> Decimal:
    """Check an amount in yuan: finite, positive (or zero), two decimals at most."""
    if not value.is_finite():
        raise InvalidInput({"field": field}, message="金额无效", message_en="Not a valid amount")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidInput({"field": field}, message="金额最多保留两位小数",
                           message_en="Amounts have at most two decimal places")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput({"field": field}, message="金额必须大于零",
                           message_en="The amount must be greater than zero")
    if value > MAX_AMOUNT:
        raise InvalidInput({"field": field}, message="金额超出范围",
                           message_en="The amount is too large")
    return value.quantize(Decimal("0.01"))
