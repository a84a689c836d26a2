"""Tender documents: signed uploads by the agency, downloads by bidders (who become holders).

A document arrives with the agency's detached CMS signature over its exact
bytes; the signature is checked (trusted CA, not revoked, the agency's credit
code) before anything is stored. Its SHA-256 goes into the notice the agency
signs at publication, so the notice vouches for every file. After publication
the rows are frozen by a trigger and the objects are never overwritten (each
has a key of its own).

An upload holds no transaction while the bytes move: the checks that need the
database run in a short transaction (``begin``), the signature is verified and
the file streamed to the store with nothing open (``put``), and the row is
written in another short transaction holding the tender (``record``). An object
that no row ends up naming (a refusal after the upload, a rollback, a crash, a
draft document removed) is deleted by ``orphans`` after a grace period.

Only signed-in bidders obtain documents. Obtaining is a POST of its own (a
state change: the bidder's organization becomes a holder, and clarifications
must reach every holder, T3), so no cross-site link or image can make an
organization a holder; a download is a GET for holders only, and is logged.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from uuid import UUID, uuid4

import asyncpg

from core import audit, buckets, clock
from core.auth import Principal
from core.errors import InvalidInput, NotFound
from core.storage import ObjectStore, StoredObject, iter_file
from signing import cms, identity
from signing.pathval import TrustStore
from signing.trust import load_trust_store
from trading.tenders import delivery, notices, orphans
from trading.tenders.errors import (
    DocumentFrozen,
    DocumentNameTaken,
    DocumentsNotObtained,
    DocumentsNotYetAvailable,
    DocumentsPeriodOver,
    SignerNotOfOrganization,
)
from trading.tenders.queries import documents as document_sql
from trading.tenders.queries import notices as notice_sql

BUCKET = buckets.DOCUMENTS
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    file: BinaryIO  # a local (spooled) file: read twice, to verify and to store
    signature: bytes


def clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip().replace("\\", "/").rsplit("/", 1)[-1]
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise InvalidInput({"field": "file.name"}, message="文件名无效",
                           message_en="The file name is not valid")
    return name


def _size(f: BinaryIO) -> int:
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    return size


@dataclass(frozen=True)
class Pending:
    """A document checked and about to be stored: where its bytes go and what vouches for it."""

    doc_id: UUID
    key: str
    name: str
    content_type: str
    trust: TrustStore
    credit_code: str  # the signer must speak for this organization


@dataclass(frozen=True)
class Stored:
    obj: StoredObject
    verified: cms.Verified


async def begin(conn: asyncpg.Connection, *, tender: dict[str, Any], upload: Upload,
                notice_id: UUID | None = None) -> Pending:
    """The checks that need the database, before any byte moves (a short transaction).

    Queues, in this transaction, the job that deletes the object if no document row
    names it once the grace period is over: whatever happens after this commit (a
    refusal, a rollback, a crash), the object is never left behind for good."""
    name = clean_name(upload.name)
    size = _size(upload.file)
    if size == 0 or size > MAX_BYTES:
        raise InvalidInput({"field": "file", "size": size, "maximum": MAX_BYTES},
                           message="文件为空或超过200MB", message_en="The file is empty or over 200 MB")
    if await conn.fetchval(document_sql.DOCUMENT_NAME_TAKEN, tender["id"], notice_id, name):
        raise DocumentNameTaken({"name": name})
    doc_id = uuid4()
    key = f"tenders/{tender['id']}/{doc_id}"
    content_type = (upload.content_type if upload.content_type not in ("", "application/octet-stream")
                    else mimetypes.guess_type(name)[0] or "application/octet-stream")
    credit_code = await conn.fetchval(notice_sql.CREDIT_CODE, notices.signing_org(tender))
    await orphans.watch(conn, key)
    return Pending(doc_id, key, name, content_type, await load_trust_store(conn), credit_code)


async def put(store: ObjectStore, pending: Pending, upload: Upload) -> Stored:
    """Verify the agency's signature over the file (OCSP may be asked) and stream the file
    to the store: no transaction is open meanwhile."""
    verified = await cms.verify(cms.pem_to_der(upload.signature), trust=pending.trust,
                                content=upload.file, purpose="signing")
    if identity.credit_code(verified.signer) != pending.credit_code:
        raise SignerNotOfOrganization({"certificate": verified.subject,
                                       "expected_credit_code": pending.credit_code})
    upload.file.seek(0)
    obj = await store.put_stream(BUCKET, pending.key, iter_file(upload.file),
                                 content_type=pending.content_type)
    return Stored(obj, verified)


async def record(conn: asyncpg.Connection, actor: audit.Actor, *, tender: dict[str, Any],
                 pending: Pending, stored: Stored, signature: bytes, uploaded_by: UUID,
                 notice_id: UUID | None = None) -> dict[str, Any]:
    """Record the stored document (not frozen yet), in a short transaction holding the tender."""
    if await conn.fetchval(document_sql.DOCUMENT_NAME_TAKEN, tender["id"], notice_id, pending.name):
        raise DocumentNameTaken({"name": pending.name})
    obj, verified = stored.obj, stored.verified
    row = await conn.fetchrow(
        document_sql.INSERT_DOCUMENT, pending.doc_id, tender["id"], notice_id, pending.name,
        pending.content_type, obj.size, bytes.fromhex(obj.sha256), obj.key,
        cms.pem_to_der(signature), verified.subject, notices.cert_sha256(verified), uploaded_by)
    await audit.record(conn, actor, "document.add", "tender", tender["id"],
                       {"document": str(pending.doc_id), "name": pending.name,
                        "sha256": obj.sha256, "signer": verified.subject})
    return document_out(dict(row))


def document_out(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "sha256": row["sha256"].hex()}


async def remove(conn: asyncpg.Connection, actor: audit.Actor, *, tender_id: UUID,
                 document_id: UUID) -> None:
    row = await conn.fetchrow(document_sql.GET_DOCUMENT, tender_id, document_id)
    if row is None:
        raise NotFound()
    if row["frozen"]:
        raise DocumentFrozen()
    await conn.execute(document_sql.DELETE_DOCUMENT, document_id)
    await orphans.watch(conn, row["object_key"])
    await audit.record(conn, actor, "document.remove", "tender", tender_id,
                       {"document": str(document_id), "name": row["name"]})


async def listing(conn: asyncpg.Connection, tender_id: UUID, *,
                  published_only: bool) -> list[dict[str, Any]]:
    return [document_out(dict(r)) for r in await conn.fetch(document_sql.DOCUMENTS, tender_id,
                                                            published_only)]


async def listing_for_notice(conn: asyncpg.Connection, tender_id: UUID,
                             notice_id: UUID | None) -> list[dict[str, Any]]:
    return [document_out(dict(r)) for r in await conn.fetch(document_sql.NOTICE_DOCUMENTS,
                                                            tender_id, notice_id)]


async def obtain(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor, *,
                 tender: dict[str, Any]) -> dict[str, Any]:
    """A bidder's organization obtains the tender's documents and becomes a holder.

    New holders are obtained only inside the documents period (T2); obtaining
    again is harmless and changes nothing.
    """
    principal.require("bidder")
    if principal.organization_id is None or tender["status"] == "draft":
        raise NotFound()
    if not await conn.fetchval(document_sql.IS_HOLDER, tender["id"], principal.organization_id):
        now = await clock.db_now(conn)
        if tender["status"] != "published":
            raise DocumentsPeriodOver({"status": tender["status"]})
        if now < tender["documents_from"]:
            raise DocumentsNotYetAvailable({"from": tender["documents_from"].isoformat()})
        if now > tender["documents_until"]:
            raise DocumentsPeriodOver({"until": tender["documents_until"].isoformat()})
        await conn.execute(document_sql.ADD_HOLDER, tender["id"], principal.organization_id,
                           principal.user_id)
        await audit.record(conn, actor, "document.holder", "tender", tender["id"],
                           {"organization": str(principal.organization_id)})
        await delivery.notify_new_holder(conn, tender, principal.organization_id)
    row = await conn.fetchrow(document_sql.HOLDER_SINCE, tender["id"], principal.organization_id)
    return {"tender_id": tender["id"], "obtained_at": row["obtained_at"]}


async def for_download(conn: asyncpg.Connection, principal: Principal, actor: audit.Actor, *,
                       tender: dict[str, Any], document_id: UUID) -> dict[str, Any]:
    """A published document, for a bidder whose organization holds the documents.

    The download is logged (who, when, from where), which changes no one's
    rights: it is the record the staff and supervisors read after the deadline.
    """
    principal.require("bidder")
    if principal.organization_id is None or tender["status"] == "draft":
        raise NotFound()
    row = await conn.fetchrow(document_sql.GET_DOCUMENT, tender["id"], document_id)
    if row is None or not row["frozen"]:
        raise NotFound()
    if not await conn.fetchval(document_sql.IS_HOLDER, tender["id"], principal.organization_id):
        raise DocumentsNotObtained()
    await conn.execute(document_sql.ADD_DOWNLOAD, document_id, tender["id"],
                       principal.organization_id, principal.user_id,
                       audit.normalize_ip(actor.client_ip))
    return document_out(dict(row))


async def stream(store: ObjectStore, row: dict[str, Any]) -> AsyncIterator[bytes]:
    async for chunk in store.get_stream(BUCKET, row["object_key"]):
        yield chunk


async def holders(conn: asyncpg.Connection, tender_id: UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(document_sql.HOLDERS, tender_id)]
