"""Test fixtures on the real services that `make test` starts.

The run gets its own database, created empty and brought to head by the
Alembic migrations, and its own bucket prefix. Each test runs inside a
transaction that is rolled back at the end; the app under test shares that
connection, each request in a savepoint of its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher, profiles
from cryptography.hazmat.primitives import serialization
from litestar import Litestar

from app import close_resources, create_app, open_resources
from core import audit, auth, uscc
from core.db import connect
from core.identity import service as identity
from core.migrate import upgrade_async
from core.settings import Settings
from signing.ca import DevCA, Issued
from signing.pathval import TrustStore

Client = httpx.AsyncClient
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
# the trading centre that runs the platform under test: in the platform's seal certificate
PLATFORM_CODE = uscc.make("12510100MB0000001")
# The run's own share-holding key where the environment has none (a profile's secrets file
# made before the setting existed), for this process and every server or CLI it starts.
os.environ.setdefault("SHARE_HOLD_KEY", secrets.token_urlsafe(32))
SYSTEM = audit.Actor(None, "system", None, "test")


def pytest_configure(config: pytest.Config) -> None:
    """The run's own keys in the shared Redis, for every process it starts: a worker takes
    jobs from the run's own queue only (never another run's, whose ids name rows of another
    database), and a server counts sign-in failures apart from other runs' servers. Set in
    each pytest process, not inherited: each pytest-xdist worker is a run of its own (and a
    process that merely imports this module keeps the environment it was given)."""
    tag = f"th-test-{secrets.token_hex(4)}"
    os.environ["REDIS_QUEUE"] = f"{tag}:queue"
    os.environ["LOGIN_KEY_PREFIX"] = f"{tag}:login"


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(base_url: str, name: str) -> str:
    admin = await asyncpg.connect(database_url(base_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(base_url, name)


async def drop_database(base_url: str, name: str) -> None:
    admin = await asyncpg.connect(database_url(base_url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def platform_hasher() -> Iterator[PasswordHasher]:
    """Passwords hashed and checked in this process at argon2's cheapest cost, still argon2id.

    At the platform's cost (RFC 9106's low-memory profile) each hash and each check takes a
    quarter of a second of CPU; the suite makes and checks hundreds, and they were most of
    its own CPU time. The platform's hasher (yielded; test_auth pins its cost) stays in
    every server and command process the tests start, and a cheap hash in the database
    checks there as it does here: what a test asserts about sign-in does not change."""
    platform = auth._hasher
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        auth._dummy_hash.cache_clear()  # the unknown login's hash: at the same cost
        yield platform
    auth._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
async def settings(pki: PKI) -> AsyncIterator[Settings]:
    base = Settings.from_env()
    name = f"th_test_{secrets.token_hex(4)}"
    url = await create_database(base.database.url, name)
    await upgrade_async(url)
    # the platform's seal for official PDFs, from CA 1
    # it names the trading centre that runs the platform by its credit code: the platform's
    # identity in the messages it signs for guarantee issuers
    seal = pki.ca1.issue(cn="天衡平台电子签章（测试）", org="天衡平台", purpose="platform",
                         key_type="p256", credit_code=PLATFORM_CODE)
    seal_cert = pki.write("platform.crt.pem", seal.cert_pem() + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in seal.chain))
    seal_key = pki.write("platform.key.pem", seal.key_pem())
    # the built-in timestamp authority (bid receipts), from CA 1 too
    stamp = pki.ca1.issue(cn="天衡时间戳服务（测试）", org="天衡平台", purpose="tsa",
                          key_type="p256")
    tsa_cert = pki.write("tsa.crt.pem", stamp.cert_pem() + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in stamp.chain))
    tsa_key = pki.write("tsa.key.pem", stamp.key_pem())
    yield replace(
        base,
        database=replace(base.database, url=url),
        storage=replace(base.storage, bucket_prefix=f"th-t{secrets.token_hex(3)}"),
        # sign-in failures are counted in the shared Redis: per run, so runs do not add up
        login=replace(base.login, key_prefix=f"{name}:login"),
        log_json=True, platform_cert_file=str(seal_cert), platform_key_file=str(seal_key),
        tsa_cert_file=str(tsa_cert), tsa_key_file=str(tsa_key), dev_ca_dir=str(pki.dir),
    )
    await drop_database(base.database.url, name)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app with its lifespan run in the tests' own event loop (pool, Redis, S3)."""
    application = create_app(settings)
    await open_resources(application.state, settings)
    yield application
    await close_resources(application.state)


@pytest.fixture(scope="session")
async def session_client(app: Litestar) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def conn(app: Litestar, session_client: Client) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    pool: asyncpg.Pool = app.state.db_pool
    async with pool.acquire() as connection:
        tx = connection.transaction()
        await tx.start()
        app.state.shared_connection = connection
        try:
            yield connection
        finally:
            app.state.shared_connection = None
            await tx.rollback()


