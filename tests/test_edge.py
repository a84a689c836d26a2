"""The HTTP edge: malformed input is a 4xx with the error body, every response carries the
security headers, downloads cannot run as pages, /metrics is the operator's alone and
says nothing about bids, and the API page loads nothing from another host."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar

from app import close_resources, create_app, open_resources
from core.edge import MAX_HEADER_BYTES, MAX_HEADERS, safe_download_headers
from core.settings import Settings, SettingsError
from tests.conftest import Client, World, login

SHAPE = {"code", "message", "message_en", "detail"}
BAD_UTF8 = b'{"login": "\xff\xfe", "password": "x", "name": "\xc3("}'


def error_body(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == SHAPE
    assert body["code"] == code
    assert body["message"] and body["message_en"]


@pytest.mark.parametrize("path", [
    "/api/auth/login",                # anonymous
    "/api/organizations",             # admin only: refused before authentication is checked
    "/api/tenders/",
    # ids without the random part: every process of a parallel run collects the same tests
    pytest.param(f"/api/tenders/{uuid4()}/publish", id="/api/tenders/ID/publish"),
    "/api/users",
    pytest.param(f"/api/lots/{uuid4()}/hall/messages", id="/api/lots/ID/hall/messages"),
])
async def test_invalid_utf8_in_json_is_a_400_anonymous(client: Client, path: str) -> None:
    r = await client.post(path, content=BAD_UTF8, headers={"content-type": "application/json"})
    error_body(r, 400, "malformed_request")
    assert r.json()["detail"]["reason"] == "invalid_utf8"


async def test_invalid_utf8_in_json_is_a_400_signed_in(client: Client, world: World) -> None:
    await login(client, await world.user("tenderer", await world.org("tenderer")))
    for path in ("/api/tenders/", "/api/auth/api-keys"):
        r = await client.post(path, content=BAD_UTF8,
                              headers={"content-type": "application/json"})
        error_body(r, 400, "malformed_request")


@pytest.mark.parametrize("path", ["/static/%00", "/static/site.css%00.js", "/static/a%00/b.css",
                                  "/api/tenders/%00", "/%00"])
async def test_nul_in_a_path_is_a_404(client: Client, path: str) -> None:
    r = await client.get(path)
    error_body(r, 404, "not_found")


SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def assert_secured(r: httpx.Response) -> None:
    for name, value in SECURITY.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers.get(name))
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert "unsafe-inline" not in r.headers["content-security-policy"]


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/"), ("get", "/login"), ("get", "/api/tenders/"), ("get", "/healthz"),
    ("get", "/static/site.css"), ("get", "/schema"), ("get", "/api/nowhere"),
    ("get", "/nowhere"), ("get", "/api/auth/me"), ("post", "/api/auth/login"),
    ("get", "/static/%00"),
])
async def test_every_response_carries_the_security_headers(client: Client, method: str,
                                                            path: str) -> None:
    r = await getattr(client, method)(path)
    assert_secured(r)


@pytest.mark.parametrize(("sent_type", "disposition", "want_type", "want_disposition"), [
    (b"text/html; charset=utf-8", b"inline; filename=x.html", b"application/octet-stream",
     b"attachment; filename=x.html"),
    (b"image/svg+xml", b"attachment; filename=x.svg", b"application/octet-stream",
     b"attachment; filename=x.svg"),
    (b"application/xhtml+xml", b"attachment", b"application/octet-stream", b"attachment"),
    (b"application/pdf", b"inline; filename=r.pdf", b"application/pdf", b"inline; filename=r.pdf"),
    (b"application/zip", b"inline; filename=a.zip", b"application/zip",
     b"attachment; filename=a.zip"),
    (b"application/pkcs7-mime", b"attachment; filename=r.p7s", b"application/pkcs7-mime",
     b"attachment; filename=r.p7s"),
])
def test_downloads_cannot_run_as_pages(sent_type: bytes, disposition: bytes, want_type: bytes,
                                       want_disposition: bytes) -> None:
    out = dict(safe_download_headers([(b"content-type", sent_type),
                                      (b"content-disposition", disposition)]))
    assert out[b"content-type"] == want_type
    assert out[b"content-disposition"] == want_disposition


async def test_too_many_or_too_large_headers_are_refused(client: Client) -> None:
    many = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 1)}
    r = await client.get("/healthz", headers=many)
    error_body(r, 431, "headers_too_large")
    assert_secured(r)
    r = await client.get("/healthz", headers={"x-big": "a" * (MAX_HEADER_BYTES + 1)})
    error_body(r, 431, "headers_too_large")
    r = await client.get("/healthz", headers={f"x-h{i}": "v" for i in range(MAX_HEADERS - 10)})
    assert r.status_code == 200


@pytest.mark.parametrize(("path", "media"), [("/static/forms.js", "javascript"),
                                             ("/static/site.css", "text/css")])
async def test_own_static_files_keep_their_type(client: Client, path: str, media: str) -> None:
    """Scripts and styles must run under nosniff: served as what they are, not downloads."""
    r = await client.get(path)
    assert r.status_code == 200
    assert media in r.headers["content-type"]
    assert not r.headers.get("content-disposition", "inline").startswith("attachment")


# ------------------------------------------------------------------ the API page
async def test_schema_page_loads_nothing_from_another_host(client: Client) -> None:
    r = await client.get("/schema")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<script>" not in page.replace(" ", "")  # no inline script, so no 'unsafe-inline'
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert urls, page
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in page and "https://" not in page
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000 or url.endswith("swagger-init.js"), url


async def test_schema_documents_the_platform_error_body(client: Client) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == SHAPE
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = set(operation["responses"])
            assert {"4XX", "5XX"} <= codes, (method, path)
            # nothing else documents an error, so nothing documents Litestar's body
            assert not {c for c in codes if c[0] in "45"} - {"4XX", "5XX"}, (method, path)
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                for media, content in (response.get("content") or {}).items():
                    if media == "application/json":
                        assert content["schema"].get("type") != "string", (method, path)


# ------------------------------------------------------------------ /metrics
TOKEN = secrets.token_hex(32)


@pytest.fixture(scope="module")
async def metered(settings: Settings) -> AsyncIterator[Litestar]:
    """An app of its own with a metrics token (its requests commit: all are refusals)."""
    configured = replace(settings, metrics_token=TOKEN)
    app = create_app(configured)
    await open_resources(app.state, configured)
    yield app
    await close_resources(app.state)


async def test_metrics_answer_404_when_no_token_is_set(client: Client) -> None:
    r = await client.get("/metrics")
    error_body(r, 404, "not_found")
    r = await client.get("/metrics", headers={"Authorization": "Bearer "})
    error_body(r, 404, "not_found")


SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def samples(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for line in text.splitlines():
        if m := SAMPLE.match(line):
            out[(m["name"], m["labels"])] = float(m["value"])
    return out


async def test_metrics_need_the_token_and_show_no_bid_activity(metered: Litestar) -> None:
    transport = httpx.ASGITransport(app=metered, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        r = await http.get("/metrics")
        error_body(r, 401, "not_authenticated")
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
        error_body(r, 401, "not_authenticated")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        await http.get("/api/tenders/")
        before = await http.get("/metrics", headers=auth)
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        counted = samples(before.text)
        assert any(name == "tenderhall_requests_total" and 'path="/api/tenders"' in labels
                   for name, labels in counted), before.text[-3000:]
        # bidding, obtaining documents and the opening, as anybody may try them
        tender, lot, bid = uuid4(), uuid4(), uuid4()
        for method, path in [
            ("post", f"/api/tenders/{tender}/lots/1/bid-uploads"),
            ("put", f"/api/bid-uploads/{uuid4()}/parts/1"),
            ("post", f"/api/bid-uploads/{uuid4()}/finalize"),
            ("get", f"/api/bids/{bid}/receipt.pdf"), ("get", "/api/bids/mine"),
            ("post", f"/api/bids/{bid}/withdraw"), ("get", f"/api/tenders/{tender}/bid-counts"),
            ("get", f"/api/tenders/{tender}/documents/{uuid4()}"),
            ("get", f"/api/tenders/{tender}/holders"), ("get", f"/api/lots/{lot}/hall"),
            ("post", f"/api/lots/{lot}/shares"), ("post", f"/api/bids/{bid}/open"),
            ("get", "/bids"), ("get", f"/hall/{lot}"),
        ]:
            await getattr(http, method)(path)
        after = await http.get("/metrics", headers=auth)
    changed = {key: value for key, value in samples(after.text).items()
               if counted.get(key) != value}
    # only the /metrics scrape itself may have moved anything (process figures)
    assert all(not name.startswith("tenderhall_") for name, _ in changed), changed
    paths = set(re.findall(r'path="([^"]*)"', after.text))
    # by path segment: /api/auth/cert/challenge, counted by other tests, is no hall
    revealing = r"(^|/)(bids?|bid-[a-z-]+|hall|lots|documents|holders|shares)(/|$)"
    assert not {p for p in paths if re.search(revealing, p)}, paths


def test_metrics_token_is_not_short() -> None:
    env = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "S3_ENDPOINT": "x:1",
           "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", "SESSION_SECRET": "s" * 32,
           "SHARE_HOLD_KEY": "k" * 64}
    assert Settings.from_env(env).metrics_token == ""
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        Settings.from_env({**env, "METRICS_TOKEN": "secret"})
    assert Settings.from_env({**env, "METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
