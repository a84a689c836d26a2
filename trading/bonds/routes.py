"""HTTP routes of bid security: the issuer registry, and the issuers' message endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from core.auth import actor_of, client_ip
from core.deps import Conn, User
from core.identity.throttle import LoginLocked, Throttle
from trading.bonds import errors, guarantees, inbox, issuers
from trading.bonds import schemas as s


def issuer_out(row: dict[str, Any], *, admin: bool) -> s.IssuerOut:
    fields = {k: row[k] for k in s.IssuerOut.__struct_fields__ if k in row and k != "products"}
    if not admin:
        fields.pop("gateway_url", None)
    products = [s.ProductOut(**{k: p[k] for k in s.ProductOut.__struct_fields__})
                for p in row.get("products", [])]
    return s.IssuerOut(**fields, products=products)


class IssuerController(Controller):
    path = "/api/issuers"
    tags = ["bid security"]  # noqa: RUF012

    @get("/")
    async def list_issuers(self, conn: Conn, user: User) -> list[s.IssuerOut]:
        """The enabled issuers and their products (administrators: every one)."""
        admin = user.has("admin")
        return [issuer_out(r, admin=admin) for r in await issuers.listing(conn, user)]

    @post("/", status_code=HTTP_201_CREATED)
    async def register(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                       data: JSONBody[s.IssuerIn]) -> s.IssuerOut:
        row = await issuers.register(conn, user, actor_of(request, user),
                                     organization_id=data.organization_id,
                                     gateway_url=data.gateway_url)
        return issuer_out(row, admin=True)

    @post("/{organization_id:uuid}/status", status_code=HTTP_200_OK)
    async def set_status(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                         organization_id: FromPath[UUID],
                         data: JSONBody[s.IssuerStatusIn]) -> s.IssuerOut:
        """Enable, or suspend with a reason."""
        row = await issuers.set_status(conn, user, actor_of(request, user), organization_id,
                                       enabled=data.enabled, reason=data.reason)
        return issuer_out(row, admin=True)

    @post("/{organization_id:uuid}/products", status_code=HTTP_201_CREATED)
    async def add_product(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                          organization_id: FromPath[UUID],
                          data: JSONBody[s.ProductIn]) -> s.ProductOut:
        row = await issuers.add_product(
            conn, user, actor_of(request, user), organization_id, form=data.form,
            name=data.name, premium_rate=data.premium_rate,
            minimum_premium=data.minimum_premium, maximum_amount=data.maximum_amount)
        return s.ProductOut(**{k: row[k] for k in s.ProductOut.__struct_fields__})


def guarantee_out(row: dict[str, Any]) -> s.GuaranteeOut:
    return s.GuaranteeOut(**{k: row[k] for k in s.GuaranteeOut.__struct_fields__})


@post("/api/tenders/{tender_id:uuid}/lots/{number:int}/guarantees", tags=["bid security"],
      status_code=HTTP_201_CREATED)
async def apply_for_guarantee(request: Request[Any, Any, Any], state: State, conn: Conn,
                              user: User, tender_id: FromPath[UUID], number: FromPath[int],
                              data: JSONBody[s.GuaranteeIn]) -> s.GuaranteeOut:
    """A bidder applies to an issuer for the lot's bid security; the application goes to
    the issuer as a signed message. Nobody else learns of it before the deadline."""
    row = await guarantees.apply(conn, user, actor_of(request, user), state.settings,
                                 tender_id=tender_id, lot_number=number,
                                 product_id=data.product_id)
    return guarantee_out(row)


@get("/api/guarantees/mine", tags=["bid security"])
async def my_guarantees(conn: Conn, user: User) -> list[s.GuaranteeOut]:
    """The caller's organization's guarantees, newest first."""
    return [guarantee_out(r) for r in await guarantees.mine(conn, user)]


@get("/api/guarantees/verify", tags=["bid security"])
async def verify_guarantee(
        request: Request[Any, Any, Any], state: State, conn: Conn,
        number: Annotated[str, QueryParameter(min_length=4, max_length=64)],
        code: Annotated[str, QueryParameter(min_length=4, max_length=64)]) -> s.PublicCheckOut:
    """保函验真: a guarantee's number and verification code; no sign-in needed.

    Wrong pairs are counted per client address, as wrong passwords are (the login
    limits, under keys of their own): past the limit the address waits, so the codes
    cannot be guessed by trying them."""
    address = client_ip(request)
    throttle = Throttle(state.redis, replace(state.settings.login,
                                             key_prefix=state.settings.login.key_prefix
                                             + ":guarantee-verify"))
    try:
        await throttle.check(address or "-", address)
    except LoginLocked as exc:
        raise errors.VerifyLocked(exc.retry_after or 60) from None
    try:
        found = await guarantees.public_check(conn, number=number, code=code)
    except errors.GuaranteeNotFound:
        await throttle.failed(address or "-", address)
        raise
    return s.PublicCheckOut(**found)


@post("/api/issuer/v1/messages", tags=["issuer API"], status_code=HTTP_200_OK)
async def receive_message(request: Request[Any, Any, Any], state: State, conn: Conn,
                          user: User, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """An issuer's signed message (docs/issuer-api.md); the platform's signed answer.

    The same message sent again gets the same answer and changes nothing."""
    return await inbox.receive(conn, user, actor_of(request, user), state.settings, data)


ROUTES: list[Any] = [IssuerController, receive_message, apply_for_guarantee, my_guarantees,
                     verify_guarantee]
