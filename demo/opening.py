"""The opening part of the demo (不见面开标): the hall, the bidders' decryption, the officers'
shares, an objection and its answer, the signed record.

The agency's host signs in to each lot's hall and speaks. Each bidder but one
opens its own bid from its office as ``tenderhall bid open`` does: the
content key from its own recipient entry of its local ``bid.p7m``, handed to
the platform. Bidder 6 does not open its lot 1 bid; the demo clock ends the
window early (audited as a demo action) and, by the lot's rule, two of the
three opening officers hand over their shares as ``tenderhall hall share``
does; the worker rebuilds the key in memory and opens that bid. Then bidder 3
objects to lot 1's reading, the host answers, the others confirm, and the
worker issues the signed record, kept under ``var/demo/records``.

Run again on kept data, each step finds its work done and says so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx

from client.hall import content_key
from client.login import load_pkcs12
from demo import clock as demo_clock
from demo.bids import FIRST, REPLACEMENT, bids_dir
from demo.clock import clock_step
from demo.context import current_tender, my_bids
from demo.pki import ca_dir
from demo.tenders import AGENCY_SIGNER, OFFICERS, certs_dir
from signing.shares import unseal_share

ABSENT = ("bidder6", 1)  # does not decrypt its own bid
OBJECTOR = "bidder3"
WAIT_S = 90.0


def records_dir() -> Path:
    return ca_dir().parent / "records"


def _folder(login: str, lot: int) -> Path:
    plans = [p for p in (*FIRST, REPLACEMENT) if p.login == login and p.lot == lot]
    return bids_dir() / login / plans[-1].folder / "sealed"


async def _hall(ctx: Any, lot_id: str) -> dict[str, Any]:
    r = await ctx.http.get(f"/api/lots/{lot_id}/hall")
    r.raise_for_status()
    state: dict[str, Any] = r.json()
    return state


async def _wait(ctx: Any, lot_id: str, ready: Any, what: str) -> dict[str, Any]:
    """Poll the hall until ``ready(state)`` (the worker acts after its commit)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + WAIT_S
    while True:
        state = await _hall(ctx, lot_id)
        if ready(state):
            return state
        if loop.time() > until:
            raise RuntimeError(f"waited {WAIT_S:.0f} s for {what}; is the worker running?")
        await asyncio.sleep(0.5)


async def _host(ctx: Any) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await ctx.client_for(AGENCY_SIGNER)
    return client


async def bidders_open(ctx: Any) -> str:
    tender = await current_tender(ctx)
    host = await _host(ctx)
    opened, kept = 0, 0
    for lot in tender["lots"]:
        r = await host.post(f"/api/lots/{lot['id']}/hall/signin", json={})
        r.raise_for_status()
        if r.json()["count"] == 1 and not (await _hall(ctx, lot["id"]))["messages"]:
            await host.post(f"/api/lots/{lot['id']}/hall/messages", json={
                "text": f"第{lot['number']}标段开标：请各投标人在解密时限内解密本单位投标文件。"})
    logins = sorted({p.login for p in FIRST})
    for login in logins:
        http = await ctx.client_for(login)
        for bid in await my_bids(ctx, login, tender["id"]):
            if bid["status"] != "submitted" or (login, bid["lot_number"]) == ABSENT:
                continue
            enc_key, enc_cert, _ = load_pkcs12(
                (certs_dir() / f"{login}-encryption.p12").read_bytes(), ctx.password.encode())
            key = content_key(_folder(login, bid["lot_number"]) / "bid.p7m", enc_key, enc_cert)
            r = await http.post(f"/api/bids/{bid['id']}/open", json={"content_key": key})
            if r.status_code == 201:
                opened += 1
            elif r.status_code == 200 or r.json().get("code") == "decryption_window_closed":
                kept += 1
            else:
                raise RuntimeError(f"{login} could not open its bid: {r.text}")
    lines = []
    for lot in tender["lots"]:
        state = await _hall(ctx, lot["id"])
        read = [b for b in state["bids"] if b["status"] == "opened"]
        lines.append(f"lot {lot['number']}: {len(read)} of {len(state['bids'])} read")
    return (f"the host signed in to each hall; bidders decrypted {opened} bids from their "
            f"offices{f' ({kept} kept)' if kept else ''}; {ABSENT[0]} did not open its lot "
            f"{ABSENT[1]} bid; " + ", ".join(lines))


