"""The workspace pages over HTTP: who gets which page, the hub's sections, the
administrator's revocation of anyone's API key, and nothing naming a potential bidder on
the tenderer's desk before the deadline (T7)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from core.auth import create_api_key
from core.identity import service as identity
from core.settings import Settings
from tests.conftest import PASSWORD, SYSTEM, Client, World, login
from workspaces.service import readable_subject

PAGES = {"admin": "/workspace/admin", "supervisor": "/workspace/supervisor",
         "site_operator": "/workspace/operator", "expert": "/workspace/expert",
         "insurer": "/workspace/insurer"}


async def test_the_hub_sends_a_visitor_to_sign_in(client: Client) -> None:
    for path in ("/workspace", *PAGES.values()):
        r = await client.get(path)
        assert r.status_code in (302, 303), path
        assert r.headers["location"].startswith("/login?next=%2Fworkspace")


@pytest.mark.parametrize("role", [*PAGES, "bidder", "tenderer"])
async def test_each_role_opens_its_own_page_and_no_other(client: Client, world: World,
                                                         role: str) -> None:
    org = await world.org("insurer" if role == "insurer" else "bidder")
    await login(client, await world.user(role, org))
    for page_role, path in PAGES.items():
        r = await client.get(path)
        assert r.status_code == (200 if page_role == role else 403), (role, path)
    hub = await client.get("/workspace")
    assert hub.status_code == 200
    assert f'data-testid="section-{role}"' in hub.text
    assert hub.text.count('data-testid="section-') == 1


async def test_several_roles_see_a_section_each(client: Client, conn: asyncpg.Connection) -> None:
    name = f"multi{secrets.token_hex(3)}"
    await identity.create_user(conn, SYSTEM, login=name, name="多角色", password=PASSWORD,
                               roles=["supervisor", "site_operator", "expert"])
    await login(client, name)
    hub = (await client.get("/workspace")).text
    for role in ("supervisor", "site_operator", "expert"):
        assert f'data-testid="section-{role}"' in hub
    assert 'data-testid="section-admin"' not in hub
    assert (await client.get("/workspace/admin")).status_code == 403


async def test_the_administrator_revokes_anyones_key(client: Client, world: World,
                                                     conn: asyncpg.Connection,
                                                     settings: Settings) -> None:
    insurer = await world.user("insurer", await world.org("insurer"))
    owner = await conn.fetchval("SELECT id FROM users WHERE login = $1", insurer)
    row, _ = await create_api_key(conn, secret_key=settings.web.session_secret, user_id=owner,
                                  name="承保系统", days=30)
    url = f"/workspace/admin/api-keys/{row['id']}/revoke"

    await login(client, await world.user("supervisor"))
    assert (await client.post(url)).status_code == 403
    page = (await client.get("/workspace/supervisor")).text
    assert "/revoke" not in page and "/api/trust/cas" not in page

    await login(client, await world.user("admin"))
    admin_page = (await client.get("/workspace/admin")).text
    assert row["prefix"] in admin_page and url in admin_page
    r = await client.post(url)
    assert r.status_code == 200, r.text
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1",
                               row["id"])
    audited = await conn.fetchrow(
        "SELECT actor_role FROM audit_log WHERE action = 'api_key.revoke' AND object_id = $1",
        str(row["id"]))
    assert audited["actor_role"] == "admin"
    assert (await client.post(f"/workspace/admin/api-keys/{UUID(int=1)}/revoke")
            ).status_code == 404


async def test_the_tenderer_desk_counts_objections_and_names_no_bidder(
        client: Client, world: World, conn: asyncpg.Connection) -> None:
    """Before the deadline the desk says an objection waits, not who raised it, and no
    holder of the documents appears anywhere on it (T7)."""
    org = await world.org("tenderer")
    staff = await world.user("tenderer", org)
    bidder_org = await world.org("bidder", name=f"潜在投标人{secrets.token_hex(3)}")
    bidder = await world.user("bidder", bidder_org)
    bidder_id = await conn.fetchval("SELECT id FROM users WHERE login = $1", bidder)
    deadline = datetime.now(UTC) + timedelta(days=20)
    code = f"DESK-{secrets.token_hex(3)}"
    tender = await conn.fetchval("""
        INSERT INTO tenders (code, title, status, owner_org_id, published_at, documents_from,
                             documents_until, bid_deadline)
        VALUES ($1, '桌面测试项目', 'published', $2, now(), now(), $3, $3) RETURNING id""",
        code, org, deadline)
    await conn.execute("INSERT INTO document_holders (tender_id, organization_id, first_user_id) "
                       "VALUES ($1, $2, $3)", tender, bidder_org, bidder_id)
    await conn.execute("""
        INSERT INTO objections (tender_id, organization_id, user_id, body, answer_due_at)
        VALUES ($1, $2, $3, '招标文件资格条件排斥潜在投标人', now() + interval '3 days')""",
        tender, bidder_org, bidder_id)
    await login(client, staff)
    hub = (await client.get("/workspace")).text
    assert code in hub and 'data-testid="todo-objection"' in hub
    bidder_name = await conn.fetchval("SELECT name FROM organizations WHERE id = $1", bidder_org)
    assert bidder_name not in hub and bidder not in hub


async def test_the_supervisor_sees_phase_hall_and_flags(client: Client, world: World,
                                                        conn: asyncpg.Connection) -> None:
    """Two bidders signing in to one hall from one address raise C1 on that lot, from the
    deadline on; the lot links to its hall and the tender to its audit log."""
    org = await world.org("tenderer")
    code = f"SUP-{secrets.token_hex(3)}"
    deadline = datetime.now(UTC) - timedelta(hours=1)
    tender = await conn.fetchval("""
        INSERT INTO tenders (code, title, status, owner_org_id, published_at, documents_from,
                             documents_until, bid_deadline)
        VALUES ($1, '监督测试项目', 'bidding_closed', $2, $3, $3, $4, $4) RETURNING id""",
        code, org, deadline - timedelta(days=25), deadline)
    lot = await conn.fetchval("INSERT INTO lots (tender_id, number, title, budget) "
                              "VALUES ($1, 1, '一标段', 1000) RETURNING id", tender)
    for _ in range(2):
        bidder_org = await world.org("bidder")
        user = await conn.fetchval("SELECT id FROM users WHERE login = $1",
                                   await world.user("bidder", bidder_org))
        await conn.execute("INSERT INTO hall_signins (lot_id, user_id, organization_id, role, ip) "
                           "VALUES ($1, $2, $3, 'bidder', '10.20.30.40')", lot, user, bidder_org)
    await login(client, await world.user("supervisor"))
    page = (await client.get("/workspace/supervisor")).text
    row = page[page.index(f'data-testid="tender-{code}"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/hall/{lot}"' in row and f"/workspace/supervisor/tenders/{tender}/audit" in row
    assert 'data-testid="flag"' in row and ">C1<" in row and "10.20.30.40" in row
    assert 'data-testid="phase">已截标<' in row


@pytest.mark.parametrize(("subject", "readable"), [
    ("CN=王经办,2.5.4.97=91510100MA6CXXXX1X,O=雅安市交通建设有限公司,C=CN",
     "雅安市交通建设有限公司 · 王经办"),
    ("CN=钱专家", "钱专家"),
    ("C=CN", "C=CN"),
    ("not a name", "not a name"),
])
def test_certificate_subjects_read_as_organization_and_person(subject: str, readable: str) -> None:
    assert readable_subject(subject) == readable


@pytest.mark.parametrize(("role", "path", "zh", "en"), [
    ("supervisor", "/workspace/supervisor", "在办项目", "Live tenders"),
    ("site_operator", "/workspace/operator", "今日开标", "Openings today"),
    ("admin", "/workspace/admin", "工作日历", "Working-day calendar"),
    ("expert", "/workspace/expert", "即将提供", "Coming to this page"),
])
async def test_pages_speak_the_chosen_language(client: Client, world: World, role: str,
                                               path: str, zh: str, en: str) -> None:
    await login(client, await world.user(role))
    assert zh in (await client.get(path)).text
    client.cookies.set("th_lang", "en")
    page = (await client.get(path)).text
    assert en in page and zh not in page
