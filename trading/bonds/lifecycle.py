"""An issuer's messages about a guarantee (G2): the review (accepted with the premium, or
rejected with a reason), the premium paid, and the issuance with the guarantee number, the
verification code (G7), the issuer-signed terms and the PDF.

Each message names the platform's order (the guarantee id) and moves it one step; a message
about another issuer's order, or out of turn, is refused with its code and stores nothing.
On issuance the platform checks the issued terms against the lot (verify.py) and keeps the
result with the guarantee, whatever it is: a failing guarantee is kept, marked, for the
opening and the evaluation to see.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import asyncpg

from trading.bonds import envelope, errors, verify
from trading.bonds import queries as q

# what each message moves from, and to
STEPS = {"guarantee.review": ("applied",), "guarantee.paid": ("accepted",),
         "guarantee.issued": ("paid",)}


async def _order(conn: asyncpg.Connection, issuer: dict[str, Any], parsed: envelope.Parsed,
                 ) -> dict[str, Any]:
    try:
        order = UUID(str(parsed.message["body"].get("order")))
    except ValueError:
        raise errors.MessageMalformed({"field": "body.order"}) from None
    row = await conn.fetchrow(q.GUARANTEE_FOR_ISSUER, order, issuer["organization_id"])
    if row is None:
        raise errors.GuaranteeUnknown({"order": str(order)})
    if row["status"] not in STEPS[parsed.type]:
        raise errors.GuaranteeOutOfTurn({"status": row["status"], "message": parsed.type})
    return dict(row)


def _money(body: dict[str, Any], field: str) -> Decimal:
    try:
        value = Decimal(str(body[field]))
    except (KeyError, InvalidOperation):
        raise errors.MessageMalformed({"field": f"body.{field}"}) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise errors.MessageMalformed({"field": f"body.{field}", "reason": "yuan, 2 decimals"})
    return value


def _text(body: dict[str, Any], field: str, low: int = 2, high: int = 500) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        raise errors.MessageMalformed({"field": f"body.{field}"})
    return value.strip()


async def review(conn: asyncpg.Connection, issuer: dict[str, Any],
                 parsed: envelope.Parsed) -> dict[str, Any]:
    g = await _order(conn, issuer, parsed)
    body = parsed.message["body"]
    if body.get("decision") == "accepted":
        row = await conn.fetchrow(q.REVIEWED, g["id"], "accepted", None, _money(body, "premium"))
    elif body.get("decision") == "rejected":
        row = await conn.fetchrow(q.REVIEWED, g["id"], "rejected", _text(body, "reason"), None)
    else:
        raise errors.MessageMalformed({"field": "body.decision",
                                       "allowed": ["accepted", "rejected"]})
    return {"order": str(g["id"]), "status": row["status"]}


async def paid(conn: asyncpg.Connection, issuer: dict[str, Any],
               parsed: envelope.Parsed) -> dict[str, Any]:
    g = await _order(conn, issuer, parsed)
    row = await conn.fetchrow(q.PAID, g["id"])
    return {"order": str(g["id"]), "status": row["status"]}


async def issued(conn: asyncpg.Connection, issuer: dict[str, Any],
                 parsed: envelope.Parsed) -> dict[str, Any]:
    g = await _order(conn, issuer, parsed)
    body = parsed.message["body"]
    number = _text(body, "number", 4, 64)
    code = _text(body, "verification_code", 4, 64)
    pdf = None
    if body.get("pdf") is not None:
        try:
            pdf = base64.b64decode(body["pdf"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise errors.MessageMalformed({"field": "body.pdf", "reason": "base64"}) from None
        if not pdf.startswith(b"%PDF-"):
            raise errors.MessageMalformed({"field": "body.pdf", "reason": "not a PDF"})
    problems = verify.issued_terms(g, body)
    row = await conn.fetchrow(q.ISSUED, g["id"], number, code, parsed.id, pdf, problems)
    return {"order": str(g["id"]), "status": row["status"], "problems": problems}
