"""HTTP routes after the reading: the opening record's issues (public, as the opening is),
the bidders' confirmations and objections, and the host's answers (S7)."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import urllib3
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from minio.error import S3Error

from core.auth import actor_of
from core.db import short_transaction
from core.deps import Conn, User
from core.errors import NotFound
from core.responses import file_response
from trading.opening import errors, objections, record, view
from trading.opening import queries as q
from trading.opening import schemas as s


@get("/api/lots/{lot_id:uuid}/opening-records", tags=["opening"])
async def records(conn: Conn, lot_id: FromPath[UUID]) -> list[dict[str, Any]]:
    """Every issue of the lot's opening record, oldest first."""
    await view.lot_of(conn, lot_id)
    return [dict(r) for r in await conn.fetch(q.RECORDS, lot_id)]


@get("/api/lots/{lot_id:uuid}/opening-records/{version:int}", tags=["opening"],
     media_type="application/pdf")
async def record_pdf(state: State, lot_id: FromPath[UUID],
                     version: FromPath[int]) -> Response[bytes]:
    """One issue of the record: the signed PDF, checked against its recorded SHA-256.

    No ``conn``: the request's transaction would stay open while the PDF comes
    from the object store; the lookup takes a short transaction of its own."""
    async with short_transaction(state) as conn:
        lot = await view.lot_of(conn, lot_id)
        row = await conn.fetchrow(q.RECORD, lot_id, version)
    if row is None:
        raise NotFound()
    try:
        data = await state.store.get_bytes(record.BUCKET, row["object_key"])
    except (S3Error, urllib3.exceptions.HTTPError, OSError):
        raise errors.RecordUnreadable({"version": version}) from None
    if hashlib.sha256(data).digest() != bytes(row["sha256"]):
        raise errors.RecordUnreadable({"version": version})
    return file_response(data, "application/pdf",
                         f"开标记录-{lot['tender_code']}-{lot['number']}-v{version}.pdf",
                         inline=True)


@post("/api/lots/{lot_id:uuid}/opening/confirm", tags=["opening"], status_code=200)
async def confirm(conn: Conn, user: User, request: Request[Any, Any, Any],
                  lot_id: FromPath[UUID]) -> dict[str, Any]:
    """Confirm the opening record (a bidder of the lot, within the period)."""
    return await objections.confirm(conn, user, actor_of(request, user), lot_id=lot_id)


@post("/api/lots/{lot_id:uuid}/objections", tags=["opening"], status_code=201)
async def raise_objection(request: Request[Any, Any, Any], conn: Conn, user: User,
                          lot_id: FromPath[UUID], data: JSONBody[s.TextIn]) -> s.ObjectionOut:
    """Object to the opening (a bidder of the lot, within the period)."""
    row = await objections.raise_objection(conn, user, actor_of(request, user), lot_id=lot_id,
                                           text=data.text)
    return s.ObjectionOut(**row)


@post("/api/lots/{lot_id:uuid}/objections/{objection_id:uuid}/answer", tags=["opening"],
      status_code=200)
async def answer(request: Request[Any, Any, Any], conn: Conn, user: User,
                 lot_id: FromPath[UUID], objection_id: FromPath[UUID],
                 data: JSONBody[s.TextIn]) -> s.ObjectionOut:
    """The host's answer to an objection (once)."""
    row = await objections.answer(conn, user, actor_of(request, user), lot_id=lot_id,
                                  objection_id=objection_id, text=data.text)
    return s.ObjectionOut(**row)


ROUTES = [records, record_pdf, confirm, raise_objection, answer]
