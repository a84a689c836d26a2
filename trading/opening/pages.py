"""The opening hall's page: public, live; the signed-in parties get their own controls."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from core.deps import Conn, MaybeUser
from core.errors import Forbidden
from core.pages import page_context
from trading.opening import presence, view
from trading.opening import queries as q


@get("/hall/{lot_id:uuid}", include_in_schema=False)
async def hall_page(request: Request[Any, Any, Any], conn: Conn, principal: MaybeUser,
                    lot_id: FromPath[UUID]) -> Template:
    """The hall of one lot: countdown, sign-ins, decryption progress, price reading,
    messages, as they happen."""
    lot = await view.lot_of(conn, lot_id)
    role, my_bid = None, None
    if principal is not None:
        try:
            role = await presence.role_in(conn, principal, lot)
        except Forbidden:
            role = None
        if role == "bidder":  # its own bid only, for the command it will run
            my_bid = await conn.fetchval(q.MY_BID_IN_LOT, lot_id, principal.organization_id)
    return Template("opening/hall.html", context=page_context(
        request, principal, lot=lot, role=role, my_bid=my_bid,
        base_url=str(request.base_url).rstrip("/")))


ROUTES = [hall_page]
