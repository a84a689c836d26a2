"""HTTP routes for sealed bids: upload in parts, finalize, receipts, withdrawal, counts."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

import msgspec
from asn1crypto import cms as asn1_cms
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from core.auth import Principal, actor_of, authenticate, client_ip
from core.db import short_transaction
from core.deps import Conn, User
from core.errors import NotAuthenticated, NotFound
from core.responses import JSON_DOCUMENT, file_response
from signing.schemas import signature_bytes
from trading.bids import errors, finalize, service, uploads
from trading.bids import schemas as s
from trading.bids.jobs import PDF_BUCKET


def _struct_dict(value: msgspec.Struct | None) -> dict[str, Any] | None:
    return None if value is None else msgspec.to_builtins(value)  # type: ignore[no-any-return]


class BidUploadController(Controller):
    path = "/api"
    tags = ["bids"]  # noqa: RUF012

    @post("/tenders/{tender_id:uuid}/lots/{number:int}/bid-uploads")
    async def start(self, request: Request[Any, Any, Any], state: State,
                    tender_id: FromPath[UUID], number: FromPath[int],
                    data: JSONBody[s.UploadIn]) -> Response[s.UploadOut]:
        """Start uploading ``bid.p7m`` (201), or find the upload this idempotency key made (200)."""
        user = await _signed_in(request, state)
        row, created = await uploads.start(
            lambda: short_transaction(state), state.store, state.settings, user,
            actor_of(request, user), tender_id=tender_id, lot_number=number, size=data.size,
            idempotency_key=data.idempotency_key, part_size=data.part_size,
            sha256=bytes.fromhex(data.sha256) if data.sha256 else None,
            device=_struct_dict(data.device), creator=_struct_dict(data.creator))
        return Response(s.upload_out(uploads.progress(row)), status_code=201 if created else 200)

    @get("/bid-uploads/{upload_id:uuid}")
    async def progress(self, conn: Conn, user: User, upload_id: FromPath[UUID]) -> s.UploadOut:
        return s.upload_out(uploads.progress(await uploads.get(conn, user, upload_id)))

    @post("/bid-uploads/{upload_id:uuid}/finalize")
    async def finalize(self, request: Request[Any, Any, Any], state: State,
                       upload_id: FromPath[UUID],
                       data: JSONBody[s.FinalizeIn]) -> Response[s.BidOut]:
        """Check, store and receipt the bid (201); a retry answers with the same bid (200).

        Short transactions only, none held while OCSP or the object store is asked
        (``trading.bids.finalize``)."""
        user = await _signed_in(request, state)
        row, created = await finalize.finalize(
            lambda: short_transaction(state), state.store, state.settings, state.tsa, user,
            actor_of(request, user), upload_id=upload_id,
            signature=signature_bytes(data.signature))
        return Response(s.bid_out(row), status_code=201 if created else 200)


async def _signed_in(request: Request[Any, Any, Any], state: State) -> Principal:
    """The caller, from a short transaction of its own (for handlers that must not hold the
    request's transaction while they wait on the network)."""
    async with short_transaction(state) as conn:
        user = await authenticate(request, conn, state.settings.web.session_secret)
    if user is None:
        raise NotAuthenticated()
    return user


@put("/api/bid-uploads/{upload_id:uuid}/parts/{number:int}", request_max_body_size=None,
     tags=["bids"])
async def put_part(request: Request[Any, Any, Any], state: State, upload_id: FromPath[UUID],
                   number: FromPath[int]) -> s.UploadOut:
    """One part of ``bid.p7m``, in order; a part already received answers with the progress.

    Streamed to storage as it arrives, with no transaction held meanwhile
    (``Content-Length`` is required and must be the part's size).
    """
    try:
        length = int(request.headers.get("content-length", ""))
    except ValueError:
        length = -1
    user = await _signed_in(request, state)
    async with short_transaction(state) as conn:
        lease = await uploads.begin_part(conn, user, upload_id=upload_id, number=number,
                                         length=length, client_ip=client_ip(request))
        if lease is None:
            return s.upload_out(uploads.progress(await uploads.get(conn, user, upload_id)))

    async def renew() -> bool:
        async with short_transaction(state) as c:
            return await uploads.renew_lease(c, lease)

    try:
        result = await uploads.stream_part(state.store, lease, request.stream(), renew=renew)
        async with short_transaction(state) as conn:
            row = await uploads.end_part(conn, lease, result)
    except BaseException:
        with contextlib.suppress(Exception):
            async with short_transaction(state) as conn:
                await uploads.release(conn, lease)
        raise
    return s.upload_out(uploads.progress(row))


RECEIPT_MEDIA = {"p7s": "application/pkcs7-mime", "tst": "application/timestamp-reply"}


async def _receipt_file(conn: Conn, user: User, bid_id: UUID, column: str,
                        name: str) -> Response[bytes]:
    """One of the bid's receipt files; a withdrawal receipt only once there is one."""
    row = await service.receipt_files(conn, user, bid_id)
    if row[column] is None:
        raise errors.BidNotFound()
    return file_response(row[column], RECEIPT_MEDIA[name.rsplit(".", 1)[1]], name)


def _receipt_json(p7s: bytes) -> bytes:
    content: bytes = asn1_cms.ContentInfo.load(p7s)["content"]["encap_content_info"][
        "content"].native
    return content


class BidController(Controller):
    path = "/api/bids"
    tags = ["bids"]  # noqa: RUF012

    @get("/mine")
    async def mine(self, conn: Conn, user: User,
                   tender_id: FromQuery[UUID | None] = None) -> list[s.BidOut]:
        """Your organization's bids, the replaced and withdrawn ones included."""
        return [s.bid_out(r) for r in await service.mine(conn, user, tender_id)]

    @get("/{bid_id:uuid}")
    async def get_bid(self, conn: Conn, user: User, bid_id: FromPath[UUID]) -> s.BidOut:
        return s.bid_out(await service.own_bid(conn, user, bid_id))

    @get("/{bid_id:uuid}/receipt.p7s", media_type="application/pkcs7-mime")
    async def receipt(self, conn: Conn, user: User, bid_id: FromPath[UUID]) -> Response[bytes]:
        return await _receipt_file(conn, user, bid_id, "receipt", f"receipt-{bid_id}.p7s")

    @get("/{bid_id:uuid}/receipt.tst", media_type="application/timestamp-reply")
    async def receipt_token(self, conn: Conn, user: User,
                            bid_id: FromPath[UUID]) -> Response[bytes]:
        return await _receipt_file(conn, user, bid_id, "receipt_tst", f"receipt-{bid_id}.tst")

    @get("/{bid_id:uuid}/receipt.json", responses=JSON_DOCUMENT)
    async def receipt_content(self, conn: Conn, user: User,
                              bid_id: FromPath[UUID]) -> Response[bytes]:
        row = await service.receipt_files(conn, user, bid_id)
        return Response(_receipt_json(row["receipt"]), media_type="application/json")

    @get("/{bid_id:uuid}/receipt.pdf", media_type="application/pdf")
    async def receipt_pdf(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                          bid_id: FromPath[UUID]) -> Response[bytes]:
        row = await service.receipt_files(conn, user, bid_id)
        if row["receipt_pdf_key"] is None:
            raise NotFound(message="回执 PDF 正在生成，请稍后刷新",
                           message_en="The receipt PDF is being made; try again shortly")
        data = await request.app.state.store.get_bytes(PDF_BUCKET, row["receipt_pdf_key"])
        return file_response(data, "application/pdf", f"receipt-{bid_id}.pdf", inline=True)

    @get("/{bid_id:uuid}/withdrawal", responses=JSON_DOCUMENT)
    async def withdrawal_statement(self, conn: Conn, user: User,
                                   bid_id: FromPath[UUID]) -> Response[bytes]:
        """The statement to sign (detached CMS) and send to ``withdraw``."""
        return Response(await service.withdrawal_statement(conn, user, bid_id),
                        media_type="application/json")

    @post("/{bid_id:uuid}/withdraw", status_code=200)
    async def withdraw(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                       bid_id: FromPath[UUID], data: JSONBody[s.FinalizeIn]) -> s.BidOut:
        state = request.app.state
        row = await service.withdraw(conn, state.settings, state.tsa, user,
                                     actor_of(request, user), bid_id=bid_id,
                                     signature=signature_bytes(data.signature))
        return s.bid_out(row)

    @get("/{bid_id:uuid}/withdrawal-receipt.p7s", media_type="application/pkcs7-mime")
    async def withdrawal_receipt(self, conn: Conn, user: User,
                                 bid_id: FromPath[UUID]) -> Response[bytes]:
        return await _receipt_file(conn, user, bid_id, "withdrawal_receipt",
                                   f"withdrawal-{bid_id}.p7s")

    @get("/{bid_id:uuid}/withdrawal-receipt.tst", media_type="application/timestamp-reply")
    async def withdrawal_token(self, conn: Conn, user: User,
                               bid_id: FromPath[UUID]) -> Response[bytes]:
        return await _receipt_file(conn, user, bid_id, "withdrawal_receipt_tst",
                                   f"withdrawal-{bid_id}.tst")


@get("/api/tenders/{tender_id:uuid}/bid-counts", tags=["bids"])
async def bid_counts(conn: Conn, user: User, tender_id: FromPath[UUID]) -> list[s.LotCountOut]:
    """After the deadline: how many bids each lot received (never whose)."""
    return [s.LotCountOut(**r) for r in await service.counts(conn, user, tender_id)]


ROUTES: list[Any] = [BidUploadController, put_part, BidController, bid_counts]
