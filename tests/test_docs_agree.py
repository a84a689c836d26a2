"""The documents an integrator works from say what the code does.

Each check reads a figure or a list out of docs/ and compares it with the
value the code uses, so a change on one side fails here until the other side
follows.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from core.errors import DomainError
from trading.bids import uploads
from trading.bids.schemas import UploadIn
from trading.bonds import errors
from trading.tenders import notices
from trading.tenders.queries import tenders as tender_queries

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_signed_notice_fields_are_the_documented_ones() -> None:
    text = (DOCS / "tenders.md").read_text()
    listed = re.search(r"- `tender` has these fields: `([^`]+)`", text)
    assert listed is not None
    assert [f.strip() for f in listed.group(1).split(",")] == list(notices.TENDER_FIELDS)


def test_every_tender_setting_is_documented() -> None:
    text = (DOCS / "tenders.md").read_text()
    rows = " ".join(line for line in text.splitlines() if line.startswith("| `"))
    missing = [c for c in tender_queries.EDITABLE if f"`{c}`" not in rows]
    assert missing == []
    assert "`objection_minutes`" in (DOCS / "opening.md").read_text()


def test_part_size_is_documented_in_the_bytes_the_api_takes() -> None:
    text = " ".join((DOCS / "bid-format.md").read_text().split())
    found = re.search(r"`part_size` is in \*\*bytes\*\*, from (\d+) \(5 MiB\) to (\d+) "
                      r"\(64 MiB\), default (\d+)", text)
    assert found is not None
    low, high, default = (int(x) for x in found.groups())
    assert (low, high, default) == (uploads.MIN_PART, uploads.MAX_PART, uploads.PART_SIZE)
    info = msgspec.inspect.type_info(UploadIn)
    assert isinstance(info, msgspec.inspect.StructType)
    field = next(f for f in info.fields if f.name == "part_size")
    assert isinstance(field.type, msgspec.inspect.IntType)
    assert (field.type.ge, field.type.le, field.default) == (low, high, default)


def test_sealing_and_tenders_agree_on_who_issues_the_opening_certificate() -> None:
    sealing = " ".join((DOCS / "sealing.md").read_text().split())
    tenders = " ".join((DOCS / "tenders.md").read_text().split())
    assert "issued by the platform's CA" not in sealing
    assert "opening certificate (public key, self-signed" in sealing
    assert "self-signed certificate (no CA issues it" in tenders


def test_every_issuer_api_error_is_documented_with_its_status() -> None:
    """docs/issuer-api.md's table of codes is the errors module's, status for status."""
    defined = {cls.code: cls.status for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, DomainError)
               and cls.__module__ == errors.__name__}
    table = (DOCS / "issuer-api.md").read_text().split("## Error codes", 1)[1]
    documented = {m.group(1): int(m.group(2))
                  for m in re.finditer(r"^\| `([a-z_]+)` \| (\d{3}) \|", table, re.M)}
    assert documented == defined
