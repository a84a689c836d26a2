"""The price sheet ``price.json`` (开标一览表) at the root of every bid ZIP.

It is what is read out at the opening, so it has one definition: the
Structs below. The parser, the canonical writer and the published JSON
Schema (``docs/schemas/price.schema.json``) all come from them, and a test
keeps the published file equal to ``json_schema()``.

Money never passes through a float. ``total_price`` is a JSON string such
as ``"23456789.50"``; a JSON number is refused, deliberately: a number
invites tools to write a binary float (``23456789.499999999``), and the
schema, which other tools validate against, says string, so the parser
refuses what the schema refuses. Decoding stays strict in the same spirit:
unknown fields, duplicate keys and anything the schema would not accept are
refused, because two readers must never read two different prices out of
one file.

Beyond the schema, ``parse`` checks the credit code's check character
(GB 32100-2015) with ``core.uscc``; a JSON Schema cannot express it.
"""

from __future__ import annotations

import decimal
import json
import re
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec

from core import uscc
from core.errors import DomainError, InvalidCreditCode

FORMAT: Final = 1
MAX_BYTES = 256 * 1024  # a sheet at its largest (50 items of 600 characters) is far below
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,15}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
TENDER_CODE_PATTERN = r"^[A-Za-z0-9-]{4,40}$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
CENT = Decimal("0.01")
LIMIT = Decimal(10) ** 16
_BOM = b"\xef\xbb\xbf"
_MONEY_CONTEXT = decimal.Context(prec=34)

TITLE = "开标一览表 price.json / Bid price sheet"
DESCRIPTION = (
    "投标文件 ZIP 根目录下的开标一览表，开标时唱标的内容。金额以字符串表示（单位：元，最多两位小数），"
    "不得使用 JSON 数字；统一社会信用代码另按 GB 32100-2015 校验码核验。"
    " / The price sheet at the root of every bid ZIP, read out at the opening. Amounts are "
    "strings in yuan with at most two decimal places, never JSON numbers; the credit code's "
    "check character (GB 32100-2015) is verified as well."
)


class PriceSheetInvalid(DomainError):
    status = 422
    code = "price_sheet_invalid"
    message = "开标一览表（price.json）无效"
    message_en = "The price sheet (price.json) is not valid"


class _FieldError(ValueError):
    """A check that msgspec cannot express; carries the field so the error can name it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _whole(pattern: str, value: str, field: str) -> None:
    # msgspec searches with Python's re, where "$" also matches before a final
    # newline; JSON Schema (ECMA-262) does not, so the parser checks the whole.
    if not re.fullmatch(pattern, value):
        raise _FieldError(field, f"Expected `str` matching regex {pattern!r}")


def _amount(value: object) -> Decimal:
    """The total in yuan with exactly two decimals, or a _FieldError saying why not.

    Kept at exactly two places so that equal prices always print equally,
    in the read-out and in the price comparisons (C5).
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _FieldError("total_price", "must be a finite decimal amount")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise _FieldError("total_price", "at most 2 decimal places")
    if value <= 0:
        raise _FieldError("total_price", "must be greater than zero")
    if value >= LIMIT:
        raise _FieldError("total_price", "must be below 10^16")
    return value.quantize(CENT, context=_MONEY_CONTEXT)


