"""The platform's trust store in PostgreSQL: the CAs it accepts and their CRLs.

An administrator adds each CA (root or intermediate) with its CRL location,
its OCSP responder (asked on demand, see ``signing.ocsp``) and revocation
mode; a scheduled job fetches every CRL, checks it is signed by its CA, and
keeps the latest. Verification builds a ``TrustStore`` from
this table, so what the platform accepts is data, changed without a deploy.

A CA disabled or removed stops counting with the next request; an
administrator can refresh CRLs at once (after a revocation they were told
of) instead of waiting for the half-hourly job. A CRL whose nextUpdate has
passed is fetched again before it is relied on; if that fails, certificates
of that CA are refused in hard-fail mode (``RevocationUnavailable``, 503)
rather than judged on stale revocation data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import structlog
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core import audit, jobs
from core.errors import Conflict, InvalidInput, NotFound
from signing import pathval
from signing import queries as q
from signing.pathval import TrustStore

log = structlog.get_logger(__name__)
MODES = ("hard-fail", "soft-fail", "require")
Fetch = Callable[[str], Awaitable[bytes]]


def _load_cert(pem_or_der: bytes) -> x509.Certificate:
    try:
        if pem_or_der.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_certificate(pem_or_der)
        return x509.load_der_x509_certificate(pem_or_der)
    except ValueError:
        raise InvalidInput({"field": "certificate"}, message="证书格式错误",
                           message_en="Not a PEM or DER certificate") from None


async def add_ca(conn: asyncpg.Connection, actor: audit.Actor, *, name: str, certificate: bytes,
                 revocation_mode: str = "hard-fail", crl_url: str | None = None,
                 ocsp_url: str | None = None) -> dict[str, Any]:
    cert = _load_cert(certificate)
    if revocation_mode not in MODES:
        raise InvalidInput({"field": "revocation_mode", "allowed": list(MODES)})
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise InvalidInput({"field": "certificate"}, message="这不是 CA 证书",
                           message_en="This is not a CA certificate")
    for field, url in (("crl_url", crl_url), ("ocsp_url", ocsp_url)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise InvalidInput({"field": field}, message="CRL/OCSP 地址须为 http(s)",
                               message_en="CRL and OCSP locations must be http(s) URLs")
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).digest()
    if await conn.fetchval(q.CA_EXISTS, digest):
        raise Conflict({"sha256": digest.hex()}, message="该 CA 已在信任列表中",
                       message_en="This CA is already trusted")
    row = dict(await conn.fetchrow(
        q.INSERT_CA, name, der, digest, cert.subject.rfc4514_string(), cert.issuer == cert.subject,
        revocation_mode, crl_url, ocsp_url))
    await audit.record(conn, actor, "trust.add_ca", "trust_ca", row["id"],
                       {"name": name, "sha256": digest.hex(), "mode": revocation_mode})
    if crl_url:
        await jobs.enqueue(conn, refresh_crls_job, f"crl:{row['id']}:{digest.hex()[:16]}")
    return row


# A CRL past its nextUpdate is fetched again while a request waits: briefly.
STALE_FETCH_TIMEOUT = 5.0


async def _get(url: str, limit: float) -> bytes:
    async with httpx.AsyncClient(timeout=limit, follow_redirects=True) as http:
        r = await http.get(url)
        r.raise_for_status()
        return r.content


async def _http_fetch(url: str) -> bytes:
    return await _get(url, 15)


async def _stale_fetch(url: str) -> bytes:
    return await _get(url, STALE_FETCH_TIMEOUT)


async def load_trust_store(conn: asyncpg.Connection, *,
                           fetch: Fetch = _stale_fetch) -> TrustStore:
    """The enabled CAs, with current CRLs: a CRL past its nextUpdate is fetched again first."""
    rows = await conn.fetch(q.TRUSTED_CAS)
    store = TrustStore()
    now = datetime.now(UTC)
    for r in rows:
        cert = asn1_x509.Certificate.load(bytes(r["cert_der"]))
        subject = cert.subject.dump()
        (store.roots if r["is_root"] else store.intermediates).append(cert)
        store.modes[subject] = r["revocation_mode"]
        if r["ocsp_url"]:
            store.ocsp_urls[subject] = r["ocsp_url"]
        crl = None if r["crl_der"] is None else bytes(r["crl_der"])
        if crl is not None and r["crl_url"] and r["crl_next_update"] is not None \
                and r["crl_next_update"] <= now:
            try:
                crl = await _refetch(conn, r, fetch)
            except _CRL_ERRORS as exc:
                store.unavailable_crls[subject] = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("stale_crl_unavailable", ca=str(r["id"]), url=r["crl_url"],
                            error=str(exc))
        if crl is not None:
            store.crls.append(crl)
    return store


_CRL_ERRORS = (httpx.HTTPError, ValueError, TypeError)


def _checked_crl(raw: bytes, ca_der: bytes) -> x509.CertificateRevocationList:
    crl = (x509.load_pem_x509_crl(raw) if raw.lstrip().startswith(b"-----")
           else x509.load_der_x509_crl(raw))
    if not pathval.crl_signed_by(crl.public_bytes(serialization.Encoding.DER), ca_der):
        raise ValueError("the CRL is not signed by this CA")
    return crl


async def _store_crl(conn: asyncpg.Connection, ca_id: UUID,
                     crl: x509.CertificateRevocationList) -> bytes:
    der = crl.public_bytes(serialization.Encoding.DER)
    await conn.execute(q.CRL_STORED, ca_id, der, crl.next_update_utc or datetime.now(UTC))
    return der


async def _refetch(conn: asyncpg.Connection, row: asyncpg.Record, fetch: Fetch) -> bytes:
    crl = _checked_crl(await fetch(row["crl_url"]), bytes(row["cert_der"]))
    if crl.next_update_utc is not None and crl.next_update_utc <= datetime.now(UTC):
        raise ValueError("the CRL served is past its nextUpdate too")
    return await _store_crl(conn, row["id"], crl)


async def refresh_crls(conn: asyncpg.Connection, *, fetch: Fetch = _http_fetch,
                       ca_id: UUID | None = None) -> dict[str, int]:
    """Fetch each CA's CRL, keep it if its CA signed it; record failures per CA."""
    rows = await conn.fetch(q.CRL_SOURCES, ca_id)
    counts = {"fetched": 0, "failed": 0}
    for r in rows:
        try:
            crl = _checked_crl(await fetch(r["crl_url"]), bytes(r["cert_der"]))
        except _CRL_ERRORS as exc:
            counts["failed"] += 1
            await conn.execute(q.CRL_FAILED, r["id"], f"{type(exc).__name__}: {exc}"[:500])
            log.warning("crl_refresh_failed", ca=str(r["id"]), url=r["crl_url"], error=str(exc))
            continue
        counts["fetched"] += 1
        await _store_crl(conn, r["id"], crl)
    return counts


