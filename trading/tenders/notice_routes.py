"""HTTP routes around a tender's publication: documents, notices, clarifications, objections, OCDS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from core.auth import Principal, actor_of, authenticate
from core.db import short_transaction
from core.deps import Conn, MaybeUser, User
from core.errors import InvalidInput, NotAuthenticated, NotFound
from core.responses import JSON_DOCUMENT, file_response
from signing.schemas import signature_bytes
from trading import ocds
from trading.tenders import (
    clarifications,
    documents,
    holders,
    objections,
    publication,
    releases,
    service,
)
from trading.tenders import schemas as s
from trading.tenders.errors import InvalidTransition
from trading.tenders.jobs import PDF_BUCKET
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql
from trading.tenders.routes import tender_out

Multipart = Annotated[dict[str, UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)]
UPLOAD_LIMIT = documents.MAX_BYTES + 1024 * 1024


async def _upload(data: dict[str, UploadFile]) -> documents.Upload:
    file, sig = data.get("file"), data.get("signature")
    if not isinstance(file, UploadFile) or not isinstance(sig, UploadFile):
        raise InvalidInput({"fields": ["file", "signature"]},
                           message="请同时上传文件（file）及其签名（signature）",
                           message_en="Send the file (file) and its signature (signature)")
    return documents.Upload(name=file.filename or "", content_type=file.content_type or "",
                            file=file.file, signature=await sig.read())  # type: ignore[arg-type]


async def _editable(conn: Conn, user: Principal, tender_id: UUID,
                    notice_id: UUID | None) -> dict[str, Any]:
    """The tender, locked, when its documents (or a draft clarification's) may change."""
    tender = await service.locked_for(conn, user, tender_id)
    if notice_id is None and tender["status"] != "draft":
        raise InvalidTransition(
            {"status": tender["status"]}, message="发布后的文件变更须通过澄清（附件）进行",
            message_en="After publication, documents change through a clarification")
    if notice_id is not None:
        notice = await clarifications.get_notice(conn, tender_id, notice_id, draft_ok=True)
        if notice["status"] != "draft":
            raise InvalidTransition({"status": notice["status"]})
    return tender


async def _add_document(request: Request[Any, Any, Any], tender_id: UUID,
                        notice_id: UUID | None, upload: documents.Upload) -> dict[str, Any]:
    """Check, store, record: two short transactions, none open while the file is verified
    (OCSP) and streamed to the store (``trading.tenders.documents``)."""
    state = request.app.state
    async with short_transaction(state) as conn:
        user = await authenticate(request, conn, state.settings.web.session_secret)
        if user is None:
            raise NotAuthenticated()
        tender = await _editable(conn, user, tender_id, notice_id)
        pending = await documents.begin(conn, tender=tender, upload=upload, notice_id=notice_id)
    stored = await documents.put(state.store, pending, upload)
    async with short_transaction(state) as conn:
        tender = await _editable(conn, user, tender_id, notice_id)
        return await documents.record(conn, actor_of(request, user), tender=tender,
                                      pending=pending, stored=stored,
                                      signature=upload.signature, uploaded_by=user.user_id,
                                      notice_id=notice_id)


def _pick(cls: Any, row: Any) -> dict[str, Any]:
    """The row's values for the fields of the wire struct ``cls``."""
    return {k: row[k] for k in cls.__struct_fields__ if k in row}


def _objection_out(row: Any) -> s.ObjectionOut:
    return s.ObjectionOut(**_pick(s.ObjectionOut, row))


def _notice_out(row: dict[str, Any]) -> s.NoticeOut:
    fields = _pick(s.NoticeOut, row)
    for k in ("content_sha256", "pdf_sha256"):
        fields[k] = row[k].hex() if row.get(k) else None
    fields["has_pdf"] = row.get("pdf_key") is not None
    return s.NoticeOut(**fields)


def _doc_out(row: dict[str, Any]) -> s.DocumentOut:
    return s.DocumentOut(**_pick(s.DocumentOut, row))


_file = file_response


async def _visible(conn: Conn, principal: MaybeUser, tender_id: UUID) -> dict[str, Any]:
    return await service.get_tender(conn, principal, tender_id)


class PublicationController(Controller):
    path = "/api/tenders/{tender_id:uuid}"
    tags = ["publication"]  # noqa: RUF012

    # ------------------------------------------------------------ the notice and publishing
    @get("/announcement", media_type="application/json", responses=JSON_DOCUMENT)
    async def announcement(self, conn: Conn, user: User, tender_id: FromPath[UUID]) -> bytes:
        """The exact bytes to sign to publish (canonical JSON of the draft)."""
        return await publication.announcement(conn, user, tender_id)

    @post("/publish", status_code=HTTP_200_OK)
    async def publish(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                      tender_id: FromPath[UUID], data: JSONBody[s.SignatureIn]) -> s.TenderOut:
        return tender_out(await publication.publish(
            conn, user, actor_of(request, user), tender_id,
            signature=signature_bytes(data.signature)))

    @get("/notices")
    async def notices(self, conn: Conn, principal: MaybeUser,
                      tender_id: FromPath[UUID]) -> list[s.NoticeOut]:
        tender = await _visible(conn, principal, tender_id)
        staff = service.in_charge(principal, tender)
        return [_notice_out(dict(r)) for r in await conn.fetch(notice_sql.NOTICES, tender_id, not staff)]

    async def _published_notice(self, conn: Conn, tender_id: UUID,
                                number: int) -> dict[str, Any]:
        row = await conn.fetchrow(notice_sql.GET_NOTICE_BY_NUMBER, tender_id, number)
        if row is None or row["status"] != "published":
            raise NotFound()
        return dict(row)

    @get("/notices/{number:int}/content", media_type="application/json",
         responses=JSON_DOCUMENT)
    async def notice_content(self, conn: Conn, tender_id: FromPath[UUID],
                             number: FromPath[int]) -> Response[bytes]:
        row = await self._published_notice(conn, tender_id, number)
        return _file(row["content"], "application/json", f"notice-{number}.json")

    @get("/notices/{number:int}/signature", media_type="application/pkcs7-signature")
    async def notice_signature(self, conn: Conn, tender_id: FromPath[UUID],
                               number: FromPath[int]) -> Response[bytes]:
        row = await self._published_notice(conn, tender_id, number)
        return _file(row["signature"], "application/pkcs7-signature", f"notice-{number}.p7s")

    @get("/notices/{number:int}/pdf", media_type="application/pdf")
    async def notice_pdf(self, request: Request[Any, Any, Any], conn: Conn,
                         tender_id: FromPath[UUID], number: FromPath[int]) -> Response[bytes]:
        row = await self._published_notice(conn, tender_id, number)
        if row["pdf_key"] is None:
            raise NotFound(message="公告PDF正在生成，请稍后刷新",
                           message_en="The notice PDF is being made; try again shortly")
        data = await request.app.state.store.get_bytes(PDF_BUCKET, row["pdf_key"])
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f"inline; filename=notice-{number}.pdf"})

    @get("/lots/{lot_id:uuid}/opening-certificate", media_type="application/x-pem-file")
    async def opening_certificate(self, conn: Conn, tender_id: FromPath[UUID],
                                  lot_id: FromPath[UUID]) -> Response[bytes]:
        number, der = await publication.opening_certificate(conn, tender_id, lot_id)
        pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
        return _file(pem, "application/x-pem-file", f"opening-lot{number}.crt.pem")

    # ------------------------------------------------------------ documents
    @post("/documents", status_code=HTTP_201_CREATED, request_max_body_size=UPLOAD_LIMIT)
    async def upload(self, request: Request[Any, Any, Any], tender_id: FromPath[UUID],
                     data: Multipart) -> s.DocumentOut:
        return _doc_out(await _add_document(request, tender_id, None, await _upload(data)))

    @delete("/documents/{document_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID], document_id: FromPath[UUID]) -> None:
        await service.locked_for(conn, user, tender_id)
        await documents.remove(conn, actor_of(request, user), tender_id=tender_id,
                               document_id=document_id)

    @get("/documents")
    async def list_documents(self, conn: Conn, principal: MaybeUser,
                             tender_id: FromPath[UUID]) -> list[s.DocumentOut]:
        tender = await _visible(conn, principal, tender_id)
        rows = await documents.listing(conn, tender_id,
                                       published_only=not service.in_charge(principal, tender))
        return [_doc_out(r) for r in rows]

    @post("/documents/obtain", status_code=HTTP_200_OK)
    async def obtain(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID]) -> s.ObtainedOut:
        """Obtain the documents: your organization becomes a holder (inside the documents
        period, T2) and receives every clarification (T3). Downloads need this first."""
        tender = await _visible(conn, user, tender_id)
        out = await documents.obtain(conn, user, actor_of(request, user), tender=tender)
        return s.ObtainedOut(**out)

    @get("/documents/{document_id:uuid}", media_type="application/octet-stream")
    async def download(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                       tender_id: FromPath[UUID], document_id: FromPath[UUID]) -> Stream:
        """A document, for the staff in charge and for holders; changes nothing (obtaining
        is the POST above)."""
        tender = await _visible(conn, user, tender_id)
        if service.in_charge(user, tender):
            row = await conn.fetchrow(document_sql.GET_DOCUMENT, tender_id, document_id)
            if row is None:
                raise NotFound()
            doc = dict(row)
        else:
            doc = await documents.for_download(conn, user, actor_of(request, user),
                                               tender=tender, document_id=document_id)
        # the uploader declared the type: sent as bytes to save, never as a page to run
        return Stream(documents.stream(request.app.state.store, doc),
                      media_type="application/octet-stream",
                      headers={"content-disposition":
                               f"attachment; filename*=UTF-8''{quote(doc['name'], safe='')}",
                               "x-content-sha256": doc["sha256"].hex()
                               if isinstance(doc["sha256"], bytes) else doc["sha256"]})

    @get("/documents/{document_id:uuid}/signature", media_type="application/pkcs7-signature")
    async def document_signature(self, conn: Conn, principal: MaybeUser,
                                 tender_id: FromPath[UUID],
                                 document_id: FromPath[UUID]) -> Response[bytes]:
        tender = await _visible(conn, principal, tender_id)
        row = await conn.fetchrow(document_sql.GET_DOCUMENT, tender_id, document_id)
        if row is None or not (row["frozen"] or service.in_charge(principal, tender)):
            raise NotFound()
        return _file(row["signature"], "application/pkcs7-signature", f"{document_id}.p7s")

    @get("/holders")
    async def holders(self, conn: Conn, user: User, tender_id: FromPath[UUID]) -> s.HoldersOut:
        """T7: sealed for everyone before the bid deadline; then the number, and the names
        for supervisors."""
        out = await holders.view(conn, user, tender_id)
        return s.HoldersOut(count=out["count"], holders=None if out["holders"] is None else
                            [s.HolderOut(**r) for r in out["holders"]])

    # ------------------------------------------------------------ clarifications
    @post("/clarifications", status_code=HTTP_201_CREATED)
    async def clarify(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                      tender_id: FromPath[UUID], data: JSONBody[s.ClarificationIn]) -> s.NoticeOut:
        return _notice_out(await clarifications.draft(
            conn, user, actor_of(request, user), tender_id, title=data.title, body=data.body,
            requested_bid_deadline=data.bid_deadline))

    @post("/clarifications/{notice_id:uuid}/documents", status_code=HTTP_201_CREATED,
          request_max_body_size=UPLOAD_LIMIT)
    async def attach(self, request: Request[Any, Any, Any], tender_id: FromPath[UUID],
                     notice_id: FromPath[UUID], data: Multipart) -> s.DocumentOut:
        return _doc_out(await _add_document(request, tender_id, notice_id, await _upload(data)))

    @get("/clarifications/{notice_id:uuid}/content", media_type="application/json",
         responses=JSON_DOCUMENT)
    async def clarification_content(self, conn: Conn, user: User, tender_id: FromPath[UUID],
                                    notice_id: FromPath[UUID]) -> bytes:
        return await clarifications.content(conn, user, tender_id, notice_id)

    @post("/clarifications/{notice_id:uuid}/publish", status_code=HTTP_200_OK)
    async def publish_clarification(self, request: Request[Any, Any, Any], conn: Conn,
                                    user: User, tender_id: FromPath[UUID],
                                    notice_id: FromPath[UUID],
                                    data: JSONBody[s.SignatureIn]) -> s.NoticeOut:
        return _notice_out(await clarifications.publish(
            conn, user, actor_of(request, user), tender_id, notice_id,
            signature=signature_bytes(data.signature)))

    @delete("/clarifications/{notice_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove_clarification(self, request: Request[Any, Any, Any], conn: Conn,
                                   user: User, tender_id: FromPath[UUID],
                                   notice_id: FromPath[UUID]) -> None:
        await clarifications.remove_draft(conn, user, actor_of(request, user), tender_id,
                                          notice_id)

    @get("/clarifications/{notice_id:uuid}/deliveries")
    async def deliveries(self, conn: Conn, user: User, tender_id: FromPath[UUID],
                         notice_id: FromPath[UUID]) -> s.DeliveriesOut:
        # who received a clarification is who holds the documents (T7): counts only, and
        # only from the deadline on
        await holders.disclosure(conn, user, await service.for_staff(conn, user, tender_id))
        out = await clarifications.deliveries(conn, user, tender_id, notice_id)
        return s.DeliveriesOut(**{**out, "recipients": []})

    # ------------------------------------------------------------ objections (T4)
    @post("/objections", status_code=HTTP_201_CREATED)
    async def object(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID], data: JSONBody[s.ObjectionIn]) -> s.ObjectionOut:
        row = await objections.submit(conn, user, actor_of(request, user), tender_id,
                                      body=data.body)
        return _objection_out(row)

    @get("/objections")
    async def list_objections(self, conn: Conn, user: User,
                              tender_id: FromPath[UUID]) -> list[s.ObjectionOut]:
        return [_objection_out(r) for r in await objections.listing(conn, user, tender_id)]

    @post("/objections/{objection_id:uuid}/answer/content", status_code=HTTP_200_OK,
          responses=JSON_DOCUMENT)
    async def answer_content(self, conn: Conn, user: User, tender_id: FromPath[UUID],
                             objection_id: FromPath[UUID],
                             data: JSONBody[s.AnswerContentIn]) -> Response[bytes]:
        """The exact bytes to sign (canonical JSON) to answer with this text; nothing is stored."""
        content = await objections.answer_content(conn, user, tender_id, objection_id,
                                                  text=data.answer)
        return Response(content, media_type="application/json")

    @post("/objections/{objection_id:uuid}/answer", status_code=HTTP_200_OK)
    async def answer(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     tender_id: FromPath[UUID], objection_id: FromPath[UUID],
                     data: JSONBody[s.AnswerIn]) -> list[s.ObjectionOut]:
        """Answer, signed by the organization that signs for the tender (T4); the last
        answer resumes a paused tender."""
        out = await objections.answer(conn, user, actor_of(request, user), tender_id,
                                      objection_id, text=data.answer,
                                      signature=signature_bytes(data.signature))
        return [_objection_out(r) for r in out["objections"]]

    @get("/objections/{objection_id:uuid}/answer.json", responses=JSON_DOCUMENT)
    async def answer_signed(self, conn: Conn, user: User, tender_id: FromPath[UUID],
                            objection_id: FromPath[UUID]) -> Response[bytes]:
        """The signed answer's exact bytes (the staff in charge and the objector)."""
        content, _ = await objections.signed_answer(conn, user, tender_id, objection_id)
        return _file(content, "application/json", f"objection-answer-{objection_id}.json")

    @get("/objections/{objection_id:uuid}/answer.p7s", media_type="application/pkcs7-signature")
    async def answer_signature(self, conn: Conn, user: User, tender_id: FromPath[UUID],
                               objection_id: FromPath[UUID]) -> Response[bytes]:
        """The answer's detached CMS signature: ``openssl cms -verify -binary -inform DER
        -in answer.p7s -content answer.json -CAfile roots.pem -purpose any``."""
        _, signature = await objections.signed_answer(conn, user, tender_id, objection_id)
        return _file(signature, "application/pkcs7-signature",
                     f"objection-answer-{objection_id}.p7s")

    # ------------------------------------------------------------ OCDS
    @get("/ocds/releases", responses=JSON_DOCUMENT)
    async def ocds_releases(self, request: Request[Any, Any, Any], conn: Conn,
                            tender_id: FromPath[UUID]) -> Response[bytes]:
        return await _ocds(request, conn, tender_id, releases.release_package)

    @get("/ocds/record", responses=JSON_DOCUMENT)
    async def ocds_record(self, request: Request[Any, Any, Any], conn: Conn,
                          tender_id: FromPath[UUID]) -> Response[bytes]:
        return await _ocds(request, conn, tender_id, releases.record_package)


async def _ocds(request: Request[Any, Any, Any], conn: Conn, tender_id: UUID,
                build: Callable[..., Awaitable[dict[str, Any]]]) -> Response[bytes]:
    settings = request.app.state.settings
    package = await build(conn, tender_id, prefix=settings.ocds_prefix,
                          public_url=settings.web.public_url)
    return Response(ocds.dumps(package), media_type="application/json")
