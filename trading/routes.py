"""HTTP routes for tenders."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from core.auth import actor_of
from core.deps import Conn, MaybeUser, User
from trading import schemas as s
from trading import service


def _out(row: dict[str, Any]) -> s.TenderOut:
    return s.TenderOut(**{k: row[k] for k in s.TenderOut.__struct_fields__})


class TenderController(Controller):
    path = "/api/tenders"
    tags = ["tenders"]  # noqa: RUF012

    @get("/")
    async def list_tenders(
        self, conn: Conn,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        region: Annotated[str | None, QueryParameter(max_length=100)] = None,
        status: Annotated[str | None, QueryParameter(max_length=30)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> s.TenderPage:
        rows, total = await service.list_public(conn, keyword=q, region=region, status=status,
                                                page=page, page_size=page_size)
        return s.TenderPage(items=[_out(r) for r in rows], total=total, page=page,
                            page_size=page_size)

    @get("/mine")
    async def mine(self, conn: Conn, user: User) -> list[s.TenderOut]:
        return [_out(r) for r in await service.list_own(conn, user)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create(self, request: Request[Any, Any, Any], conn: Conn,
                     user: User, data: JSONBody[s.TenderIn]) -> s.TenderOut:
        row = await service.create_tender(
            conn, user, actor_of(request, user), code=data.code, title=data.title,
            region=data.region, procedure=data.procedure, budget=data.budget,
            agency_org_id=data.agency_org_id)
        return _out(row)

    @get("/{tender_id:uuid}")
    async def detail(self, conn: Conn, principal: MaybeUser,
                     tender_id: FromPath[UUID]) -> s.TenderOut:
        return _out(await service.get_tender(conn, principal, tender_id))

    @post("/{tender_id:uuid}/publish", status_code=HTTP_200_OK)
    async def publish(self, request: Request[Any, Any, Any], conn: Conn,
                      user: User, tender_id: FromPath[UUID]) -> s.TenderOut:
        return _out(await service.publish(conn, user, actor_of(request, user), tender_id))
