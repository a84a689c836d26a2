"""The error map names only constraints the schema has: a renamed constraint must not leave
its refusals unmapped (a 409 turned into a bare 500 or a generic message)."""

from __future__ import annotations

import re

import asyncpg
import pytest
from litestar import Litestar

from core import constraints
from core.constraints import install_constraints
from core.errors import Conflict


async def schema_names(conn: asyncpg.Connection) -> set[str]:
    """Constraint and index names, and the names the schema's own functions raise
    (``RAISE ... USING CONSTRAINT = 'name'`` in the immutability triggers)."""
    names = {r["conname"] for r in await conn.fetch("SELECT conname FROM pg_constraint")}
    names |= {r["indexname"] for r in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    for row in await conn.fetch(
            """SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public'"""):
        names |= set(re.findall(r"CONSTRAINT\s*=\s*'([a-z0-9_]+)'", row["prosrc"], re.I))
    return names


async def test_every_mapped_constraint_exists(app: Litestar, conn: asyncpg.Connection) -> None:
    mapped = set(constraints.CONSTRAINT_ERRORS)
    assert len(mapped) > 20  # core's, the tenders', the bids' and the opening's
    missing = mapped - await schema_names(conn)
    assert not missing, f"mapped but not in the schema: {sorted(missing)}"


def test_a_constraint_claimed_twice_is_refused(app: Litestar) -> None:
    before = dict(constraints.CONSTRAINT_ERRORS)
    with pytest.raises(ValueError, match="mapped twice"):
        install_constraints({"lots_number_key": Conflict})
    assert before == constraints.CONSTRAINT_ERRORS
