"""A bidder's guarantee for one lot: the application (G1, G2) and what the bidder sees of it.

The bidder picks an enabled issuer's active product (T6: any of them, of a form the tender
accepts); the amount is the lot's security amount and the cover runs from the bid deadline
for the bid validity (G10). The application is pushed to the issuer as a signed
``guarantee.application`` message. Before the deadline nobody but the bidder and its issuer
learns that it applied (docs/issuer-api.md, "Confidentiality"): nothing here is listed for
the tenderer or the agency.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, clock
from core.auth import Principal
from core.errors import NotFound
from core.settings import Settings
from trading.bids import uploads
from trading.bonds import errors, issuers, outbound
from trading.bonds import queries as q


async def apply(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                settings: Settings, *, tender_id: UUID, lot_number: int,
                product_id: UUID) -> dict[str, Any]:
    org = uploads.bidder_org(principal)
    lot = await conn.fetchrow(q.LOT_TERMS, tender_id, lot_number)
    if lot is None or lot["status"] == "draft":
        raise NotFound()
    uploads.check_open(dict(lot), await clock.db_now(conn))
    await uploads.check_holder(conn, dict(lot), org)
    if lot["security_amount"] <= 0:
        raise errors.NoSecurityRequired()
    product = await conn.fetchrow(q.PRODUCT, product_id)
    if product is None or not product["active"]:
        raise errors.ProductUnavailable({"product": str(product_id)})
    if product["issuer_status"] != "enabled":
        raise errors.IssuerSuspended()
    amount = lot["security_amount"]
    if product["maximum_amount"] is not None and amount > product["maximum_amount"]:
        raise errors.AboveProductLimit({"amount": str(amount),
                                        "maximum": str(product["maximum_amount"])})
    bidder = await conn.fetchrow(q.ORGANIZATION, org)
    valid_until = lot["bid_deadline"] + timedelta(days=lot["bid_validity_days"])
    premium = issuers.premium(dict(product), amount)
    guarantee_id = uuid.uuid4()
    message_id = await outbound.send(
        conn, settings, issuer_id=product["issuer_id"], issuer_code=product["issuer_code"],
        type="guarantee.application", body={
            "order": str(guarantee_id),
            "project": {"code": lot["code"], "title": lot["tender_title"],
                        "lot": lot["number"], "lot_title": lot["lot_title"]},
            "beneficiary": {"name": lot["beneficiary"], "credit_code": lot["beneficiary_code"]},
            "bidder": {"name": bidder["name"], "credit_code": bidder["credit_code"]},
            "product": {"id": str(product_id), "form": product["form"], "name": product["name"]},
            "amount": str(amount), "premium": str(premium),
            "bid_deadline": lot["bid_deadline"].astimezone(clock.SHANGHAI).isoformat(),
            "valid_until": valid_until.astimezone(clock.SHANGHAI).isoformat()})
    row = dict(await conn.fetchrow(
        q.INSERT_GUARANTEE, guarantee_id, tender_id, lot["lot_id"], org, principal.user_id,
        product["issuer_id"], product_id, product["form"], bidder["credit_code"],
        lot["beneficiary_code"], amount, premium, valid_until, message_id))
    await audit.record(conn, actor, "guarantee.apply", "guarantee", guarantee_id, {
        "issuer": str(product["issuer_id"]), "message": str(message_id)})
    return {**row, "issuer_name": product["issuer_name"], "tender_code": lot["code"],
            "lot_number": lot["number"]}


async def mine(conn: asyncpg.Connection, principal: Principal) -> list[dict[str, Any]]:
    """The caller's organization's guarantees (bidders only)."""
    org = uploads.bidder_org(principal)
    return [dict(r) for r in await conn.fetch(q.GUARANTEES_OF, org)]


async def public_check(conn: asyncpg.Connection, *, number: str,
                       code: str) -> dict[str, Any]:
    """保函验真 (G7): anyone holding a guarantee's number and verification code learns
    whether it is genuine and in force, who issued it, for how much and until when. Which
    tender and which bidder it secures stays hidden until the bid deadline (G8)."""
    row = await conn.fetchrow(q.BY_NUMBER, number.strip(), code.strip())
    if row is None:
        raise errors.GuaranteeNotFound()
    now = await clock.db_now(conn)
    out = {"number": row["number"], "issuer": row["issuer_name"], "form": row["form"],
           "amount": row["amount"], "valid_until": row["valid_until"], "status": row["status"],
           "in_force": row["status"] == "issued" and now < row["valid_until"],
           "problems": list(row["problems"] or []), "tender_code": None, "lot_number": None,
           "bidder": None}
    if now >= row["bid_deadline"]:
        out |= {"tender_code": row["tender_code"], "lot_number": row["lot_number"],
                "bidder": row["bidder_name"]}
    return out
