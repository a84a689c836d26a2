"""What every stage of the demo shares: the context (the platform's address, the demo's
settings, one signed-in client per person) and the two reads most stages start with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

from core.settings import Settings
from demo.tenders import TENDER_CODE


@dataclass
class DemoContext:
    settings: Settings
    http: httpx.AsyncClient
    password: str
    orgs: dict[str, UUID] = field(default_factory=dict)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def client_for(self, login: str) -> httpx.AsyncClient:
        if login not in self.clients:
            client = httpx.AsyncClient(base_url=str(self.http.base_url), timeout=30)
            r = await client.post("/api/auth/login", json={"login": login,
                                                           "password": self.password})
            r.raise_for_status()
            self.clients[login] = client
        return self.clients[login]


async def current_tender(ctx: DemoContext) -> dict[str, Any]:
    listing = (await ctx.http.get("/api/tenders/", params={"q": TENDER_CODE})).json()
    r = await ctx.http.get(f"/api/tenders/{listing['items'][0]['id']}")
    r.raise_for_status()
    tender: dict[str, Any] = r.json()
    return tender


async def my_bids(ctx: DemoContext, login: str, tender_id: str) -> list[dict[str, Any]]:
    r = await (await ctx.client_for(login)).get("/api/bids/mine", params={"tender_id": tender_id})
    r.raise_for_status()
    rows: list[dict[str, Any]] = r.json()
    return rows
