"""HTTP routes for tenders."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from core.auth import actor_of
from core.deps import Conn, MaybeUser, User
from core.readcache import ReadCache
from trading.tenders import schemas as s
from trading.tenders import service


def tender_out(row: dict[str, Any]) -> s.TenderOut:
    fields = {k: row[k] for k in s.TenderOut.__struct_fields__ if k in row and k != "lots"}
    fields.pop("officers", None)
    lots = [s.LotOut(**lot) for lot in row.get("lots", [])]
    officers = [s.OfficerOut(**o) for o in row.get("officers", [])]
    return s.TenderOut(**fields, lots=lots, officers=officers)


class TenderController(Controller):
    path = "/api/tenders"
    tags = ["tenders"]  # noqa: RUF012

    @get("/")
    async def list_tenders(
        self, state: State,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        region: Annotated[str | None, QueryParameter(max_length=100)] = None,
        status: Annotated[str | None, QueryParameter(max_length=30)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        procedure: Annotated[str | None, QueryParameter(max_length=40)] = None,
        published_from: FromQuery[date | None] = None,
        published_to: FromQuery[date | None] = None,
    ) -> s.TenderPage:
        """Published tenders, newest first; ``published_from``/``published_to`` are inclusive
        days in Asia/Shanghai."""
        async def build(conn: asyncpg.Connection) -> s.TenderPage:
            rows, total = await service.list_public(
                conn, keyword=q, region=region, status=status, page=page, page_size=page_size,
                procedure=procedure, published_from=published_from, published_to=published_to)
            return s.TenderPage(items=[tender_out(r) for r in rows], total=total, page=page,
                                page_size=page_size)

        cache: ReadCache = state.public_tenders
        return await cache.read(state, (q, region, status, page, page_size, procedure,
                                        published_from, published_to), build)

    @get("/mine")
    async def mine(self, conn: Conn, user: User) -> list[s.TenderOut]:
        return [tender_out(r) for r in await service.list_own(conn, user)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create(self, request: Request[Any, Any, Any], conn: Conn,
                     user: User, data: JSONBody[s.TenderIn]) -> s.TenderOut:
        row = await service.create_tender(conn, user, actor_of(request, user),
                                          data=msgspec.structs.asdict(data) | {
                                              "lots": [msgspec.structs.asdict(lot)
                                                       for lot in data.lots]})
        return tender_out(row)

    @put("/{tender_id:uuid}")
    async def update(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID], data: JSONBody[s.TenderUpdate]) -> s.TenderOut:
        fields = msgspec.structs.asdict(data)
        version = fields.pop("version")
        fields["lots"] = [msgspec.structs.asdict(lot) for lot in data.lots]
        return tender_out(await service.update_draft(conn, user, actor_of(request, user), tender_id,
                                               version=version, data=fields))

    @post("/{tender_id:uuid}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID], data: JSONBody[s.CancelIn]) -> s.TenderOut:
        return tender_out(await service.cancel(conn, user, actor_of(request, user), tender_id,
                                         reason=data.reason))

    @post("/{tender_id:uuid}/retender", status_code=HTTP_201_CREATED)
    async def retender(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                       tender_id: FromPath[UUID], data: JSONBody[s.RetenderIn]) -> s.TenderOut:
        return tender_out(await service.retender(conn, user, actor_of(request, user), tender_id,
                                           code=data.code))

    @get("/{tender_id:uuid}")
    async def detail(self, conn: Conn, principal: MaybeUser,
                     tender_id: FromPath[UUID]) -> s.TenderOut:
        return tender_out(await service.get_tender(conn, principal, tender_id))
