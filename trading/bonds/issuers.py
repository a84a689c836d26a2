"""Guarantee issuers: insurers and banks the trading centre enables or suspends, and their
products with the premium rule a bidder is shown (T6: any enabled issuer; the tenderer cannot
restrict the choice, so nothing here depends on the tender).

An issuer is an organization of kind insurer or bank. Its people (role insurer) hold its API
keys and its bound certificates (signing, encryption), through the platform's usual people
and certificate routes: the registry adds only what makes it an issuer.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import asyncpg

from core import audit, money
from core.auth import Principal
from core.errors import InvalidInput, NotFound
from trading.bonds import errors
from trading.bonds import queries as q

CENT = Decimal("0.01")


def premium(product: dict[str, Any], amount: Decimal) -> Decimal:
    """What the bidder pays for cover of ``amount``: amount x rate, rounded half up to the
    cent, and never below the product's minimum."""
    rate: Decimal = product["premium_rate"]
    minimum: Decimal = product["minimum_premium"]
    return max((amount * rate).quantize(CENT, ROUND_HALF_UP), minimum)


async def register(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor, *,
                   organization_id: UUID, gateway_url: str) -> dict[str, Any]:
    """Make an insurer's or a bank's organization an issuer, enabled."""
    principal.require("admin")
    org = await conn.fetchrow(q.ORGANIZATION, organization_id)
    if org is None:
        raise NotFound()
    if org["kind"] not in ("insurer", "bank"):
        raise errors.IssuerKind({"kind": org["kind"]})
    row = dict(await conn.fetchrow(q.INSERT_ISSUER, organization_id, org["kind"], gateway_url))
    await audit.record(conn, actor, "issuer.register", "organization", organization_id,
                       {"gateway_url": gateway_url})
    return {**row, "products": []}


async def set_status(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                     organization_id: UUID, *, enabled: bool,
                     reason: str | None) -> dict[str, Any]:
    """Enable, or suspend with a reason: a suspended issuer is offered to nobody and its
    messages are refused."""
    principal.require("admin")
    if not enabled and not reason:
        raise InvalidInput({"field": "reason"}, message="暂停出具机构须说明原因",
                           message_en="Suspending an issuer needs a reason")
    status = "enabled" if enabled else "suspended"
    row = await conn.fetchrow(q.SET_STATUS, organization_id, status,
                              reason.strip() if reason else None)
    if row is None:
        raise NotFound()
    await audit.record(conn, actor, f"issuer.{'enable' if enabled else 'suspend'}",
                       "organization", organization_id, {"reason": reason})
    return (await _with_products(conn, [dict(row)], active_only=False))[0]


async def add_product(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor,
                      organization_id: UUID, *, form: str, name: str, premium_rate: Decimal,
                      minimum_premium: Decimal, maximum_amount: Decimal | None) -> dict[str, Any]:
    principal.require("admin")
    exponent = premium_rate.normalize().as_tuple().exponent
    if not (premium_rate.is_finite() and 0 < premium_rate < Decimal("0.1")
            and isinstance(exponent, int) and exponent >= -6):
        raise InvalidInput({"field": "premium_rate"}, message="费率须大于 0、小于 0.1，最多六位小数",
                           message_en="The rate is above 0 and below 0.1, six decimals at most")
    minimum_premium = money.amount(minimum_premium, "minimum_premium", allow_zero=True)
    if maximum_amount is not None:
        maximum_amount = money.amount(maximum_amount, "maximum_amount")
    if await conn.fetchrow(q.GET_ISSUER, organization_id) is None:
        raise NotFound()
    row = dict(await conn.fetchrow(q.INSERT_PRODUCT, organization_id, form, name.strip(),
                                   premium_rate, minimum_premium, maximum_amount))
    await audit.record(conn, actor, "issuer.product", "organization", organization_id,
                       {"product": str(row["id"]), "form": form, "rate": str(premium_rate)})
    return row


async def listing(conn: asyncpg.Connection, principal: Principal) -> list[dict[str, Any]]:
    """Administrators see every issuer and product; everyone else the enabled issuers and
    their active products, the choice a bidder has."""
    admin = principal.has("admin")
    rows = [dict(r) for r in await conn.fetch(q.ISSUERS, not admin)]
    return await _with_products(conn, rows, active_only=not admin)


async def _with_products(conn: asyncpg.Connection, rows: list[dict[str, Any]], *,
                         active_only: bool) -> list[dict[str, Any]]:
    products = await conn.fetch(q.PRODUCTS, [r["organization_id"] for r in rows], active_only)
    for r in rows:
        r["products"] = [dict(p) for p in products if p["issuer_id"] == r["organization_id"]]
    return rows


async def issuer_of(conn: asyncpg.Connection, principal: Principal) -> dict[str, Any]:
    """The enabled issuer the caller speaks for (role insurer, of the issuer's organization)."""
    principal.require("insurer")
    row = (await conn.fetchrow(q.GET_ISSUER, principal.organization_id)
           if principal.organization_id else None)
    if row is None:
        raise errors.IssuerNotRegistered()
    if row["status"] != "enabled":
        raise errors.IssuerSuspended({"reason": row["status_reason"]})
    return dict(row)
