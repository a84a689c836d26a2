"""The price sheet price.json: one definition, a strict parser, and a published schema that agrees."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bidformat import price
from core import uscc
from core.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "schemas" / "price.schema.json"
CODE = "91350100M000100Y43"  # the example printed in GB 32100-2015


def sheet(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": 1,
        "tender_code": "YA-2025-017",
        "lot": 2,
        "bidder": {"name": "雅安某某建设有限公司", "credit_code": CODE},
        "total_price": "23456789.50",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def raw(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def test_minimal_sheet_parses_with_defaults() -> None:
    parsed = price.parse(raw(sheet()))
    assert parsed.tender_code == "YA-2025-017"
    assert parsed.lot == 2
    assert parsed.bidder == price.Bidder(name="雅安某某建设有限公司", credit_code=CODE)
    assert parsed.total_price == Decimal("23456789.50")
    assert isinstance(parsed.total_price, Decimal)
    assert (parsed.currency, parsed.price_unit) == ("CNY", "yuan")
    assert parsed.items == []
    assert parsed.duration_days is parsed.quality is parsed.warranty_months is None


def test_full_sheet_parses() -> None:
    parsed = price.parse(raw(sheet(
        duration_days=365, quality="合格", warranty_months=24, discount_note="总价下浮 1%",
        items=[{"name": "项目经理", "value": "张三（一级建造师）"}],
    )))
    assert parsed.items == [price.DeclaredItem(name="项目经理", value="张三（一级建造师）")]
    assert (parsed.duration_days, parsed.warranty_months) == (365, 24)


def test_total_is_kept_with_two_places() -> None:
    assert price.parse(raw(sheet(total_price="100"))).total_price.as_tuple().exponent == -2
    assert str(price.parse(raw(sheet(total_price="0.5"))).total_price) == "0.50"
    assert str(price.parse(raw(sheet(total_price="9999999999999999.99"))).total_price) == \
        "9999999999999999.99"


def test_a_byte_order_mark_is_skipped() -> None:
    assert price.parse(b"\xef\xbb\xbf" + raw(sheet())).lot == 2


def test_dump_is_canonical_and_round_trips() -> None:
    parsed = price.parse(raw(sheet(total_price="23456789.5")))
    out = price.dump(parsed)
    assert b" " not in out.replace("雅安某某建设有限公司".encode(), b"")
    assert "雅安".encode() in out  # UTF-8, not \u escapes
    keys = list(json.loads(out))
    assert keys == sorted(keys)
    assert json.loads(out)["total_price"] == "23456789.50"
    assert price.parse(out) == parsed
    assert price.dump(price.parse(out)) == out


def test_example_is_valid_and_checked() -> None:
    made = price.example("YA-2025-017", 1, "某公司", CODE, "1200000")
    assert made.total_price == Decimal("1200000.00")
    assert price.parse(price.dump(made)) == made
    assert price.example("YA-2025-017", 1, "某公司", CODE, Decimal("3.1")).total_price == Decimal("3.10")
    with pytest.raises(price.PriceSheetInvalid) as bad_code:
        price.example("YA-2025-017", 1, "某公司", "91350100M000100Y44", "1")
    assert bad_code.value.detail["field"] == "bidder.credit_code"
    for total in ("1.001", "0", "abc"):
        with pytest.raises(price.PriceSheetInvalid) as bad_total:
            price.example("YA-2025-017", 1, "某公司", CODE, total)
        assert bad_total.value.detail["field"] == "total_price"
    with pytest.raises(price.PriceSheetInvalid) as bad_lot:
        price.example("YA-2025-017", 100, "某公司", CODE, "1")
    assert bad_lot.value.detail["field"] == "lot"


BAD: list[tuple[str, Any, str | None]] = [
    ("float price", sheet(total_price=23456789.5), "total_price"),
    ("integer price", sheet(total_price=100), "total_price"),
    ("three decimals", sheet(total_price="1.005"), "total_price"),
    ("three decimals, zero", sheet(total_price="1.000"), "total_price"),
    ("zero", sheet(total_price="0"), "total_price"),
    ("zero cents", sheet(total_price="0.00"), "total_price"),
    ("negative", sheet(total_price="-1.00"), "total_price"),
    ("exponent", sheet(total_price="1e3"), "total_price"),
    ("underscore", sheet(total_price="1_000"), "total_price"),
    ("spaces", sheet(total_price=" 100"), "total_price"),
    ("trailing newline", sheet(total_price="100\n"), "total_price"),
    ("thousands separator", sheet(total_price="1,000.00"), "total_price"),
    ("leading zero", sheet(total_price="0100"), "total_price"),
    ("NaN", sheet(total_price="NaN"), "total_price"),
    ("10^16", sheet(total_price="10000000000000000"), "total_price"),
    ("missing price", sheet(total_price=...), "total_price"),
    ("missing lot", sheet(lot=...), "lot"),
    ("lot 0", sheet(lot=0), "lot"),
    ("lot 100", sheet(lot=100), "lot"),
    ("lot as text", sheet(lot="1"), "lot"),
    ("lot as float", sheet(lot=1.0), "lot"),
    ("format 2", sheet(format=2), "format"),
    ("missing format", sheet(format=...), "format"),
    ("unknown field", sheet(price_note="x"), "price_note"),
    ("unknown bidder field", sheet(bidder={"name": "x", "credit_code": CODE, "legal": "y"}),
     "bidder.legal"),
    ("currency", sheet(currency="USD"), "currency"),
    ("unit", sheet(price_unit="wan"), "price_unit"),
    ("tender code", sheet(tender_code="YA 2025"), "tender_code"),
    ("tender code newline", sheet(tender_code="YA-2025\n"), "tender_code"),
    ("credit code check", sheet(bidder={"name": "x", "credit_code": "91350100M000100Y44"}),
     "bidder.credit_code"),
    ("credit code lower case", sheet(bidder={"name": "x", "credit_code": CODE.lower()}),
     "bidder.credit_code"),
    ("credit code with O", sheet(bidder={"name": "x", "credit_code": "91350100MO00100Y43"}),
     "bidder.credit_code"),
    ("blank name", sheet(bidder={"name": "  ", "credit_code": CODE}), "bidder.name"),
    ("long name", sheet(bidder={"name": "x" * 201, "credit_code": CODE}), "bidder.name"),
    ("duration 0", sheet(duration_days=0), "duration_days"),
    ("warranty 601", sheet(warranty_months=601), "warranty_months"),
    ("quality too long", sheet(quality="x" * 201), "quality"),
    ("blank item", sheet(items=[{"name": "a", "value": "b"}, {"name": "a", "value": " "}]),
     "items[1].value"),
    ("too many items", sheet(items=[{"name": "a", "value": "b"}] * 51), "items"),
    ("not an object", [sheet()], None),
]


@pytest.mark.parametrize(("data", "field"), [(d, f) for _, d, f in BAD], ids=[n for n, _, _ in BAD])
def test_invalid_sheets_are_refused_naming_the_field(data: Any, field: str | None) -> None:
    with pytest.raises(price.PriceSheetInvalid) as caught:
        price.parse(raw(data))
    error = caught.value
    assert isinstance(error, DomainError)
    assert (error.status, error.code) == (422, "price_sheet_invalid")
    assert error.detail["field"] == field
    assert error.detail["reason"]
    body = error.body()
    assert body["message"] and body["message_en"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


@pytest.mark.parametrize("data", [
    b"", b"{", b"nope", b"\xff\xfe{}", b"null", b"[]", b'{"format":1}' + b" " * (300 * 1024),
])
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(price.PriceSheetInvalid):
        price.parse(data)


def test_duplicate_keys_are_refused() -> None:
    # Readers disagree on which of two keys counts; the read-out must not depend on the reader.
    text = raw(sheet()).decode().replace('"total_price": "23456789.50"',
                                         '"total_price": "1.00", "total_price": "23456789.50"')
    with pytest.raises(price.PriceSheetInvalid) as caught:
        price.parse(text.encode())
    assert caught.value.detail == {"field": "total_price", "reason": "duplicate key"}


def test_credit_code_check_uses_uscc() -> None:
    made = uscc.make("12511800MB1578031")
    assert price.parse(raw(sheet(bidder={"name": "某事业单位", "credit_code": made}))).bidder.credit_code \
        == made


# ----------------------------------------------------------------- schema


def test_published_schema_is_generated() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(text) == price.json_schema()
    assert text == price.schema_text(), "regenerate: python -m bidformat.price > " + str(SCHEMA_FILE)


def test_schema_has_bilingual_title() -> None:
    schema = price.json_schema()
    assert "开标一览表" in schema["title"] and "price sheet" in schema["title"]
    assert "开标" in schema["description"] and "opening" in schema["description"]
    jsonschema.Draft202012Validator.check_schema(schema)


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")),
                                           format_checker=jsonschema.FormatChecker())


def test_schema_accepts_valid_sheets() -> None:
    check = validator()
    check.validate(sheet())
    check.validate(sheet(items=[{"name": "工期", "value": "365 日历天"}], duration_days=365,
                         quality=None, discount_note="无"))
    check.validate(json.loads(price.dump(price.example("YA-2025-017", 3, "某公司", CODE, "0.01"))))


@pytest.mark.parametrize("data", [
    sheet(total_price=23456789.5),
    sheet(total_price=100),
    sheet(total_price="1.005"),
    sheet(total_price="0.00"),
    sheet(total_price="1e3"),
    sheet(lot=...),
    sheet(price_note="x"),
    sheet(bidder={"name": "x", "credit_code": CODE, "legal": "y"}),
    sheet(format=2),
    sheet(currency="USD"),
], ids=["float", "integer", "3 decimals", "zero", "exponent", "missing lot", "unknown field",
        "unknown bidder field", "format", "currency"])
def test_schema_refuses_invalid_sheets(data: dict[str, Any]) -> None:
    assert not validator().is_valid(data)


@pytest.mark.parametrize("total", [
    "1", "1.5", "1.50", "0.01", "0.1", "0.10", "0.05", "9999999999999999.99", "10", "100.00",
    "0", "0.0", "0.00", "00.5", "01", "1.", ".5", "1.005", "-1", "+1", "1e2", "1E2", " 1", "1 ",
    "10000000000000000", "1_0", "NaN", "Infinity", "", "１",
])
def test_schema_and_parser_agree_on_amounts(total: str) -> None:
    by_schema = validator().is_valid(sheet(total_price=total))
    try:
        price.parse(raw(sheet(total_price=total)))
    except price.PriceSheetInvalid:
        by_parser = False
    else:
        by_parser = True
    assert by_schema == by_parser
