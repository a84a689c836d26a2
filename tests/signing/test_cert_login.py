"""Trust store administration, CRL refresh, certificate binding and certificate login."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from client import login as cert_client
from signing import cms, trust
from signing.ca import DevCA, Issued
from tests.conftest import Client, World, login
from tests.signing.conftest import PKI


async def trust_ca1(client: Client, conn: asyncpg.Connection, pki: PKI,
                    monkeypatch: pytest.MonkeyPatch, ca: DevCA | None = None) -> None:
    """Register CA 1 (or ``ca``: root and issuing) through the API and fetch its CRL over HTTP."""
    ca = ca or pki.ca1
    label = ca.dir.name.upper()
    for name, cert, crl in ((f"{label} root", ca.root, None),
                            (f"{label} issuing", ca.issuing, ca.crl_url)):
        r = await client.post("/api/trust/cas/", json={
            "name": name, "certificate_pem": cert.public_bytes(Encoding.PEM).decode(),
            "crl_url": crl})
        assert r.status_code == 201, r.text

    async def fetch(url: str) -> bytes:
        r = await client.get(urlsplit(url).path)
        r.raise_for_status()
        return r.content

    assert await trust.refresh_crls(conn, fetch=fetch) == {"fetched": 1, "failed": 0}


@pytest.fixture
async def trusted(client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Signed in as an administrator, with CA 1 in the trust store and its CRL fetched."""
    await login(client, await world.user("admin"))
    await trust_ca1(client, conn, pki, monkeypatch)


async def bidder_with_certificate(client: Client, conn: asyncpg.Connection, world: World,
                                  ca: DevCA, purpose: str = "login") -> tuple[str, Issued]:
    org = await world.org("bidder")
    code = await conn.fetchval("SELECT credit_code FROM organizations WHERE id = $1", org)
    name = await world.user("bidder", org)
    issued = ca.issue(cn="投标人经办人", org="测试投标人", credit_code=code,
                      purpose=purpose, key_type=ca.meta["key_type"])  # type: ignore[arg-type]
    return name, issued


async def bind(client: Client, conn: asyncpg.Connection, login_name: str, issued: Issued,
               purpose: str = "login") -> int:
    return (await bind_response(client, conn, login_name, issued, purpose)).status_code


async def bind_response(client: Client, conn: asyncpg.Connection, login_name: str,
                        issued: Issued, purpose: str = "login") -> httpx.Response:
    user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", login_name)
    return await client.post(f"/api/users/{user_id}/certificates", json={
        "certificate_pem": issued.cert_pem().decode(), "purpose": purpose})


async def test_certificate_login_end_to_end(client: Client, conn: asyncpg.Connection,
                                            world: World, pki: PKI, trusted: None) -> None:
    name, issued = await bidder_with_certificate(client, conn, world, pki.ca1)
    assert await bind(client, conn, name, issued) == 201
    client.cookies.clear()

    body = await cert_client.login_with_pkcs12(client, issued.pkcs12(b"pw"), b"pw")
    assert "测试投标人" in body["certificate"]
    me = await client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["login"] == name
    row = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'session.login_certificate' "
                              "ORDER BY id DESC LIMIT 1")
    assert row is not None and str(row["object_id"]) == me.json()["id"]