@pytest.fixture
async def client(session_client: Client, conn: asyncpg.Connection) -> Client:
    session_client.cookies.clear()
    session_client.headers.pop("authorization", None)
    return session_client


_issued: set[str] = set()


def credit_code(kind: str = "bidder") -> str:
    """A fresh, valid credit code (enterprise, Chengdu) for a test organization: never one this
    process gave before, since an organization's code is unique in the database. (A counter
    times 7919 plus a random number below a million met an earlier code in a few runs of a
    hundred once the deadline race committed its 200 bidders.)"""
    prefix = "91510100" if kind != "supervision" else "11510100"
    while True:
        code = uscc.make(prefix + f"{secrets.randbelow(10**9):09d}")
        if code not in _issued:
            _issued.add(code)
            return code


def tender_body(code: str, title: str = "测试项目", **overrides: Any) -> dict[str, Any]:
    """A draft that publishes: T1/T2-compliant schedule from an hour ahead, one lot."""
    start = datetime.now(UTC) + timedelta(hours=1)
    body: dict[str, Any] = {
        "code": code, "title": title, "budget": "1000000.00",
        "documents_from": start.isoformat(),
        "documents_until": (start + timedelta(days=6)).isoformat(),
        "bid_deadline": (start + timedelta(days=21)).isoformat(),
        "lots": [{"number": 1, "title": "第一标段", "budget": "1000000.00",
                  "security_amount": "20000.00"}],
    }
    body.update(overrides)
    return body


class World:
    """Factories for organizations and people inside the test's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def org(self, kind: str = "bidder", name: str | None = None) -> UUID:
        row = await identity.create_organization(
            self.conn, SYSTEM, credit_code=credit_code(kind), name=name or f"测试{kind}单位",
            kind=kind, region="四川省成都市")
        org_id: UUID = row["id"]
        return org_id

    async def user(self, role: str, org: UUID | None = None, login: str | None = None) -> str:
        login = login or f"{role.replace('_', '')}{secrets.token_hex(3)}"
        await identity.create_user(self.conn, SYSTEM, login=login, name=f"{role} 测试",
                                   roles=[role], password=PASSWORD, organization_id=org)
        return login


@pytest.fixture
def world(conn: asyncpg.Connection) -> World:
    return World(conn)


async def login(client: Client, login_name: str) -> dict[str, Any]:
    client.cookies.clear()
    r = await client.post("/api/auth/login", json={"login": login_name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def scratch_db(settings: Settings) -> AsyncIterator[str]:
    """An empty database of its own, for tests that must commit or break things."""
    name = f"th_scratch_{secrets.token_hex(4)}"
    base = settings.database.url
    url = await create_database(base, name)
    yield url
    await drop_database(base, name)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``tenderhall`` console script in a child process."""
    return subprocess.run(
        [sys.executable, "-c", "from app import cli; cli()", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=120, check=False,
    )


@dataclass
class PKI:
    ca1: DevCA
    ca2: DevCA
    ca3: DevCA  # SM2/SM3
    dir: Path

    def trust(self, *cas: DevCA, mode: str = "hard-fail") -> TrustStore:
        cas = cas or (self.ca1,)
        return TrustStore(
            roots=[TrustStore.load_cert(ca.root.public_bytes(serialization.Encoding.PEM)) for ca in cas],
            intermediates=[TrustStore.load_cert(ca.issuing.public_bytes(serialization.Encoding.PEM))
                           for ca in cas],
            crls=[ca.crl_der() for ca in cas], revocation_mode=mode)

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def files(self, issued: Issued, name: str) -> tuple[Path, Path, Path]:
        """cert, key and chain (issuing CA) as PEM files for openssl."""
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain[:1])
        return (self.write(f"{name}.crt", issued.cert_pem()), self.write(f"{name}.key", issued.key_pem()),
                self.write(f"{name}.chain", chain))

    def root_file(self, ca: DevCA) -> Path:
        return self.write(f"{ca.meta['name']}-root.pem", ca.root.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    ca1 = DevCA(base / "ca1")
    ca1.init("天衡测试CA一", crl_url="http://127.0.0.1:8000/ca/ca1/crl.der", key_type="p256",
             now=past(100))
    ca2 = DevCA(base / "ca2")
    ca2.init("天衡测试CA二", crl_url="http://127.0.0.1:8000/ca/ca2/crl.der", key_type="rsa2048",
             now=past(100))
    ca3 = DevCA(base / "ca3")
    ca3.init("国密测试CA三", crl_url="http://127.0.0.1:8000/ca/ca3/crl.der", key_type="sm2",
             now=past(100))
    return PKI(ca1, ca2, ca3, base)


def past(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def committed(url: str) -> asyncpg.Connection:
    return await connect(url)
