"""Run the Alembic migrations: the only way the schema changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config
from sqlalchemy.util import await_only

from alembic import command, op

ROOT = Path(__file__).resolve().parent.parent


def sqlalchemy_url(url: str) -> str:
    """The asyncpg URL in SQLAlchemy's spelling (same server, same options)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop, so it gets a thread of its own."""
    await asyncio.to_thread(upgrade, database_url, revision)


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside a migration.

    Prepared statements (what SQLAlchemy's asyncpg dialect sends) take one
    command each; asyncpg's simple-query ``execute`` takes a whole script, so
    migrations keep their SQL readable as one block.
    """


    driver = op.get_bind().connection.driver_connection
    if driver is None:
        raise RuntimeError("migrations need a live asyncpg connection")
    await_only(driver.execute(sql))