async def test_sm2_certificate_login(client: Client, conn: asyncpg.Connection, world: World,
                                     pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SM2 CA trusted beside the others (K2): its SM2-signed CRL is fetched and checked,
    and a bidder signs in from an SM2 PKCS#12 file."""
    await login(client, await world.user("admin"))
    await trust_ca1(client, conn, pki, monkeypatch, pki.ca3)
    name, issued = await bidder_with_certificate(client, conn, world, pki.ca3)
    assert await bind(client, conn, name, issued) == 201
    client.cookies.clear()
    body = await cert_client.login_with_pkcs12(client, issued.pkcs12(b"pw"), b"pw")
    assert "测试投标人" in body["certificate"]
    assert (await client.get("/api/auth/me")).json()["login"] == name


async def test_challenges_are_single_use(client: Client, conn: asyncpg.Connection, world: World,
                                         pki: PKI, trusted: None) -> None:
    name, issued = await bidder_with_certificate(client, conn, world, pki.ca1)
    await bind(client, conn, name, issued)
    nonce_b64 = (await client.post("/api/auth/cert/challenge")).json()["nonce"]
    sig = cms.sign(base64.b64decode(nonce_b64), cert=issued.cert, key=issued.key)
    payload = {"nonce": nonce_b64, "signature": base64.b64encode(sig).decode()}
    assert (await client.post("/api/auth/cert/login", json=payload)).status_code == 200
    again = await client.post("/api/auth/cert/login", json=payload)
    assert again.status_code == 401 and again.json()["code"] == "login_challenge_invalid"
    made_up = {"nonce": base64.b64encode(b"x" * 32).decode(), "signature": payload["signature"]}
    assert (await client.post("/api/auth/cert/login", json=made_up)).json()["code"] == \
        "login_challenge_invalid"
    bad = await client.post("/api/auth/cert/login", json={"nonce": "***", "signature": "x"})
    assert bad.status_code == 400


@pytest.mark.parametrize("case", ["signing_key", "unbound", "untrusted", "revoked"])
async def test_certificate_login_refusals(client: Client, conn: asyncpg.Connection, world: World,
                                          pki: PKI, case: str, trusted: None) -> None:
    ca = pki.ca2 if case == "untrusted" else pki.ca1
    name, issued = await bidder_with_certificate(client, conn, world, ca,
                                                 "signing" if case == "signing_key" else "login")
    if case == "revoked":
        assert await bind(client, conn, name, issued) == 201
        pki.ca1.revoke(issued.cert.serial_number)
        await conn.execute("UPDATE trust_cas SET crl_der = $1 WHERE crl_url IS NOT NULL",
                           pki.ca1.crl_der())
    elif case == "signing_key":
        # bound as a signing certificate: it is no login certificate
        assert await bind(client, conn, name, issued, "signing") == 201
    elif case == "untrusted":
        assert await bind(client, conn, name, issued) == 422  # binding checks the path too
    client.cookies.clear()
    nonce_b64 = (await client.post("/api/auth/cert/challenge")).json()["nonce"]
    sig = cms.sign(base64.b64decode(nonce_b64), cert=issued.cert, key=issued.key)
    r = await client.post("/api/auth/cert/login", json={
        "nonce": nonce_b64, "signature": base64.b64encode(sig).decode()})
    expected = {"signing_key": "certificate_wrong_key_usage", "unbound": "certificate_not_bound",
                "untrusted": "certificate_unknown_issuer", "revoked": "certificate_revoked"}
    assert r.json()["code"] == expected[case], r.text
    assert r.status_code in (401, 422)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_binding_checks_the_organization(client: Client, conn: asyncpg.Connection,
                                               world: World, pki: PKI, trusted: None) -> None:
    name, _ = await bidder_with_certificate(client, conn, world, pki.ca1)
    stranger = pki.ca1.issue(cn="别家的人", credit_code="91350100M000100Y43", purpose="login")
    r = await bind_response(client, conn, name, stranger)
    assert r.status_code == 401 and r.json()["code"] == "certificate_organization_mismatch"
    # a bidder cannot bind certificates to someone else
    await login(client, name)
    other = await world.user("bidder", await world.org())
    assert (await bind_response(client, conn, other, stranger)).status_code == 403


async def test_a_person_without_organization_binds_only_a_personal_certificate_of_theirs(
        client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        trusted: None) -> None:
    """An expert or an administrator has no organization: another company's certificate,
    or another person's, is refused whoever binds it; the person's own is accepted."""
    expert = await world.user("expert")
    admin = await conn.fetchval("SELECT login FROM users WHERE id = $1",
                                (await client.get("/api/auth/me")).json()["id"])
    company = pki.ca1.issue(cn="别家的人", org="别家公司", credit_code="91350100M000100Y43",
                            purpose="signing")
    named_company = pki.ca1.issue(cn="expert 测试", org="别家公司", purpose="signing")
    somebody = pki.ca1.issue(cn="张三", purpose="signing")
    own = pki.ca1.issue(cn="expert  测试", purpose="signing")  # spacing aside, the name
    for target in (expert, admin):
        for cert in (company, named_company, somebody):
            r = await bind_response(client, conn, target, cert, "signing")
            assert r.status_code == 422, (target, r.text)
            assert r.json()["code"] == "certificate_person_mismatch"
    assert await bind(client, conn, expert, own, "signing") == 201
    # the expert binding for themself meets the same check
    await login(client, expert)
    assert (await bind_response(client, conn, expert, company, "signing")).json()["code"] == \
        "certificate_person_mismatch"


async def test_encryption_certificates_are_validated_too(
        client: Client, conn: asyncpg.Connection, world: World, pki: PKI,
        trusted: None) -> None:
    """Bids and key shares are sealed to encryption certificates: an untrusted, revoked or
    foreign one is refused like any other."""
    name, _ = await bidder_with_certificate(client, conn, world, pki.ca1)
    code = await conn.fetchval("SELECT o.credit_code FROM users u JOIN organizations o "
                               "ON o.id = u.organization_id WHERE u.login = $1", name)
    untrusted = pki.ca2.issue(cn="加密", org="测试投标人", credit_code=code,
                              purpose="encryption", key_type=pki.ca2.meta["key_type"])  # type: ignore[arg-type]
    r = await bind_response(client, conn, name, untrusted, "encryption")
    assert r.status_code == 422 and r.json()["code"] == "certificate_unknown_issuer", r.text
    foreign = pki.ca1.issue(cn="加密", credit_code="91350100M000100Y43", purpose="encryption")
    r = await bind_response(client, conn, name, foreign, "encryption")
    assert r.json()["code"] == "certificate_organization_mismatch"
    revoked = pki.ca1.issue(cn="加密", org="测试投标人", credit_code=code, purpose="encryption")
    pki.ca1.revoke(revoked.cert.serial_number)
    await conn.execute("UPDATE trust_cas SET crl_der = $1 WHERE crl_url IS NOT NULL",
                       pki.ca1.crl_der())
    r = await bind_response(client, conn, name, revoked, "encryption")
    assert r.status_code == 422 and r.json()["code"] == "certificate_revoked", r.text
    good = pki.ca1.issue(cn="加密", org="测试投标人", credit_code=code, purpose="encryption")
    assert await bind(client, conn, name, good, "encryption") == 201


async def test_trust_store_administration(client: Client, conn: asyncpg.Connection,
                                          world: World, pki: PKI) -> None:
    await login(client, await world.user("admin"))
    leaf = pki.ca1.issue(cn="不是CA", purpose="signing")
    r = await client.post("/api/trust/cas/", json={"name": "x",
                                                   "certificate_pem": leaf.cert_pem().decode()})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "certificate"
    r = await client.post("/api/trust/cas/", json={"name": "x", "certificate_pem": "garbage"})
    assert r.status_code == 400
    pem = pki.ca2.root.public_bytes(Encoding.PEM).decode()
    ok = await client.post("/api/trust/cas/", json={"name": "CA2", "certificate_pem": pem,
                                                    "revocation_mode": "soft-fail"})
    assert ok.status_code == 201 and ok.json()["is_root"] is True
    dup = await client.post("/api/trust/cas/", json={"name": "CA2", "certificate_pem": pem})
    assert dup.status_code == 409
    listing = (await client.get("/api/trust/cas/")).json()
    assert any(ca["name"] == "CA2" for ca in listing)
    # a CRL signed by another CA is refused and the failure recorded
    await client.post("/api/trust/cas/", json={
        "name": "CA2 issuing", "certificate_pem": pki.ca2.issuing.public_bytes(Encoding.PEM).decode(),
        "crl_url": "http://crl.example/ca2.crl"})

    async def wrong_crl(url: str) -> bytes:
        return pki.ca1.crl_der()

    assert await trust.refresh_crls(conn, fetch=wrong_crl) == {"fetched": 0, "failed": 1}
    error = await conn.fetchval("SELECT crl_error FROM trust_cas WHERE name = 'CA2 issuing'")
    assert "not signed by this CA" in error
    await login(client, await world.user("bidder", await world.org()))
    assert (await client.get("/api/trust/cas/")).status_code == 403
