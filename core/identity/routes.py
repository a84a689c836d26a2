"""HTTP routes: sign-in and sign-out, organizations, people, API keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_429_TOO_MANY_REQUESTS

from core import audit
from core.auth import (
    SESSION_COOKIE,
    actor_of,
    client_ip,
    create_api_key,
    end_session,
    list_api_keys,
    revoke_api_key,
    start_session,
)
from core.db import keep_refusal
from core.deps import Conn, MaybeUser, User
from core.errors import BadCredentials, Forbidden, InvalidInput
from core.identity import schemas as s
from core.identity import service
from core.identity.throttle import LoginLocked, Throttle


def session_cookie(state: State, token: str | None) -> Cookie:
    web = state.settings.web
    return Cookie(key=SESSION_COOKIE, value=token or "", httponly=True, samesite="lax",
                  secure=web.secure_cookies, path="/",
                  max_age=web.session_days * 86400 if token else 0)


async def _login(request: Request[Any, Any, Any], state: State, conn: Conn,
                 login: str, password: str) -> tuple[UUID, str]:
    """Check the password unless the account or address is locked (core/identity/throttle.py);
    a failure that locks either is audited, and that audit row is kept with the refusal."""
    name, address = login.strip().lower(), client_ip(request)
    throttle = Throttle(state.redis, state.settings.login)
    await throttle.check(name, address)
    try:
        user_id = await service.authenticate(conn, login=name, password=password)
    except BadCredentials:
        failure = await throttle.failed(name, address)
        actor = audit.Actor(None, None, address, request.scope.get("state", {}).get("request_id"))
        minutes = state.settings.login.lock_minutes
        if failure.account_locked:
            await audit.record(conn, actor, "session.lockout", "login", name,
                               {"scope": "account", "minutes": minutes})
        if failure.address_locked:
            await audit.record(conn, actor, "session.lockout", "address", address,
                               {"scope": "address", "minutes": minutes})
        if failure.account_locked or failure.address_locked:
            keep_refusal(request)
        raise
    await throttle.succeeded(name)
    token = await start_session(
        conn, secret_key=state.settings.web.session_secret, user_id=user_id,
        days=state.settings.web.session_days, client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""))
    actor = audit.Actor(user_id, None, client_ip(request),
                        request.scope.get("state", {}).get("request_id"))
    await audit.record(conn, actor, "session.login", "user", user_id)
    return user_id, token


def _locked(_: Request[Any, Any, Any], exc: LoginLocked) -> Response[dict[str, Any]]:
    return Response(exc.body(), status_code=HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(exc.retry_after)})


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012

    @post("/login", status_code=HTTP_200_OK,
          exception_handlers={LoginLocked: _locked})
    async def login(self, request: Request[Any, Any, Any], state: State,
                    conn: Conn, data: JSONBody[s.LoginIn]) -> Response[s.UserOut]:
        """Too many wrong passwords lock the account (or the address) for a while: 429
        ``login_locked`` with ``Retry-After``, before any password is checked."""
        user_id, token = await _login(request, state, conn, data.login, data.password)
        user = await service.get_user(conn, user_id)
        return Response(s.UserOut(**{k: user[k] for k in s.UserOut.__struct_fields__}),
                        cookies=[session_cookie(state, token)])

    @post("/logout", status_code=HTTP_200_OK)
    async def logout(self, request: Request[Any, Any, Any], state: State,
                     conn: Conn, principal: MaybeUser) -> Response[dict[str, bool]]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await end_session(conn, secret_key=state.settings.web.session_secret, token=token)
        if principal:
            await audit.record(conn, actor_of(request, principal), "session.logout", "user",
                               principal.user_id)
        return Response({"ok": True}, cookies=[session_cookie(state, None)])

    @get("/me")
    async def me(self, conn: Conn, user: User) -> s.UserOut:
        row = await service.get_user(conn, user.user_id)
        return s.UserOut(**{k: row[k] for k in s.UserOut.__struct_fields__})

    @post("/api-keys", status_code=HTTP_201_CREATED)
    async def new_api_key(self, request: Request[Any, Any, Any], state: State,
                          conn: Conn, user: User,
                          data: JSONBody[s.ApiKeyIn]) -> s.ApiKeyOut:
        """A key for a machine client, from a signed-in session only (a key does not mint
        keys that would outlive it); it expires after ``days``, within the maximum."""
        if user.via != "session":
            raise Forbidden({"reason": "session_required"},
                            message="只能在登录会话中创建 API 密钥",
                            message_en="API keys are made from a signed-in session only")
        limits = state.settings.login
        days = data.days if data.days is not None else min(limits.api_key_days,
                                                            limits.api_key_max_days)
        if days > limits.api_key_max_days:
            raise InvalidInput({"field": "days", "maximum": limits.api_key_max_days},
                               message=f"API 密钥有效期最长 {limits.api_key_max_days} 天",
                               message_en=f"An API key lives {limits.api_key_max_days} days "
                                          "at most")
        row, key = await create_api_key(conn, secret_key=state.settings.web.session_secret,
                                        user_id=user.user_id, name=data.name, days=days)
        await audit.record(conn, actor_of(request, user), "api_key.create", "api_key",
                           row["id"], {"name": data.name,
                                       "expires_at": row["expires_at"].isoformat()})
        return s.ApiKeyOut(id=row["id"], name=row["name"], key=key, prefix=row["prefix"],
                           created_at=row["created_at"], expires_at=row["expires_at"])

    @get("/api-keys")
    async def api_keys(self, conn: Conn, user: User) -> list[s.ApiKeyInfo]:
        """Your own keys (revoked and expired ones too), never their secrets."""
        return [s.ApiKeyInfo(**r) for r in await list_api_keys(conn, user.user_id)]

    @delete("/api-keys/{key_id:uuid}", status_code=HTTP_200_OK)
    async def revoke(self, request: Request[Any, Any, Any], conn: Conn, user: User,
                     key_id: FromPath[UUID]) -> s.ApiKeyInfo:
        """Revoke one of your keys at once; another person's key is not found."""
        row = await revoke_api_key(conn, actor_of(request, user), user_id=user.user_id,
                                   key_id=key_id)
        return s.ApiKeyInfo(**row)


