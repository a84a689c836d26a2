"""Alembic environment: migrations run over asyncpg through SQLAlchemy's async engine.

The database URL comes from the Alembic config (set by ``tenderhall db
upgrade``) or from ``DATABASE_URL``; migrations are plain SQL.
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from core.migrate import sqlalchemy_url

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = config.get_main_option("sqlalchemy.url") or sqlalchemy_url(os.environ["DATABASE_URL"])
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
asyncio.run(_main())
