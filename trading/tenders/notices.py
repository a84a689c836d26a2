"""Notices as signed bytes: what the agency signs, and the check of its signature.

The tender notice and each clarification are fixed as canonical JSON (sorted
keys, UTF-8, no spaces, times in Asia/Shanghai). The client fetches exactly
these bytes, signs them with the organization's signing certificate (detached
CMS, e.g. ``openssl cms -sign -binary -outform DER``) and sends the signature
back; the platform rebuilds the bytes in the publishing transaction, so a
signature over anything else (an older version of the draft, say) fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.serialization import Encoding

from core.errors import DomainError
from signing import cms, identity
from signing.canonical import canonical
from signing.errors import ContentMismatch
from signing.trust import load_trust_store
from trading.tenders.errors import NoticeOutdated, SignerNotOfOrganization
from trading.tenders.queries import notices as notice_sql

FORMAT = 1


def _documents(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": d["name"], "sha256": d["sha256"], "size": d["size"]}
            for d in sorted(documents, key=lambda d: d["name"])]


TENDER_FIELDS = ("id", "code", "title", "region", "procedure", "sector", "budget",
                 "ceiling_price", "min_bids", "has_prequalification", "security_forms",
                 "documents_from", "documents_until", "clarification_deadline", "bid_deadline",
                 "bid_validity_days", "evaluation_method", "weights", "decryption_minutes",
                 "decrypt_failure", "officers_n", "officers_k", "objection_minutes", "version")


def tender_notice(tender: dict[str, Any], lots: Sequence[dict[str, Any]],
                  documents: Sequence[dict[str, Any]], parties: dict[str, Any]) -> bytes:
    """The tender notice (招标公告) the agency signs to publish."""
    return canonical({
        "format": FORMAT, "type": "tender_notice",
        "tender": {f: tender[f] for f in TENDER_FIELDS},
        "parties": parties,
        "lots": [{f: lot[f] for f in ("number", "title", "budget", "security_amount",
                                      "ceiling_price")} for lot in lots],
        "documents": _documents(documents),
    })


def clarification(tender: dict[str, Any], notice: dict[str, Any],
                  documents: Sequence[dict[str, Any]]) -> bytes:
    """A clarification or amendment (澄清/修改): its text and attachments, by hash."""
    return canonical({
        "format": FORMAT, "type": "clarification",
        "tender": {"id": tender["id"], "code": tender["code"]},
        "number": notice["number"], "title": notice["title"], "body": notice["body"],
        "requested_bid_deadline": notice["requested_bid_deadline"],
        "documents": _documents(documents),
    })


def objection_answer(tender: dict[str, Any], objection: dict[str, Any], answer: str) -> bytes:
    """The answer to an objection (异议答复, T4): its text, bound to the tender and to the
    objection it answers (by id, filing time and a digest of the objection's text)."""
    return canonical({
        "format": FORMAT, "type": "objection_answer",
        "tender": {"id": tender["id"], "code": tender["code"]},
        "objection": {"id": objection["id"], "submitted_at": objection["submitted_at"],
                      "body_sha256": hashlib.sha256(objection["body"].encode()).hexdigest()},
        "answer": answer.strip(),
    })


async def parties(conn: asyncpg.Connection, tender: dict[str, Any]) -> dict[str, Any]:
    rows = await conn.fetch(notice_sql.PARTIES, [tender["owner_org_id"], tender["agency_org_id"]])
    by_id = {r["id"]: {"name": r["name"], "credit_code": r["credit_code"]} for r in rows}
    return {"tenderer": by_id[tender["owner_org_id"]],
            "agency": by_id.get(tender["agency_org_id"])}


def signing_org(tender: dict[str, Any]) -> UUID:
    """Who signs for the tender: the agency when there is one, else the tenderer."""
    org: UUID = tender["agency_org_id"] or tender["owner_org_id"]
    return org


async def verify_org_signature(conn: asyncpg.Connection, signature: bytes, content: Any, *,
                               organization_id: UUID) -> cms.Verified:
    """The signature verifies, its certificate is trusted and speaks for the organization."""
    verified = await cms.verify(cms.pem_to_der(signature), trust=await load_trust_store(conn),
                                content=content, purpose="signing")
    expected = await conn.fetchval(notice_sql.CREDIT_CODE, organization_id)
    if identity.credit_code(verified.signer) != expected:
        raise SignerNotOfOrganization({"certificate": verified.subject,
                                       "expected_credit_code": expected})
    return verified


async def verify_for_tender(conn: asyncpg.Connection, tender: dict[str, Any], signature: bytes,
                            content: bytes, *,
                            changed: type[DomainError] = NoticeOutdated) -> cms.Verified:
    """The signature over ``content`` by the organization that signs for ``tender``; one
    over other bytes (signed before an edit) raises ``changed``."""
    try:
        return await verify_org_signature(conn, signature, content,
                                          organization_id=signing_org(tender))
    except ContentMismatch:
        raise changed() from None


def cert_sha256(verified: cms.Verified) -> bytes:
    return hashlib.sha256(verified.signer.public_bytes(Encoding.DER)).digest()