class Bidder(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Who bids, as on the business licence; must be the organization that submits."""

    name: Annotated[str, msgspec.Meta(
        min_length=1, max_length=200, title="投标人名称 / Bidder name")]
    credit_code: Annotated[str, msgspec.Meta(
        min_length=18, max_length=18, pattern=CREDIT_CODE_PATTERN,
        title="统一社会信用代码 / Unified social credit code",
        description="18 位，大写，校验码按 GB 32100-2015 核验 / 18 characters, upper case, "
                    "check character verified (GB 32100-2015)",
        examples=["91350100M000100Y43"])]

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise _FieldError("name", "must not be blank")
        _whole(CREDIT_CODE_PATTERN, self.credit_code, "credit_code")
        try:
            uscc.validate(self.credit_code)
        except InvalidCreditCode as exc:
            raise _FieldError("credit_code", exc.message_en) from exc


class DeclaredItem(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Another item the tender documents ask to be read out (e.g. 项目经理, 主要材料品牌)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, title="项目 / Item")]
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=500, title="内容 / Value")]

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise _FieldError("name", "must not be blank")
        if not self.value.strip():
            raise _FieldError("value", "must not be blank")


class PriceSheet(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The opening read-out of one bid for one lot; amounts in yuan, as strings."""

    format: Annotated[Literal[1], msgspec.Meta(title="格式版本 / Format version")]
    tender_code: Annotated[str, msgspec.Meta(
        pattern=TENDER_CODE_PATTERN, title="项目编号 / Tender code")]
    lot: Annotated[int, msgspec.Meta(ge=1, le=99, title="标段号 / Lot number")]
    bidder: Annotated[Bidder, msgspec.Meta(title="投标人 / Bidder")]
    currency: Annotated[Literal["CNY"], msgspec.Meta(title="币种 / Currency")] = "CNY"
    total_price: Annotated[Decimal, msgspec.Meta(
        title="投标总价 / Total price",
        description="字符串，单位元，大于零，最多两位小数，小于 10^16；不得为 JSON 数字 / A string in "
                    "yuan, greater than zero, at most two decimal places, below 10^16; never a "
                    "JSON number",
        examples=["23456789.50"],
        extra_json_schema={"type": "string", "pattern": AMOUNT_PATTERN})]
    price_unit: Annotated[Literal["yuan"], msgspec.Meta(title="金额单位 / Unit")] = "yuan"
    duration_days: Annotated[Annotated[int, msgspec.Meta(ge=1, le=3650)] | None, msgspec.Meta(
        title="工期或交货期（日历天）/ Duration or delivery (days)")] = None
    quality: Annotated[Annotated[str, msgspec.Meta(max_length=200)] | None, msgspec.Meta(
        title="质量标准 / Quality standard")] = None
    warranty_months: Annotated[Annotated[int, msgspec.Meta(ge=0, le=600)] | None, msgspec.Meta(
        title="质保期（月）/ Warranty (months)")] = None
    items: Annotated[list[DeclaredItem], msgspec.Meta(
        max_length=50, title="其他唱标内容 / Other declared items")] = msgspec.field(
            default_factory=list)
    discount_note: Annotated[Annotated[str, msgspec.Meta(max_length=500)] | None, msgspec.Meta(
        title="优惠说明 / Discount note")] = None

    def __post_init__(self) -> None:
        _whole(TENDER_CODE_PATTERN, self.tender_code, "tender_code")
        msgspec.structs.force_setattr(self, "total_price", _amount(self.total_price))


class _TotalText(msgspec.Struct):
    """The total as written in the file: msgspec would also take a JSON number as a Decimal."""

    total_price: Annotated[str, msgspec.Meta(pattern=AMOUNT_PATTERN)]

    def __post_init__(self) -> None:
        _whole(AMOUNT_PATTERN, self.total_price, "total_price")


_DECODER = msgspec.json.Decoder(PriceSheet)
_TOTAL_DECODER = msgspec.json.Decoder(_TotalText)
_FAILED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]*)`$")
_AT = re.compile(r"^(.*) - at `\$([^`]*)`$", re.DOTALL)


def _invalid(field: str | None, reason: str, *, hint: bool = True) -> PriceSheetInvalid:
    if hint and field == "total_price":
        return PriceSheetInvalid(
            {"field": field, "reason": reason},
            message="投标总价（total_price）须为带引号的金额字符串（如 \"23456789.50\"），"
                    "大于零、最多两位小数、小于 10^16",
            message_en=f"The price sheet's total_price must be a quoted amount such as "
                       f"\"23456789.50\", greater than zero, with at most two decimal places: {reason}",
        )
    where = f"：{field}" if field else ""
    return PriceSheetInvalid(
        {"field": field, "reason": reason},
        message=f"开标一览表（price.json）无效{where}",
        message_en=f"The price sheet (price.json) is not valid: {field + ': ' if field else ''}{reason}",
    )


def _from_validation(exc: msgspec.ValidationError) -> PriceSheetInvalid:
    """Name the field msgspec complains about, as ``bidder.credit_code`` or ``items[2].name``."""
    reason, path = str(exc), ""
    at = _AT.match(reason)
    if at:
        reason, path = at.group(1), at.group(2).lstrip(".")
    name: str | None = None
    if isinstance(exc.__cause__, _FieldError):
        name = exc.__cause__.field
    elif failed := _FAILED_FIELD.match(reason):
        name = failed.group(1)
    if name is not None:
        path = f"{path}.{name}" if path else name
    return _invalid(path or None, reason)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def parse(data: bytes) -> PriceSheet:
    """Decode and validate a ``price.json``, or raise PriceSheetInvalid naming the field.

    A UTF-8 byte order mark is skipped, because common Windows editors
    write one and it changes nothing a reader sees.
    """
    if len(data) > MAX_BYTES:
        raise _invalid(None, f"larger than {MAX_BYTES} bytes")
    data = bytes(data).removeprefix(_BOM)
    try:
        sheet = _DECODER.decode(data)
        _TOTAL_DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise _from_validation(exc) from exc
    except msgspec.DecodeError as exc:
        raise _invalid(None, str(exc)) from exc
    try:
        json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise _invalid(str(exc), "duplicate key", hint=False) from exc
    except (ValueError, RecursionError) as exc:
        raise _invalid(None, str(exc)) from exc
    return sheet


def dump(sheet: PriceSheet) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, no spaces, every field present.

    Canonical so that one sheet always has one byte form, which can be
    hashed, signed and compared.
    """
    return msgspec.json.encode(sheet, order="sorted")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``price.json`` (draft 2020-12), generated from the Structs."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": TITLE,
        "description": DESCRIPTION,
        **msgspec.json.schema(PriceSheet),
    }


def schema_text() -> str:
    """The schema as published in docs/schemas/price.schema.json."""
    return json.dumps(json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def example(
    tender_code: str,
    lot: int,
    bidder_name: str,
    credit_code: str,
    total: Decimal | str,
) -> PriceSheet:
    """A minimal valid sheet for tools and demos, checked exactly as an uploaded one is."""
    try:
        bidder = Bidder(name=bidder_name, credit_code=credit_code)
    except _FieldError as exc:
        raise _invalid(f"bidder.{exc.field}", str(exc)) from exc
    try:
        amount = Decimal(total) if isinstance(total, str) else total
        sheet = PriceSheet(format=FORMAT, tender_code=tender_code, lot=lot, bidder=bidder,
                           total_price=amount)
    except _FieldError as exc:
        raise _invalid(exc.field, str(exc)) from exc
    except decimal.InvalidOperation as exc:
        raise _invalid("total_price", "not a decimal number") from exc
    return parse(dump(sheet))


if __name__ == "__main__":
    import sys

    sys.stdout.write(schema_text())
