"""Open Contracting Data Standard (OCDS 1.1) releases and records for a tender.

Monitors, journalists and the procurement ministries read open contracting
data with OCDS tools (Data Review Tool, Kingfisher); publishing in the
standard's shape is what lets them follow a tender here without learning
our tables. Everything here is a pure function of rows already read: the
caller owns the transaction and decides when a release is published.

Rules that are easy to get wrong and are settled here once:

* Lots and ``relatedLots`` come from the lots extension, so every package
  declares it; the core release schema allows the extra fields.
* Organizations are identified by their unified social credit code under
  the org-id.guide scheme ``CN-USCI`` (统一社会信用代码); the party ``id`` is
  ``{scheme}-{id}`` as the standard suggests, stable across tenders.
* Document digests have no core field: they go into ``description`` rather
  than into an invented field that consumers would silently drop.
* Money stays Decimal up to the encoder, which writes it as a JSON number
  with the digits it has: never a float on the way.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from uuid import UUID

import msgspec

TAGS = ("tender", "tenderAmendment", "tenderUpdate", "tenderCancellation")

VERSION = "1.1"
CURRENCY = "CNY"
LANGUAGE = "zh"
COUNTRY = "中国"
USCC_SCHEME = "CN-USCI"
LOTS_EXTENSION = ("https://raw.githubusercontent.com/open-contracting-extensions/"
                  "ocds_lots_extension/v1.1.5/extension.json")

METHOD = {
    "open": "open", "gp_open": "open",
    "invited": "selective", "gp_invited": "selective",
    "gp_competitive_negotiation": "limited", "gp_competitive_consultation": "limited",
    "gp_inquiry": "limited",
    "gp_single_source": "direct",
}
METHOD_DETAILS = {
    "open": "公开招标", "invited": "邀请招标",
    "gp_open": "政府采购公开招标", "gp_invited": "政府采购邀请招标",
    "gp_competitive_negotiation": "竞争性谈判", "gp_competitive_consultation": "竞争性磋商",
    "gp_single_source": "单一来源采购", "gp_inquiry": "询价",
}
CATEGORY = {"construction": "works", "goods": "goods", "services": "services"}
# tenderStatus (OCDS 1.1 codelist): "active" while the call for tenders runs, that is while
# bids may be submitted; once the bid deadline passes the call is over, so "complete", with
# the local step (closed, opened, under evaluation) in statusDetails. A tender that failed
# (流标: fewer than three bids, every lot failed) is "unsuccessful".
STATUS = {
    "draft": "planning",
    "published": "active", "bidding_closed": "complete", "opened": "complete",
    "evaluating": "complete", "awarded": "complete", "failed": "unsuccessful",
    "cancelled": "cancelled",
}
STATUS_DETAILS = {
    "bidding_closed": "已截标 Bidding closed",
    "opened": "已开标 Bids opened",
    "evaluating": "评标中 Under evaluation",
    "failed": "流标 Failed",
}
AWARD_CRITERIA = {"comprehensive": "ratedCriteria", "lowest_price": "priceOnly"}
DOCUMENT_TYPE = {
    "tender_document": "biddingDocuments",
    "clarification": "clarifications",
    "announcement": "tenderNotice",
}

# Fields the release schema marks "omitWhenMerged": a compiled release gets its own.
OMIT_WHEN_MERGED = frozenset({"id", "date", "tag", "publisher"})
# Arrays of objects the release schema marks "wholeListMerge": replaced, not merged by id.
WHOLE_LIST = frozenset({"additionalIdentifiers", "additionalClassifications", "classifications",
                        "identifiers", "deliveryLocations", "deliveryAddresses", "locations"})

_PREFIX = re.compile(r"ocds-[a-z0-9]{6}")
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def ocid(prefix: str, tender_id: UUID) -> str:
    """The process identifier; the prefix is the one the Open Contracting Partnership registered."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"OCID prefix must look like 'ocds-' and six of [a-z0-9], not {prefix!r}")
    return f"{prefix}-{tender_id}"


def _iso(value: datetime) -> str:
    # A time without an offset would be read in the reader's own zone; refuse it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"OCDS dates need a UTC offset, got naive {value!r}")
    return value.isoformat()


