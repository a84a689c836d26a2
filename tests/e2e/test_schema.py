"""The OpenAPI document is true: schemathesis against a real server process.

Every operation is exercised with generated and mutated input, without credentials
and with an API key of a signed-in tenderer, and every response must be documented
(status code, content type, body schema) and none may be a 5xx.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from core import audit
from core.identity import service as identity
from core.migrate import upgrade_async
from core.settings import Settings
from tests.conftest import (
    PASSWORD,
    committed,
    create_database,
    credit_code,
    drop_database,
    tender_body,
)
from tests.e2e import servers

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance",
])
# Per operation; about 90 operations, both runs inside two minutes on a busy machine.
MAX_EXAMPLES = 6


@pytest.fixture(scope="module")
async def own_db(settings: Settings) -> AsyncIterator[Settings]:
    """A migrated database of this module's own: the generated requests commit whatever the
    API accepts (calendar days, trust anchors, failed sign-ins in the audit chain), and
    other tests must not find it in theirs."""
    name = f"th_schema_{secrets.token_hex(4)}"
    url = await create_database(settings.database.url, name)
    await upgrade_async(url)
    yield replace(settings, database=replace(settings.database, url=url),
                  login=replace(settings.login, key_prefix=f"{name}:login"))
    await drop_database(settings.database.url, name)


@pytest.fixture(scope="module")
def server(own_db: Settings) -> Iterator[servers.Server]:
    server = servers.start(own_db, LOGIN_KEY_PREFIX=own_db.login.key_prefix)
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def officer(own_db: Settings) -> AsyncIterator[str]:
    """A committed user with most roles, so that many operations get past authorization."""
    login = f"schema-{secrets.token_hex(3)}"
    conn = await committed(own_db.database.url)
    actor = audit.Actor(None, "system", None, "schema")
    try:
        async with conn.transaction():
            org = await identity.create_organization(
                conn, actor, credit_code=credit_code("tenderer"), name="接口契约测试单位",
                kind="tenderer", region="四川省成都市")
            await identity.create_user(conn, actor, login=login, name="接口契约测试",
                                       roles=["tenderer", "admin", "supervisor"],
                                       password=PASSWORD, organization_id=org["id"])
        yield login
    finally:
        await conn.close()


def schemathesis(url: str, *headers: str, workdir: Path, config: Path | None = None,
                 exclude: str | None = None) -> subprocess.CompletedProcess[str]:
    """The tool's command line (it keeps a cache in its working folder: a temporary one)."""
    args = [sys.executable, "-m", "schemathesis.cli",
            *(["--config-file", str(config)] if config else []),
            "run", f"{url}/schema/openapi.json",
            "--url", url, "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
            "--phases", "examples,coverage,fuzzing", "--seed", "14", "--workers", "1",
            "--suppress-health-check", "all", "--no-shrink", "--continue-on-failure",
            "--request-timeout", "30", "--output-truncate", "true"]
    for header in headers:
        args += ["--header", header]
    if exclude:
        args += ["--exclude-path-regex", exclude]
    return subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600,
                          check=False)


def test_every_operation_conforms_without_credentials(server: servers.Server,
                                                      tmp_path: Path) -> None:
    result = schemathesis(server.url, workdir=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]


def test_every_operation_conforms_with_an_api_key(server: servers.Server, officer: str,
                                                  tmp_path: Path) -> None:
    """Signed in, on a draft tender of the user's own (its ids fill the paths), so the
    operations get past "not found" to their own rules."""
    with httpx.Client(base_url=server.url) as http:
        r = http.post("/api/auth/login", json={"login": officer, "password": PASSWORD})
        assert r.status_code == 200, r.text
        r = http.post("/api/auth/api-keys", json={"name": "schema"})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        r = http.post("/api/tenders/", json=tender_body(f"SCHEMA-{secrets.token_hex(3)}"),
                      headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.text
        tender = r.json()
    config = tmp_path / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in {
        "path.tender_id": tender["id"], "path.lot_id": tender["lots"][0]["id"],
        "path.number": 1}.items()))
    # On a real lot the hall's event stream stays open (until the client leaves): a
    # response that never ends is nothing this tool can check; the unauthenticated run
    # covers its refusals, tests/e2e/test_hall_live.py its events.
    result = schemathesis(server.url, f"Authorization: Bearer {key}", workdir=tmp_path,
                          config=config,
                          exclude="/hall/stream$")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]


@pytest.mark.browser
def test_the_api_page_works_under_the_content_security_policy(server: servers.Server,
                                                               browser: Browser) -> None:
    """Swagger UI from the vendored files renders the document, and the browser refuses
    nothing the page asks for (a CSP violation is reported on the console)."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(f"{server.url}/schema")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tenderhall API",
                                                                         timeout=30000)
        expect(page.locator(".opblock-tag-section").first).to_be_visible()
    finally:
        page.close()
    assert all(u.startswith(server.url) for u in requested), requested
    assert not [p for p in problems if "favicon" not in p and "404" not in p], problems