async def refresh_now(conn: asyncpg.Connection, actor: audit.Actor, *,
                      ca_id: UUID | None = None, fetch: Fetch = _http_fetch) -> dict[str, int]:
    """An administrator's refresh, of one CA's CRL or all: audited, effective at once."""
    if ca_id is not None and await conn.fetchrow(q.GET_CA, ca_id) is None:
        raise NotFound()
    counts = await refresh_crls(conn, fetch=fetch, ca_id=ca_id)
    await audit.record(conn, actor, "trust.refresh_crls", "trust_ca", ca_id or "all", counts)
    return counts


async def set_enabled(conn: asyncpg.Connection, actor: audit.Actor, ca_id: UUID,
                      enabled: bool) -> dict[str, Any]:
    name = await conn.fetchval(q.SET_ENABLED, ca_id, enabled)
    if name is None:
        raise NotFound()
    await audit.record(conn, actor, "trust.enable" if enabled else "trust.disable", "trust_ca",
                       ca_id, {"name": name})
    return dict(await conn.fetchrow(q.GET_CA, ca_id))


async def remove_ca(conn: asyncpg.Connection, actor: audit.Actor, ca_id: UUID) -> None:
    """Take a CA out of the trust store for good (disabling keeps it, to enable again)."""
    row = await conn.fetchrow(q.DELETE_CA, ca_id)
    if row is None:
        raise NotFound()
    await audit.record(conn, actor, "trust.remove_ca", "trust_ca", ca_id,
                       {"name": row["name"], "sha256": bytes(row["cert_sha256"]).hex()})


@jobs.job
async def refresh_crls_job(ctx: dict[str, Any], outbox_id: int | None = None) -> dict[str, int]:
    """Scheduled (and on demand after a CA is added): refresh every CRL.

    No transaction around it: each CA's row is updated on its own, and no
    transaction stays open while a CRL is downloaded. Running it twice is
    harmless, so the outbox row is simply marked done afterwards.
    """
    pool: asyncpg.Pool = ctx["db_pool"]
    async with pool.acquire() as conn:
        result = await refresh_crls(conn)
    if outbox_id is not None:
        await pool.execute(q.OUTBOX_DONE, outbox_id)
    return result
