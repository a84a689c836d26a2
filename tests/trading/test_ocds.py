"""OCDS output checked against the published schemas, offline, after a JSON round trip.

The schemas are the Open Contracting Partnership's files kept in shared/data/ocds (a
copy in tests/data/ocds for a clone on its own);
their cross-file $refs resolve to those files, never to the network.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest
from jsonschema import Draft4Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.jsonschema import DRAFT4

from core import uscc
from core.clock import SHANGHAI
from trading import ocds

# the project's shared copy when the checkout sits beside it, else the copy in tests/data
_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ocds"
SCHEMAS = _SHARED if (_SHARED / "release-package-schema.json").exists() else (
    Path(__file__).resolve().parents[1] / "data" / "ocds")
PREFIX = "ocds-th0001"
NS = UUID("6f1c2a54-3f0e-4b8e-9d54-2d1a0c9b7e11")


def uid(name: str) -> UUID:
    return uuid5(NS, name)


TENDER_ID, OWNER, AGENCY = uid("tender"), uid("owner"), uid("agency")
LOT1, LOT2 = uid("lot-1"), uid("lot-2")
PUBLISHED = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
DEADLINE = PUBLISHED + timedelta(days=21, hours=0, minutes=30)
MOVED = DEADLINE + timedelta(days=7)
MOVED_AGAIN = MOVED + timedelta(days=3)


@cache
def validator(name: str) -> Draft4Validator:
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS.glob("*.json")}
    registry: Registry[Any] = Registry().with_resources(
        (schema["id"], DRAFT4.create_resource(schema)) for schema in schemas.values())
    schema = schemas[name]
    cls = validator_for(schema)
    assert cls is Draft4Validator, schema["$schema"]
    cls.check_schema(schema)
    return Draft4Validator(schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)


def round_trip(obj: Any) -> Any:
    return json.loads(ocds.dumps(obj), parse_float=Decimal)


def errors(name: str, obj: Any) -> list[str]:
    found = validator(name).iter_errors(round_trip(obj))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def tender(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": TENDER_ID, "code": "TH-2026-0042", "title": "成都市某区道路改造工程施工",
        "region": "四川省成都市", "procedure": "open", "status": "published", "sector": "construction",
        "budget": Decimal("12500000.00"), "ceiling_price": Decimal("12000000.00"),
        "owner_org_id": OWNER, "agency_org_id": AGENCY,
        "documents_from": PUBLISHED, "documents_until": PUBLISHED + timedelta(days=5),
        "clarification_deadline": DEADLINE - timedelta(days=15), "bid_deadline": DEADLINE,
        "bid_validity_days": 90, "evaluation_method": "comprehensive",
        "security_forms": ["guarantee", "insurance"], "published_at": PUBLISHED,
        "cancel_reason": None, "cancelled_at": None,
    }
    return row | overrides


LOTS = [
    {"id": LOT2, "number": 2, "title": "二标段：排水管网", "budget": Decimal("4500000.00"),
     "security_amount": Decimal("80000.00"), "ceiling_price": None},
    {"id": LOT1, "number": 1, "title": "一标段：道路主体", "budget": Decimal("8000000.00"),
     "security_amount": Decimal("80000.00"), "ceiling_price": Decimal("7800000.00")},
]
DOCUMENTS = [
    {"id": uid("doc-notice"), "name": "招标公告", "sha256": "a" * 64, "size": 20480,
     "content_type": "application/pdf", "url": "https://ggzy.example.cn/files/notice.pdf",
     "published_at": PUBLISHED, "kind": "announcement", "lot_id": None},
    {"id": uid("doc-lot1"), "name": "一标段招标文件", "sha256": "b" * 64, "size": 5_242_880,
     "content_type": "application/pdf", "url": "/files/lot1.pdf",
     "published_at": PUBLISHED, "kind": "tender_document", "lot_id": LOT1},
]
LOT2_CORRECTED = LOTS[0] | {"title": "二标段：排水管网及附属工程", "budget": Decimal("4600000.50")}
CLARIFICATION = {"id": uid("doc-clar"), "name": "澄清与修改（第1号）", "sha256": "c" * 64, "size": 4096,
                 "content_type": "application/pdf", "url": "/files/clar-1.pdf",
                 "published_at": PUBLISHED + timedelta(days=8), "kind": "clarification", "lot_id": None}
PARTIES = [
    {"id": OWNER, "name": "成都市某区交通运输局", "credit_code": uscc.make("11510100" + "MB1578031"),
     "kind": "tenderer", "region": "四川省成都市"},
    {"id": AGENCY, "name": "四川某招标代理有限公司", "credit_code": uscc.make("91510100" + "MA6CB1N4T"),
     "kind": "agency", "region": "四川省成都市"},
]
AMEND_1: dict[str, Any] = {"id": "1", "date": PUBLISHED + timedelta(days=8), "rationale": "澄清招标文件",
           "description": "对技术标准作出澄清并顺延投标截止时间",
           "old_bid_deadline": DEADLINE, "new_bid_deadline": MOVED}
AMEND_2: dict[str, Any] = {"id": "2", "date": PUBLISHED + timedelta(days=12), "rationale": "修改工程量清单",
           "description": "修改二标段工程量清单", "old_bid_deadline": MOVED, "new_bid_deadline": MOVED_AGAIN}


def release(tag: str, n: int, date: datetime, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"tender": tender(), "lots": LOTS, "documents": DOCUMENTS, "parties": PARTIES}
    args |= kw
    return ocds.build_release(prefix=PREFIX, tag=tag, release_id=f"{TENDER_ID}-{n:02d}", date=date,
                              public_url=f"https://ggzy.example.cn/tenders/{TENDER_ID}", **args)


def history() -> list[dict[str, Any]]:
    """A tender's life: published, amended twice, a lot corrected, then cancelled."""
    return [
        release("tender", 1, PUBLISHED),
        release("tenderAmendment", 2, AMEND_1["date"], tender=tender(bid_deadline=MOVED),
                documents=[*DOCUMENTS, CLARIFICATION], amendments=[AMEND_1]),
        # Only the new amendment: the compiled release must keep the first one.
        release("tenderAmendment", 3, AMEND_2["date"], tender=tender(bid_deadline=MOVED_AGAIN),
                amendments=[AMEND_2]),
        # Only the corrected lot and no documents: the others must survive the merge.
        # 10:30 in Shanghai is 02:30 UTC, before the cancellation's 03:00 UTC below,
        # though its string sorts after it.
        release("tenderUpdate", 4, datetime(2026, 3, 16, 10, 30, tzinfo=SHANGHAI),
                tender=tender(bid_deadline=MOVED_AGAIN),
                lots=[LOT2_CORRECTED], documents=[]),
        release("tenderCancellation", 5, datetime(2026, 3, 16, 3, 0, tzinfo=UTC),
                lots=[LOTS[1], LOT2_CORRECTED], documents=[*DOCUMENTS, CLARIFICATION],
                tender=tender(bid_deadline=MOVED_AGAIN, status="cancelled", cancel_reason="项目资金未落实",
                              cancelled_at=datetime(2026, 3, 16, 3, 0, tzinfo=UTC))),
    ]