def _period(start: datetime | None, end: datetime | None) -> dict[str, str]:
    # Absent ends are left out rather than null: null in a release deletes the field on merge.
    out = {}
    if start is not None:
        out["startDate"] = _iso(start)
    if end is not None:
        out["endDate"] = _iso(end)
    return out


def _value(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": CURRENCY}


def _party_id(org: Mapping[str, Any]) -> str:
    return f"{USCC_SCHEME}-{org['credit_code']}"


def _parties(tender: Mapping[str, Any], parties: Sequence[Mapping[str, Any]]
             ) -> tuple[list[dict[str, Any]], dict[UUID, dict[str, str]]]:
    # Roles follow the tender's own owner/agency columns, so a party list that
    # happens to hold a second tenderer cannot make it the buyer.
    owner, agency = tender["owner_org_id"], tender.get("agency_org_id")
    procuring = agency if agency is not None else owner
    out, refs = [], {}
    for org in parties:
        roles = []
        if org["id"] == owner:
            roles.append("buyer")
        if org["id"] == procuring:
            roles.append("procuringEntity")
        if org.get("kind") == "bidder":
            roles.append("tenderer")
        party: dict[str, Any] = {
            "id": _party_id(org), "name": org["name"],
            "identifier": {"scheme": USCC_SCHEME, "id": org["credit_code"], "legalName": org["name"]},
            "roles": roles,
        }
        if org.get("region"):
            party["address"] = {"region": org["region"], "countryName": COUNTRY}
        out.append(party)
        refs[org["id"]] = {"id": party["id"], "name": org["name"]}
    for needed in {owner, procuring}:
        if needed not in refs:
            raise ValueError(f"organization {needed} is referenced by the tender but not in parties")
    return out, refs


def _document(doc: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    url = urljoin(public_url, doc["url"]) if public_url else doc["url"]
    if not urlsplit(url).scheme:
        raise ValueError(f"document {doc['id']} has no absolute URL ({url!r}); pass public_url")
    out = {
        "id": str(doc["id"]), "documentType": DOCUMENT_TYPE[doc["kind"]], "title": doc["name"],
        "description": f"SHA-256: {doc['sha256']}", "url": url,
        "datePublished": _iso(doc["published_at"]), "format": doc["content_type"],
    }
    if doc.get("lot_id") is not None:
        out["relatedLots"] = [str(doc["lot_id"])]
    return out


def _amendment(amendment: Mapping[str, Any]) -> dict[str, Any]:
    description = amendment["description"]
    old, new = amendment.get("old_bid_deadline"), amendment.get("new_bid_deadline")
    if old is not None and new is not None and new != old:
        # Core Amendment has no structured before/after (its "changes" is deprecated).
        description = f"{description}（投标截止时间由 {_iso(old)} 变更为 {_iso(new)}）"
    return {"id": str(amendment["id"]), "date": _iso(amendment["date"]),
            "rationale": amendment["rationale"], "description": description}


def build_release(*, prefix: str, tender: Mapping[str, Any], lots: Sequence[Mapping[str, Any]],
                  documents: Sequence[Mapping[str, Any]], parties: Sequence[Mapping[str, Any]],
                  tag: str, release_id: str, date: datetime,
                  amendments: Sequence[Mapping[str, Any]] = (), public_url: str = "") -> dict[str, Any]:
    """One release carrying the tender's whole current state, so any one of them reads alone.

    ``public_url`` is the tender's public page; relative document URLs resolve
    against it as a browser on that page would resolve them.
    """
    if tag not in TAGS:
        raise ValueError(f"release tag must be one of {TAGS}, not {tag!r}")
    if tag == "tenderAmendment" and not amendments:
        raise ValueError("a tenderAmendment release must carry at least one amendment")
    party_list, refs = _parties(tender, parties)
    agency = tender.get("agency_org_id")
    body: dict[str, Any] = {
        "id": tender["code"], "title": tender["title"], "status": STATUS[tender["status"]],
        "procuringEntity": refs[agency if agency is not None else tender["owner_org_id"]],
        "procurementMethod": METHOD[tender["procedure"]],
        "procurementMethodDetails": METHOD_DETAILS[tender["procedure"]],
        "mainProcurementCategory": CATEGORY[tender["sector"]],
        "awardCriteria": AWARD_CRITERIA[tender["evaluation_method"]],
        "submissionMethod": ["electronicSubmission"],
    }
    if tender.get("budget") is not None:
        body["value"] = _value(tender["budget"])
    if tender_period := _period(tender.get("documents_from"), tender.get("bid_deadline")):
        body["tenderPeriod"] = tender_period
    if enquiry_period := _period(None, tender.get("clarification_deadline")):
        body["enquiryPeriod"] = enquiry_period
    if tender["status"] in STATUS_DETAILS:
        body["statusDetails"] = STATUS_DETAILS[tender["status"]]
    if tag == "tenderCancellation":
        body["status"] = "cancelled"
        if tender.get("cancel_reason"):
            body["statusDetails"] = tender["cancel_reason"]
    # Empty arrays are left out: an empty array in a later release carries no news.
    if lots:
        body["lots"] = [{"id": str(lot["id"]), "title": lot["title"], "value": _value(lot["budget"])}
                        for lot in sorted(lots, key=lambda lot: int(lot["number"]))]
    if documents:
        body["documents"] = [_document(doc, public_url) for doc in documents]
    if amendments:
        body["amendments"] = [_amendment(a) for a in amendments]
    return {
        "ocid": ocid(prefix, tender["id"]), "id": release_id, "date": _iso(date), "tag": [tag],
        "initiationType": "tender", "language": LANGUAGE,
        "parties": party_list, "buyer": refs[tender["owner_org_id"]], "tender": body,
    }


def _package(key: str, items: Sequence[dict[str, Any]], published_date: datetime, uri: str,
             publisher_name: str) -> dict[str, Any]:
    return {"uri": uri, "version": VERSION, "extensions": [LOTS_EXTENSION],
            "publishedDate": _iso(published_date), "publisher": {"name": publisher_name},
            key: list(items)}


def release_package(releases: Sequence[dict[str, Any]], *, published_date: datetime, uri: str,
                    publisher_name: str) -> dict[str, Any]:
    return _package("releases", releases, published_date, uri, publisher_name)


def record_package(records: Sequence[dict[str, Any]], *, published_date: datetime, uri: str,
                   publisher_name: str) -> dict[str, Any]:
    return _package("records", records, published_date, uri, publisher_name)


def _merge_by_id(out: list[Any], items: list[Any]) -> None:
    for item in items:
        match = next((o for o in out if isinstance(o, dict) and o.get("id") == item["id"]), None)
        if match is None:
            match = {}
            out.append(match)
        _merge(match, item)


def _merge(out: dict[str, Any], inp: Mapping[str, Any]) -> None:
    # The OCDS compiled-release routine: null removes, objects merge field by
    # field, arrays of objects with ids merge by id, anything else is replaced.
    for key, value in inp.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            if not isinstance(out.get(key), dict):
                out[key] = {}
            _merge(out[key], value)
        elif (isinstance(value, list) and value and key not in WHOLE_LIST
              and all(isinstance(v, Mapping) and "id" in v for v in value)):
            if not isinstance(out.get(key), list):
                out[key] = []
            _merge_by_id(out[key], value)
        else:
            out[key] = copy.deepcopy(value)


def compile_record(releases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The record of one process: its releases in date order and their compiled state.

    Dates are compared as instants, not strings, since offsets may differ;
    releases with equal dates keep the order they were given in.
    """
    if not releases:
        raise ValueError("a record needs at least one release")
    ocids = {r["ocid"] for r in releases}
    if len(ocids) != 1:
        raise ValueError(f"a record holds one process, got ocids {sorted(ocids)}")
    ordered = sorted(releases, key=lambda r: datetime.fromisoformat(r["date"]))
    merged: dict[str, Any] = {}
    for release in ordered:
        _merge(merged, {k: v for k, v in release.items() if k not in OMIT_WHEN_MERGED})
    (the_ocid,) = ocids
    latest = ordered[-1]["date"]
    # id/date/tag as the standard's reference merge implementation sets them.
    compiled = {"ocid": the_ocid, "id": f"{the_ocid}-{latest}", "date": latest, "tag": ["compiled"],
                **merged}
    return {"ocid": the_ocid, "releases": ordered, "compiledRelease": compiled}


def dumps(obj: Any) -> bytes:
    """JSON bytes with Decimal written as a number, exactly as stored."""
    return _ENCODER.encode(obj)
