"""Migrations are the only way the schema changes: they apply to an empty database."""

from __future__ import annotations

import asyncio

import argon2
import asyncpg
import pytest
from argon2 import profiles

from core import migrate
from tests.conftest import committed, run_cli

TABLES = {"organizations", "users", "user_roles", "sessions", "api_keys", "audit_log",
          "trust_cas", "user_certificates", "login_challenges",
          "outbox", "notifications", "calendar_days", "tenders", "lots", "alembic_version",
          "notices", "tender_documents", "tender_officers", "lot_opening_shares",
          "document_holders", "document_downloads", "objections", "ocds_releases",
          "guarantee_events", "bid_uploads", "bids", "bid_marks",
          "bid_openings", "bid_open_attempts", "lot_openings", "bid_opening_failures",
          "hall_events", "hall_signins", "opening_records", "opening_confirmations",
          "opening_objections", "public_tender_counts", "issuers", "issuer_products",
          "issuer_messages", "guarantees"}


async def _tables(url: str) -> set[str]:
    conn = await committed(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_from_empty_then_down_and_up_again(scratch_db: str) -> None:
    assert await _tables(scratch_db) == set()
    result = await asyncio.to_thread(run_cli, "db", "upgrade", env={"DATABASE_URL": scratch_db})
    assert result.returncode == 0, result.stderr
    assert await _tables(scratch_db) == TABLES
    await asyncio.to_thread(migrate.downgrade, scratch_db, "base")
    assert await _tables(scratch_db) == {"alembic_version"}
    await migrate.upgrade_async(scratch_db)
    assert await _tables(scratch_db) == TABLES


async def test_constraints_live_in_the_database(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as info:
        async with conn.transaction():
            await conn.execute("INSERT INTO organizations (credit_code, name, kind) "
                               "VALUES ('91350100M000100IO3', 'x', 'bidder')")
    assert info.value.constraint_name == "organizations_credit_code_format"


async def test_first_administrator_from_the_command_line(scratch_db: str) -> None:
    await migrate.upgrade_async(scratch_db)
    env = {"DATABASE_URL": scratch_db}
    ok = await asyncio.to_thread(run_cli, "users", "create", "root-admin", "--name", "管理员",
                                 "--role", "admin", "--password", "s3cret-pass", env=env)
    assert ok.returncode == 0, ok.stderr
    again = await asyncio.to_thread(run_cli, "users", "create", "root-admin", "--name", "x",
                                    "--role", "admin", "--password", "s3cret-pass", env=env)
    assert again.returncode == 1 and "This login name is taken" in again.stderr
    bad = await asyncio.to_thread(run_cli, "users", "create", "Bad Login", "--name", "x",
                                  "--role", "admin", "--password", "s3cret-pass", env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "登录名须为" in bad.stderr and "argon2" not in bad.stderr
    conn = await committed(scratch_db)
    try:
        roles = await conn.fetchval("SELECT array_agg(role) FROM user_roles r JOIN users u "
                                    "ON u.id = r.user_id WHERE u.login = 'root-admin'")
        assert roles == ["admin"]
        # the command's own process hashes at the platform's cost, not the suite's
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE login = 'root-admin'")
        assert argon2.extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    finally:
        await conn.close()
