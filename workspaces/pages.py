"""The workspace pages: the hub at /workspace and one page per role under it.

Each role page requires its role (anyone else gets 403, not an empty page); the hub shows a
section for each role the person holds. Nothing here changes data but the administrator's
revocation of someone else's API key: the JSON API lets a person revoke only their own.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from core import clock
from core.auth import actor_of
from core.deps import Conn, MaybeUser, User
from core.pages import login_redirect, page_context
from workspaces import audit_trail, service
from workspaces.texts import ACTIONS

Req = Request[Any, Any, Any]

# The hub's sections, in the order they are shown: (role, page or None when the section
# is the work itself).
SECTIONS = ("admin", "supervisor", "site_operator", "tenderer", "bidder", "expert", "insurer")
PAGES = {"admin": "/workspace/admin", "supervisor": "/workspace/supervisor",
         "site_operator": "/workspace/operator", "bidder": "/bids",
         "expert": "/workspace/expert", "insurer": "/workspace/insurer"}


@get("/workspace", include_in_schema=False)
async def hub(request: Req, conn: Conn, principal: MaybeUser) -> Template | Redirect:
    """A section per role the person holds; the tenderer's and agency's section is their
    tenders and what waits for them, the others lead to their role's page."""
    if principal is None:
        return login_redirect(request)
    roles = [r for r in SECTIONS if principal.has(r)
             or (r == "tenderer" and principal.has("agency"))]
    context: dict[str, Any] = {"roles": roles, "pages": PAGES}
    if "tenderer" in roles:
        context["desk"] = await service.tenderer_desk(conn, principal)
    if "site_operator" in roles:
        context["openings"] = await service.openings(conn, principal,
                                                     now=await clock.db_now(conn))
    return Template("workspace/hub.html", context=page_context(request, principal, **context))


@get("/workspace/supervisor", include_in_schema=False)
async def supervisor_page(request: Req, conn: Conn,
                          principal: MaybeUser) -> Template | Redirect:
    if principal is None:
        return login_redirect(request)
    principal.require("supervisor")
    now = await clock.db_now(conn)
    return Template("workspace/supervisor.html", context=page_context(
        request, principal, now=now,
        live=await service.supervised(conn, principal, live=True, now=now),
        past=await service.supervised(conn, principal, live=False, now=now)))


@get("/workspace/supervisor/tenders/{tender_id:uuid}/audit", include_in_schema=False)
async def audit_page(request: Req, conn: Conn, principal: MaybeUser,
                     tender_id: FromPath[UUID],
                     chain: Annotated[str | None, QueryParameter(max_length=10)] = None,
                     ) -> Template | Redirect:
    """A tender's audit log with its hashes recomputed; ``?chain=whole`` recomputes the
    platform's whole chain as well."""
    if principal is None:
        return login_redirect(request)
    principal.require("supervisor")
    trail = await audit_trail.tender_trail(conn, tender_id=tender_id,
                                           now=await clock.db_now(conn),
                                           whole_chain=chain == "whole")
    return Template("workspace/audit.html", context=page_context(request, principal,
                                                                 actions=ACTIONS, **trail))


@get("/workspace/admin", include_in_schema=False)
async def admin_page(request: Req, conn: Conn, principal: MaybeUser,
                     year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
                     ) -> Template | Redirect:
    if principal is None:
        return login_redirect(request)
    principal.require("admin")
    if year is None:
        year = clock.local_date(await clock.db_now(conn)).year
    return Template("workspace/admin.html", context=page_context(
        request, principal, **await service.admin_desk(conn, principal, year=year)))


@post("/workspace/admin/api-keys/{key_id:uuid}/revoke", include_in_schema=False,
      status_code=HTTP_200_OK)
async def admin_revoke_key(request: Req, conn: Conn, user: User,
                           key_id: FromPath[UUID]) -> dict[str, Any]:
    """Posted by the administrator's page (static/forms.js); answers as the JSON API does."""
    row = await service.revoke_any_key(conn, user, actor_of(request, user), key_id=key_id)
    return {"id": str(row["id"]), "revoked_at": row["revoked_at"].isoformat()}


@get("/workspace/operator", include_in_schema=False)
async def operator_page(request: Req, conn: Conn, principal: MaybeUser) -> Template | Redirect:
    if principal is None:
        return login_redirect(request)
    principal.require("site_operator")
    return Template("workspace/operator.html", context=page_context(
        request, principal, **await service.openings(conn, principal,
                                                     now=await clock.db_now(conn))))


async def _own_page(request: Req, conn: Conn, principal: MaybeUser,
                    role: str) -> Template | Redirect:
    if principal is None:
        return login_redirect(request)
    principal.require(role)
    return Template(f"workspace/{role}.html", context=page_context(
        request, principal, **await service.own_desk(conn, principal)))


@get("/workspace/expert", include_in_schema=False)
async def expert_page(request: Req, conn: Conn, principal: MaybeUser) -> Template | Redirect:
    return await _own_page(request, conn, principal, "expert")


@get("/workspace/insurer", include_in_schema=False)
async def insurer_page(request: Req, conn: Conn, principal: MaybeUser) -> Template | Redirect:
    return await _own_page(request, conn, principal, "insurer")


ROUTES = [hub, supervisor_page, audit_page, admin_page, admin_revoke_key, operator_page,
          expert_page, insurer_page]
