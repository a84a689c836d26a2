"""The platform's trust store in PostgreSQL: the CAs it accepts and their CRLs.

An administrator adds each CA (root or intermediate) with its CRL location,
its OCSP responder (asked on demand, see ``signing.ocsp``) and revocation
mode; a scheduled job fetches every CRL, checks it is signed by its CA, and
keeps the latest. Verification builds a ``TrustStore`` from
this table, so what the platform accepts is data, changed without a deploy.
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
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core import audit, jobs
from core.errors import Conflict, InvalidInput, NotFound
from signing import pathval
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
    if await conn.fetchval("SELECT 1 FROM trust_cas WHERE cert_sha256 = $1", digest):
        raise Conflict({"sha256": digest.hex()}, message="该 CA 已在信任列表中",
                       message_en="This CA is already trusted")
    row = dict(await conn.fetchrow(
        """INSERT INTO trust_cas (name, cert_der, cert_sha256, subject, is_root,
                                  revocation_mode, crl_url, ocsp_url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, name, subject, is_root, revocation_mode, crl_url, ocsp_url,
                     created_at""",
        name, der, digest, cert.subject.rfc4514_string(), cert.issuer == cert.subject,
        revocation_mode, crl_url, ocsp_url))
    await audit.record(conn, actor, "trust.add_ca", "trust_ca", row["id"],
                       {"name": name, "sha256": digest.hex(), "mode": revocation_mode})
    if crl_url:
        await jobs.enqueue(conn, refresh_crls_job, f"crl:{row['id']}:{digest.hex()[:16]}")
    return row


async def load_trust_store(conn: asyncpg.Connection) -> TrustStore:
    from asn1crypto import x509 as asn1_x509

    rows = await conn.fetch(
        "SELECT cert_der, is_root, crl_der, revocation_mode, ocsp_url FROM trust_cas "
        "WHERE enabled")
    store = TrustStore()
    for r in rows:
        cert = asn1_x509.Certificate.load(bytes(r["cert_der"]))
        (store.roots if r["is_root"] else store.intermediates).append(cert)
        store.modes[cert.subject.dump()] = r["revocation_mode"]
        if r["ocsp_url"]:
            store.ocsp_urls[cert.subject.dump()] = r["ocsp_url"]
        if r["crl_der"] is not None:
            store.crls.append(bytes(r["crl_der"]))
    return store


async def _http_fetch(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=15, follow_redirects=True) as http:
        r = await http.get(url)
        r.raise_for_status()
        return r.content


async def refresh_crls(conn: asyncpg.Connection, *, fetch: Fetch = _http_fetch,
                       ca_id: UUID | None = None) -> dict[str, int]:
    """Fetch each CA's CRL, keep it if its CA signed it; record failures per CA."""
    rows = await conn.fetch(
        """SELECT id, cert_der, crl_url FROM trust_cas
           WHERE enabled AND crl_url IS NOT NULL AND ($1::uuid IS NULL OR id = $1)""", ca_id)
    counts = {"fetched": 0, "failed": 0}
    for r in rows:
        try:
            raw = await fetch(r["crl_url"])
            crl = (x509.load_pem_x509_crl(raw) if raw.lstrip().startswith(b"-----")
                   else x509.load_der_x509_crl(raw))
            if not pathval.crl_signed_by(crl.public_bytes(serialization.Encoding.DER),
                                         bytes(r["cert_der"])):
                raise ValueError("the CRL is not signed by this CA")
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            counts["failed"] += 1
            await conn.execute("UPDATE trust_cas SET crl_error = $2 WHERE id = $1", r["id"],
                               f"{type(exc).__name__}: {exc}"[:500])
            log.warning("crl_refresh_failed", ca=str(r["id"]), url=r["crl_url"], error=str(exc))
            continue
        counts["fetched"] += 1
        await conn.execute(
            """UPDATE trust_cas SET crl_der = $2, crl_fetched_at = now(),
                      crl_next_update = $3, crl_error = NULL WHERE id = $1""",
            r["id"], crl.public_bytes(serialization.Encoding.DER),
            crl.next_update_utc or datetime.now(UTC))
    return counts


async def set_enabled(conn: asyncpg.Connection, actor: audit.Actor, ca_id: UUID,
                      enabled: bool) -> None:
    if await conn.fetchval("UPDATE trust_cas SET enabled = $2 WHERE id = $1 RETURNING id",
                           ca_id, enabled) is None:
        raise NotFound()
    await audit.record(conn, actor, "trust.enable" if enabled else "trust.disable", "trust_ca",
                       ca_id)


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
        await pool.execute("UPDATE outbox SET done_at = now(), run_count = run_count + 1 "
                           "WHERE id = $1 AND done_at IS NULL", outbox_id)
    return result