def package(kind: Callable[..., dict[str, Any]], items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return kind(items, published_date=datetime(2026, 3, 16, 12, 0, tzinfo=SHANGHAI),
                uri=f"https://ggzy.example.cn/ocds/{TENDER_ID}.json", publisher_name="某市公共资源交易中心")


@pytest.fixture
def releases() -> list[dict[str, Any]]:
    return history()


def test_format_checking_is_really_on() -> None:
    # Without rfc3339-validator jsonschema skips date-time silently; this would hide naive times.
    assert "date-time" in Draft4Validator.FORMAT_CHECKER.checkers


@pytest.mark.parametrize("index", range(5))
def test_each_release_package_is_valid(releases: list[dict[str, Any]], index: int) -> None:
    assert errors("release-package-schema.json", package(ocds.release_package, [releases[index]])) == []


def test_record_package_is_valid(releases: list[dict[str, Any]]) -> None:
    record = ocds.compile_record(releases)
    assert errors("record-package-schema.json", package(ocds.record_package, [record])) == []
    assert errors("release-schema.json", record["compiledRelease"]) == []


def test_compiled_release_holds_the_latest_state(releases: list[dict[str, Any]]) -> None:
    shuffled = [releases[i] for i in (4, 1, 3, 0, 2)]
    before = copy.deepcopy(shuffled)
    record = round_trip(ocds.compile_record(shuffled))
    assert shuffled == before
    compiled = record["compiledRelease"]
    assert [r["id"] for r in record["releases"]] == [r["id"] for r in releases]
    assert compiled["tag"] == ["compiled"]
    assert compiled["ocid"] == f"{PREFIX}-{TENDER_ID}"
    assert compiled["date"] == releases[4]["date"] == "2026-03-16T03:00:00+00:00"
    assert compiled["id"] == f"{compiled['ocid']}-{compiled['date']}"
    t = compiled["tender"]
    assert t["tenderPeriod"] == {"startDate": "2026-03-02T09:00:00+08:00",
                                 "endDate": MOVED_AGAIN.isoformat()}
    assert t["status"] == "cancelled" and t["statusDetails"] == "项目资金未落实"
    expected_lots = [
        (str(LOT1), "一标段：道路主体", Decimal("8000000.00")),
        (str(LOT2), "二标段：排水管网及附属工程", Decimal("4600000.50")),
    ]
    assert [(lot["id"], lot["title"], lot["value"]["amount"]) for lot in t["lots"]] == expected_lots
    assert [a["id"] for a in t["amendments"]] == ["1", "2"]
    assert "2026-03-30T09:30:00+08:00" in t["amendments"][0]["description"]
    assert {d["documentType"] for d in t["documents"]} == {"tenderNotice", "biddingDocuments",
                                                             "clarifications"}
    assert len(compiled["parties"]) == 2

    # Up to the update, whose release names only the corrected lot: lot 1 is kept by the id merge.
    upto_update = round_trip(ocds.compile_record(releases[:4]))["compiledRelease"]["tender"]
    assert [(lot["id"], lot["title"], lot["value"]["amount"])
            for lot in upto_update["lots"]] == expected_lots
    assert len(upto_update["documents"]) == 3 and upto_update["status"] == "active"


def test_release_fields(releases: list[dict[str, Any]]) -> None:
    first = round_trip(releases[0])
    assert first["ocid"] == f"ocds-th0001-{TENDER_ID}"
    assert first["tag"] == ["tender"] and first["initiationType"] == "tender" and first["language"] == "zh"
    t = first["tender"]
    assert t["id"] == "TH-2026-0042"
    assert (t["procurementMethod"], t["procurementMethodDetails"]) == ("open", "公开招标")
    assert t["mainProcurementCategory"] == "works" and t["awardCriteria"] == "ratedCriteria"
    assert t["status"] == "active" and "amendments" not in t
    assert t["value"] == {"amount": Decimal("12500000.00"), "currency": "CNY"}
    assert t["enquiryPeriod"] == {"endDate": (DEADLINE - timedelta(days=15)).isoformat()}
    assert [lot["id"] for lot in t["lots"]] == [str(LOT1), str(LOT2)]
    notice, lot1 = t["documents"]
    assert notice["documentType"] == "tenderNotice" and "relatedLots" not in notice
    assert lot1["documentType"] == "biddingDocuments" and lot1["relatedLots"] == [str(LOT1)]
    assert lot1["description"] == "SHA-256: " + "b" * 64
    assert lot1["url"] == "https://ggzy.example.cn/files/lot1.pdf"
    assert lot1["format"] == "application/pdf"
    assert b'"amount":12500000.00' in ocds.dumps(releases[0])


def test_roles_follow_the_agency() -> None:
    with_agency = ocds.build_release(prefix=PREFIX, tender=tender(), lots=LOTS, documents=[],
                                     parties=PARTIES, tag="tender", release_id="r1", date=PUBLISHED)
    owner, agency = with_agency["parties"]
    assert owner["roles"] == ["buyer"] and agency["roles"] == ["procuringEntity"]
    assert with_agency["buyer"] == {"id": owner["id"], "name": "成都市某区交通运输局"}
    assert with_agency["tender"]["procuringEntity"] == {"id": agency["id"], "name": agency["name"]}
    assert owner["identifier"]["scheme"] == "CN-USCI" and uscc.is_valid(owner["identifier"]["id"])
    assert owner["id"] == "CN-USCI-" + owner["identifier"]["id"]

    alone = ocds.build_release(prefix=PREFIX, tender=tender(agency_org_id=None), lots=LOTS, documents=[],
                               parties=PARTIES[:1], tag="tender", release_id="r1", date=PUBLISHED)
    (only,) = alone["parties"]
    assert only["roles"] == ["buyer", "procuringEntity"]
    assert alone["tender"]["procuringEntity"] == alone["buyer"]


@pytest.mark.parametrize(("procedure", "method", "details"), [
    ("open", "open", "公开招标"), ("gp_open", "open", "政府采购公开招标"),
    ("invited", "selective", "邀请招标"), ("gp_invited", "selective", "政府采购邀请招标"),
    ("gp_competitive_negotiation", "limited", "竞争性谈判"),
    ("gp_competitive_consultation", "limited", "竞争性磋商"), ("gp_inquiry", "limited", "询价"),
    ("gp_single_source", "direct", "单一来源采购"),
])
def test_procurement_methods(procedure: str, method: str, details: str) -> None:
    r = release("tender", 1, PUBLISHED, tender=tender(procedure=procedure, sector="goods",
                                                       evaluation_method="lowest_price", budget=None))
    t = r["tender"]
    assert (t["procurementMethod"], t["procurementMethodDetails"]) == (method, details)
    assert t["mainProcurementCategory"] == "goods" and t["awardCriteria"] == "priceOnly"
    assert "value" not in t
    assert errors("release-package-schema.json", package(ocds.release_package, [r])) == []


def test_merge_replaces_plain_arrays_and_removes_nulls() -> None:
    base: Mapping[str, Any] = {"ocid": "ocds-th0001-x", "initiationType": "tender", "tag": ["tender"]}
    first = {**base, "id": "1", "date": "2026-03-02T09:00:00+08:00",
             "tender": {"id": "t", "submissionMethod": ["electronicSubmission", "written"],
                        "statusDetails": "x", "lots": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]}}
    second = {**base, "id": "2", "date": "2026-03-03T09:00:00+08:00",
              "tender": {"submissionMethod": ["electronicSubmission"], "statusDetails": None,
                         "lots": [{"id": "b", "title": None, "status": "active"}]}}
    t = ocds.compile_record([second, first])["compiledRelease"]["tender"]
    assert t == {"id": "t", "submissionMethod": ["electronicSubmission"],
                 "lots": [{"id": "a", "title": "A"}, {"id": "b", "status": "active"}]}