async def officers_open(ctx: Any) -> str:
    tender = await current_tender(ctx)
    lot = next(x for x in tender["lots"] if x["number"] == ABSENT[1])
    ended = await clock_step(ctx, tender, demo_clock.end_decryption)
    await clock_step(ctx, tender, demo_clock.catch_up)
    state = await _hall(ctx, lot["id"])
    handed = 0
    if state["phase"] == "officers":
        for login in OFFICERS[:2]:  # k = 2 of 3
            http = await ctx.client_for(login)
            r = await http.get(f"/api/lots/{lot['id']}/shares/mine")
            r.raise_for_status()
            key, cert, _ = load_pkcs12((certs_dir() / f"{login}-encryption.p12").read_bytes(),
                                       ctx.password.encode())
            share = unseal_share(base64.b64decode(r.json()["envelope"]), cert, key)
            r = await http.post(f"/api/lots/{lot['id']}/shares",
                                json={"share": base64.b64encode(share).decode()})
            r.raise_for_status()
            handed += 1
    state = await _wait(ctx, lot["id"], lambda s: s["phase"] in ("read", "closed"),
                        "the officers' job to open the remaining bid")
    by_officers = [b["bidder"] for b in state["bids"]
                   if b["reading"] and b["reading"]["by"] == "officers"]
    return (f"demo clock: the decryption window ended early ({ended} lots; audited as a demo "
            f"action); {handed} of the 3 officers handed over their shares, and the worker "
            f"rebuilt lot {lot['number']}'s key in memory, opened {', '.join(by_officers)}'s "
            f"bid and discarded the key")


async def objection_and_record(ctx: Any) -> str:
    tender = await current_tender(ctx)
    lot = next(x for x in tender["lots"] if x["number"] == 1)
    state = await _hall(ctx, lot["id"])
    if not state["objections"] and state["phase"] == "read":
        objector = await ctx.client_for(OBJECTOR)
        r = await objector.post(f"/api/lots/{lot['id']}/objections", json={
            "text": "第2名投标人的工期与其投标函不一致，请核实。"})
        r.raise_for_status()
        r = await (await _host(ctx)).post(
            f"/api/lots/{lot['id']}/objections/{r.json()['id']}/answer",
            json={"text": "经核对，开标一览表与投标函工期一致（440日历天），异议不成立。"})
        r.raise_for_status()
        for login in ("bidder1", "bidder4", "bidder5"):
            await (await ctx.client_for(login)).post(f"/api/lots/{lot['id']}/opening/confirm")
    r = await ctx.http.get(f"/api/lots/{lot['id']}/hall/events")
    r.raise_for_status()
    answered = max((e["seq"] for e in r.json() if e["kind"] == "objection.answered"), default=0)
    state = await _wait(ctx, lot["id"], lambda s: bool(s["records"]) and answered > 0 and s[
        "records"][-1]["as_of_event"] >= answered, "the record with the objection's answer")
    latest = state["records"][-1]
    r = await ctx.http.get(f"/api/lots/{lot['id']}/opening-records/{latest['version']}")
    r.raise_for_status()
    records_dir().mkdir(parents=True, exist_ok=True)
    path = records_dir() / f"opening-record-lot{lot['number']}-v{latest['version']}.pdf"
    path.write_bytes(r.content)
    assert hashlib.sha256(r.content).hexdigest() == latest["sha256"]
    return (f"{OBJECTOR} objected to lot 1's reading and the host answered on the spot; "
            f"{len(state['confirmations'])} bidders confirmed; the signed opening record "
            f"(issue {latest['version']}, SHA-256 {latest['sha256'][:16]}…) is at {path} "
            f"(check it: pdfsig {path})")



async def where(ctx: Any, url: str) -> list[str]:
    """The opening halls and the kept records, to browse after the demo."""
    tender = await current_tender(ctx)
    lines = ["Opening halls (public; sign in as agency.li to host, supervisor.zhao to "
             "supervise): " + ", ".join(f"lot {lot['number']} {url}/hall/{lot['id']}"
                                          for lot in tender["lots"])]
    lines.append(f"Opening records (signed PDF; check with pdfsig): {records_dir()}")
    return lines