class IdentityController(Controller):
    path = "/api"
    tags = ["identity"]  # noqa: RUF012

    @post("/organizations", status_code=HTTP_201_CREATED)
    async def create_organization(self, request: Request[Any, Any, Any],
                                  conn: Conn, user: User,
                                  data: JSONBody[s.OrganizationIn]) -> s.OrganizationOut:
        user.require("admin")
        row = await service.create_organization(
            conn, actor_of(request, user), credit_code=data.credit_code, name=data.name,
            kind=data.kind, region=data.region)
        return s.OrganizationOut(**row)

    @get("/organizations/{organization_id:uuid}")
    async def get_organization(self, conn: Conn, user: User,
                               organization_id: FromPath[UUID]) -> s.OrganizationOut:
        return s.OrganizationOut(**await service.get_organization(conn, user, organization_id))

    @get("/organizations/{organization_id:uuid}/members")
    async def members(self, conn: Conn, user: User,
                      organization_id: FromPath[UUID]) -> list[s.MemberOut]:
        rows = await service.list_members(conn, user, organization_id)
        return [s.MemberOut(**r) for r in rows]

    @post("/users", status_code=HTTP_201_CREATED)
    async def create_user(self, request: Request[Any, Any, Any], conn: Conn,
                          user: User, data: JSONBody[s.UserIn]) -> s.UserOut:
        user.require("admin")
        user_id = await service.create_user(
            conn, actor_of(request, user), login=data.login, name=data.name, roles=data.roles,
            password=data.password, organization_id=data.organization_id, city=data.city,
            email=data.email, phone=data.phone)
        row = await service.get_user(conn, user_id)
        return s.UserOut(**{k: row[k] for k in s.UserOut.__struct_fields__})


def local_path(target: str) -> str:
    """Where to go after sign-in: a path on this site, or the home page."""

    decoded = unquote(target)
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in decoded or any(ord(c) < 32 for c in decoded)
            or decoded.startswith("//")):
        return "/"
    return target


class LoginForm(s.LoginIn, forbid_unknown_fields=False):
    next: str = "/"


@post("/login", status_code=303, include_in_schema=False)
async def login_form(request: Request[Any, Any, Any], state: State, conn: Conn,
                     data: URLEncodedBody[LoginForm],
                     ) -> Response[Any]:
    target = local_path(data.next)
    # a failed sign-in still goes where the person was going, once it succeeds
    back = "" if target == "/" else f"&next={quote(target, safe='')}"
    try:
        _, token = await _login(request, state, conn, data.login, data.password)
    except BadCredentials:
        return Redirect(f"/login?error=1{back}", status_code=303)
    except LoginLocked as exc:
        return Redirect(f"/login?error=locked{back}", status_code=303,
                        headers={"Retry-After": str(exc.retry_after)})
    return Redirect(target, status_code=303, cookies=[session_cookie(state, token)])


@post("/logout", status_code=303, include_in_schema=False)
async def logout_form(request: Request[Any, Any, Any], state: State,
                      conn: Conn) -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(conn, secret_key=state.settings.web.session_secret, token=token)
    return Redirect("/", status_code=303, cookies=[session_cookie(state, None)])