def test_the_validator_can_fail(releases: list[dict[str, Any]]) -> None:
    bad = copy.deepcopy(releases[0])
    bad["tender"]["procurementMethod"] = "auction"
    found = errors("release-package-schema.json", package(ocds.release_package, [bad]))
    assert found and any("procurementMethod" in e for e in found)

    naive = copy.deepcopy(releases[0]) | {"date": "2026-03-02T09:00:00"}
    found = errors("release-package-schema.json", package(ocds.release_package, [naive]))
    assert found and any("date-time" in e for e in found)

    record = ocds.compile_record(releases)
    record["compiledRelease"]["tender"]["status"] = "open"
    assert errors("record-package-schema.json", package(ocds.record_package, [record]))


@pytest.mark.parametrize("prefix", ["ocds-TH0001", "ocds-th001", "ocds-th00011", "th0001",
                                    "ocds-th0001\n", "xocds-th0001", "ocds_th0001", ""])
def test_ocid_rejects_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ocds.ocid(prefix, TENDER_ID)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="tag"):
        release("award", 1, PUBLISHED)
    with pytest.raises(ValueError, match="amendment"):
        release("tenderAmendment", 1, PUBLISHED)
    with pytest.raises(ValueError, match="offset"):
        release("tender", 1, datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="not in parties"):
        release("tender", 1, PUBLISHED, parties=PARTIES[:1])
    with pytest.raises(ValueError, match="absolute URL"):
        ocds.build_release(prefix=PREFIX, tender=tender(), lots=LOTS, documents=DOCUMENTS,
                           parties=PARTIES, tag="tender", release_id="r1", date=PUBLISHED)
    other = release("tender", 1, PUBLISHED) | {"ocid": f"{PREFIX}-{uid('other')}"}
    with pytest.raises(ValueError, match="one process"):
        ocds.compile_record([release("tender", 1, PUBLISHED), other])
    with pytest.raises(ValueError, match="at least one"):
        ocds.compile_record([])
