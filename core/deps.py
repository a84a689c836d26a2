"""Names of the request dependencies, typed for handlers.

``conn`` is the request's transaction (core.db), ``principal`` the caller or
None, ``user`` the caller who must be signed in (core.auth). A public read that
writes nothing takes no transaction: it reads through core.readcache.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from litestar.di import NamedDependency

from core.auth import Principal

Conn: TypeAlias = NamedDependency[asyncpg.Connection]
MaybeUser: TypeAlias = NamedDependency[Principal | None]
User: TypeAlias = NamedDependency[Principal]
