"""Who is calling: password sessions for people, API keys for machine clients.

Session tokens and API key secrets are random; the database keeps only an
HMAC of them under the deployment's session secret, so a copy of the database
opens no session. An API key is a credential of its own for a machine client:
signing out ends the session, not the keys. Each key expires (set when it is
made, within a maximum), its owner lists and revokes it, and a key used after
its expiry is refused and audited. Authorization is two steps: a role check here, and an
object check in each service (an organization sees its own objects only, and
gets "not found", not the data, for anyone else's).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from core import audit
from core import queries as q
from core.audit import Actor, normalize_ip
from core.db import keep_refusal
from core.errors import Forbidden, NotAuthenticated, NotFound

ROLES = ("admin", "tenderer", "agency", "bidder", "expert", "site_operator", "supervisor",
         "insurer")
SESSION_COOKIE = "th_session"
API_KEY_PREFIX = "thk"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A fixed hash to verify against when the login does not exist, so timing does not tell
    which logins exist. Made on first use, not at import: a hash costs a quarter of a second
    of CPU, and every command and process that imports this module would pay it."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UUID
    login: str
    name: str
    organization_id: UUID | None
    roles: frozenset[str]
    via: str  # "session" or "api_key"

    @property
    def primary_role(self) -> str | None:
        for role in ROLES:
            if role in self.roles:
                return role
        return None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> Principal:
        if not self.has(*roles):
            raise Forbidden({"required_roles": list(roles)})
        return self

    def owns(self, organization_id: UUID | None) -> bool:
        return organization_id is not None and organization_id == self.organization_id

    def require_org(self, organization_id: UUID | None, *, admin_ok: bool = True) -> None:
        """Per-object check: foreign objects look absent, not forbidden."""
        if self.owns(organization_id) or (admin_ok and "admin" in self.roles):
            return
        raise NotFound()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def prepare_password_checks() -> None:
    """Make the dummy hash before the first sign-in, so that an unknown login takes as long
    as a known one from the first request on (the web process calls it at start)."""
    await asyncio.to_thread(_dummy_hash)


async def check_password(stored: str | None, password: str) -> bool:
    def work() -> bool:
        try:
            return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False
    return await asyncio.to_thread(work)


def _digest(secret_key: str, token: str) -> bytes:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).digest()


async def start_session(conn: asyncpg.Connection, *, secret_key: str, user_id: UUID,
                        days: int, client_ip: str | None, user_agent: str) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        q.INSERT_SESSION, _digest(secret_key, token), user_id, timedelta(days=days),
        normalize_ip(client_ip), user_agent[:300],
    )
    return token


async def end_session(conn: asyncpg.Connection, *, secret_key: str, token: str) -> None:
    await conn.execute(q.END_SESSION, _digest(secret_key, token))


async def create_api_key(conn: asyncpg.Connection, *, secret_key: str, user_id: UUID,
                         name: str, days: int) -> tuple[dict[str, Any], str]:
    """Return (the key's row, the full key). The key is shown once and never stored."""
    prefix = "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    row = await conn.fetchrow(q.INSERT_API_KEY, prefix, _digest(secret_key, secret), user_id, name,
                              timedelta(days=days))
    return dict(row), f"{API_KEY_PREFIX}_{prefix}_{secret}"


async def list_api_keys(conn: asyncpg.Connection, user_id: UUID) -> list[dict[str, Any]]:
    """The caller's own keys, newest first, without anything that opens them."""
    return [dict(r) for r in await conn.fetch(q.API_KEYS_OF_USER, user_id)]


async def revoke_api_key(conn: asyncpg.Connection, actor: Actor, *, user_id: UUID,
                         key_id: UUID) -> dict[str, Any]:
    """Revoke one of ``user_id``'s keys (someone else's looks absent); again is harmless."""
    row = await conn.fetchrow(q.REVOKE_API_KEY, key_id, user_id)
    if row is None:
        raise NotFound()
    out = dict(row)
    if out.pop("newly"):
        await audit.record(conn, actor, "api_key.revoke", "api_key", key_id,
                           {"name": out["name"]})
    return out


async def load_principal(conn: asyncpg.Connection, user_id: UUID, via: str) -> Principal | None:
    row = await conn.fetchrow(q.PRINCIPAL, user_id)
    if row is None:
        return None
    return Principal(row["id"], row["login"], row["name"], row["organization_id"],
                     frozenset(row["roles"]), via)


async def principal_from_session(conn: asyncpg.Connection, secret_key: str,
                                 token: str) -> Principal | None:
    user_id = await conn.fetchval(q.SESSION_USER, _digest(secret_key, token))
    return await load_principal(conn, user_id, "session") if user_id else None


class ApiKeyExpired(NotAuthenticated):
    """A key past its expiry: refused like an invalid one, with its own reason."""

    def __init__(self, key_id: UUID, user_id: UUID, expired_at: datetime) -> None:
        super().__init__({"reason": "api_key_expired", "expired_at": expired_at.isoformat()},
                         message="API 密钥已过期", message_en="The API key has expired")
        self.key_id, self.user_id = key_id, user_id


async def principal_from_api_key(conn: asyncpg.Connection, secret_key: str,
                                 key: str) -> Principal | None:
    """The key's owner; None for an unknown or revoked key, ApiKeyExpired past its expiry."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    row = await conn.fetchrow(q.API_KEY_BY_PREFIX, parts[1])
    if row is None or not hmac.compare_digest(bytes(row["secret_digest"]),
                                              _digest(secret_key, parts[2])):
        return None
    if row["expired"]:
        raise ApiKeyExpired(row["id"], row["user_id"], row["expires_at"])
    await conn.execute(q.TOUCH_API_KEY, row["id"])
    return await load_principal(conn, row["user_id"], "api_key")


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    client = request.client
    return client.host if client else None


async def provide_principal(request: Request[Any, Any, Any], state: State,
                            conn: NamedDependency[asyncpg.Connection]) -> Principal | None:
    """Dependency: the caller, or None for an anonymous request."""
    return await authenticate(request, conn, state.settings.web.session_secret)


async def authenticate(request: Request[Any, Any, Any], conn: asyncpg.Connection,
                       secret_key: str) -> Principal | None:
    """The caller of ``request`` (API key or session cookie), or None; for handlers that
    stream a long body and must not hold the request's transaction meanwhile."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        try:
            found = await principal_from_api_key(conn, secret_key, header[7:].strip())
        except ApiKeyExpired as exc:
            # the refusal is kept: a stolen old key being tried is worth knowing about
            await audit.record(conn, Actor(exc.user_id, None, client_ip(request),
                                           request.scope.get("state", {}).get("request_id")),
                               "api_key.expired_use", "api_key", exc.key_id)
            keep_refusal(request)
            raise
        if found is None:
            raise NotAuthenticated({"reason": "invalid_api_key"},
                                   message="API 密钥无效或已吊销",
                                   message_en="The API key is invalid or revoked")
        return found
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return await principal_from_session(conn, secret_key, token)
    return None


async def provide_user(principal: NamedDependency[Principal | None]) -> Principal:
    """Dependency: the caller, who must be signed in."""
    if principal is None:
        raise NotAuthenticated()
    return principal


def actor_of(request: Request[Any, Any, Any], principal: Principal | None) -> Actor:
    return Actor(
        user_id=principal.user_id if principal else None,
        role=principal.primary_role if principal else None,
        client_ip=client_ip(request),
        request_id=request.scope.get("state", {}).get("request_id"),
    )
