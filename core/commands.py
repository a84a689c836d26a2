"""The ``tenderhall`` console script's core: the group and the commands of core itself (serve,
db, audit, users). The commands of the other layers (the worker with its jobs, the bidder's
tool, the development CA, the demo) are added to the group in ``app.py``, the one place where
the application is wired."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import click
import uvicorn

from core import audit as audit_log
from core import queries as q
from core.constraints import from_postgres
from core.db import connect
from core.errors import DomainError
from core.identity import service
from core.settings import Settings, SettingsError


def settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _database_url() -> str:
    """Schema and audit commands need the database only, not the other services."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise click.ClickException("environment variable DATABASE_URL is required / "
                                   "缺少环境变量 DATABASE_URL")
    return url


# An idle keep-alive connection is held this long (uvicorn's default is 5 s). A client that
# pauses between two requests on one connection (a bidder between its last part and the
# finalize, a hall page between polls) would otherwise race the server's close and see its
# request cut off; 75 s also outlasts the usual 60 s idle timeout of a load balancer in front.
KEEP_ALIVE_S = 75


@click.group()
def cli() -> None:
    """Tenderhall: public-resource e-trading and remote bid evaluation."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web application and API."""

    settings_or_exit()  # fail early, with the variable's name, if configuration is missing
    uvicorn.run("app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=False,
                timeout_keep_alive=KEEP_ALIVE_S, http="core.server:BoundedHttpToolsProtocol")


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (the only way the schema changes)."""
    # alembic and SQLAlchemy cost more to import than the rest of the commands: only the
    # schema commands load them, not every other command and server process that imports this
    from core import migrate  # noqa: PLC0415

    migrate.upgrade(_database_url(), revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' for an empty schema)."""
    from core import migrate  # noqa: PLC0415 - as in db upgrade

    migrate.downgrade(_database_url(), revision)
    click.echo(f"database at {revision}")


@cli.group()
def audit() -> None:
    """Audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; name the first broken link."""

    async def run() -> audit_log.VerifyResult:
        conn = await connect(_database_url())
        try:
            return await audit_log.verify(conn)
        finally:
            await conn.close()

    result = asyncio.run(run())
    if result.ok:
        click.echo(f"audit chain intact: {result.rows} rows / 审计链完整：{result.rows} 条")
        return
    click.echo(f"audit chain BROKEN at row {result.broken_id}: {result.reason} "
               f"({result.rows} rows before it verified) / 审计链在第 {result.broken_id} 条断裂",
               err=True)
    sys.exit(1)


@cli.group()
def users() -> None:
    """People and their roles."""


@users.command("create")
@click.argument("login")
@click.option("--name", required=True, help="The person's name as shown in the platform.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["admin", "tenderer", "agency", "bidder", "expert",
                                 "site_operator", "supervisor", "insurer"]))
@click.option("--organization", "credit_code", default=None,
              help="Unified social credit code of the person's organization.")
@click.password_option(prompt="Password / 密码", help="Read from the terminal when not given.")
def users_create(login: str, name: str, roles: tuple[str, ...], credit_code: str | None,
                 password: str) -> None:
    """Create a person with a password: how the first administrator comes to exist."""

    async def run() -> str:
        conn = await connect(_database_url())
        try:
            async with conn.transaction():
                org_id = None
                if credit_code:
                    org_id = await conn.fetchval(q.ORGANIZATION_BY_CREDIT_CODE,
                                                 credit_code.strip().upper())
                    if org_id is None:
                        raise click.ClickException(f"no organization {credit_code}")
                actor = audit_log.Actor(None, "system", None, "cli")
                user_id = await service.create_user(conn, actor, login=login, name=name,
                                                    roles=list(roles), password=password,
                                                    organization_id=org_id)
                return str(user_id)
        finally:
            await conn.close()

    if len(password) < 8:
        raise click.ClickException("the password needs 8 characters or more / 密码至少 8 位")
    try:
        user_id = asyncio.run(run())
    except asyncpg.PostgresError as exc:
        mapped = from_postgres(exc)
        if mapped is None:
            raise
        raise click.ClickException(f"{mapped.message} / {mapped.message_en}") from None
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_en}") from exc
    click.echo(f"created {login} ({', '.join(roles)}): {user_id}")
