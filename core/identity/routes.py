"""HTTP routes: sign-in and sign-out, organizations, people, API keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from core import audit
from core.auth import (
    SESSION_COOKIE,
    actor_of,
    client_ip,
    create_api_key,
    end_session,
    start_session,
)
from core.deps import Conn, MaybeUser, User
from core.errors import BadCredentials
from core.identity import schemas as s
from core.identity import service


def session_cookie(state: State, token: str | None) -> Cookie:
    web = state.settings.web
    return Cookie(key=SESSION_COOKIE, value=token or "", httponly=True, samesite="lax",
                  secure=web.secure_cookies, path="/",
                  max_age=web.session_days * 86400 if token else 0)


async def _login(request: Request[Any, Any, Any], state: State, conn: Conn,
                 login: str, password: str) -> tuple[UUID, str]:
    user_id = await service.authenticate(conn, login=login, password=password)
    token = await start_session(
        conn, secret_key=state.settings.web.session_secret, user_id=user_id,
        days=state.settings.web.session_days, client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""))
    actor = audit.Actor(user_id, None, client_ip(request),
                        request.scope.get("state", {}).get("request_id"))
    await audit.record(conn, actor, "session.login", "user", user_id)
    return user_id, token


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012

    @post("/login", status_code=HTTP_200_OK)
    async def login(self, request: Request[Any, Any, Any], state: State,
                    conn: Conn, data: JSONBody[s.LoginIn]) -> Response[s.UserOut]:
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
        key_id, key = await create_api_key(conn, secret_key=state.settings.web.session_secret,
                                           user_id=user.user_id, name=data.name)
        await audit.record(conn, actor_of(request, user), "api_key.create", "api_key", key_id,
                           {"name": data.name})
        return s.ApiKeyOut(id=key_id, name=data.name, key=key)


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
    try:
        _, token = await _login(request, state, conn, data.login, data.password)
    except BadCredentials:
        return Redirect("/login?error=1", status_code=303)
    return Redirect(target, status_code=303, cookies=[session_cookie(state, token)])


@post("/logout", status_code=303, include_in_schema=False)
async def logout_form(request: Request[Any, Any, Any], state: State,
                      conn: Conn) -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(conn, secret_key=state.settings.web.session_secret, token=token)
    return Redirect("/", status_code=303, cookies=[session_cookie(state, None)])
