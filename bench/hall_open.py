"""The opening half of bench/hall.py: the bids sealed and submitted, then read back two ways,
the raw baseline (the minio SDK's get, AES over every byte, SHA-256 against the receipt) and
the platform's ``POST /api/bids/{id}/open``, with the same concurrency.

The raw path works on the stored objects the platform itself wrote (``stored_bids``), so
both read the same bytes from the same place; the platform is given each bidder's own
content key, as the bidder's tool would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bench.common import PART, seal_each
from bidformat import price
from bidformat.sealing import seal_folder
from client import platform as client
from core.settings import Settings
from core.storage import CHUNK, MinioStore
from signing import stream
from signing.envelope import unwrap_from
from tests.conftest import committed
from tests.e2e import bid_world
from tests.trading.bidding import Bidder
from trading.bids.uploads import BUCKET

SUBMIT_AT_ONCE = 20  # bidders uploading at once (not measured)


@dataclass(frozen=True)
class SealedBid:
    live: bid_world.LiveBidder
    p7m: Path
    p7s: Path
    key: bytes  # the content key, from the bidder's own recipient entry


@dataclass(frozen=True)
class Stored:
    bid_id: str
    object_key: str
    size: int
    sha256: bytes
    cipher: str
    key: bytes


def own_key(p7m: Path, bidder: Bidder) -> bytes:
    """What ``tenderhall bid decrypt --key-only`` prints (client/bid.py), unencoded."""
    with p7m.open("rb") as f:
        head = stream._read_head(stream._Reader(f))
    return unwrap_from(list(head.infos), bidder.enc.cert, bidder.enc.key)


def seal_bids(world: bid_world.BidWorld, bidders: list[bid_world.LiveBidder], size: int,
              folder: Path) -> tuple[list[SealedBid], float]:
    """Each bidder's folder (its price sheet, and the one random content file linked in)
    sealed with the tool's ``seal_folder``."""
    def seal(i: int, live: bid_world.LiveBidder, content: Path) -> SealedBid:
        b, source = live.bidder, folder / f"in{i}"
        source.mkdir()
        sheet = price.example(world.tender["code"], 1, b.name, b.credit_code, f"{980000 + i}.00")
        (source / "price.json").write_bytes(price.dump(sheet))
        os.link(content, source / "技术标.bin")  # stored as it is: no deflate time
        done = seal_folder(source, folder / f"b{i}", cert=b.signer.cert, key=b.signer.key,
                           chain=b.signer.chain, encryption_cert=b.enc.cert,
                           opening_cert=world.opening, creator={"tool": "bench/hall.py"})
        shutil.rmtree(source)
        return SealedBid(live, done.p7m, done.p7s, own_key(done.p7m, b))

    return seal_each(bidders, size, folder, seal)


async def submit_all(url: str, world: bid_world.BidWorld, sealed: list[SealedBid]) -> list[str]:
    """Every bid through the API, SUBMIT_AT_ONCE at a time; each file removed once sent."""
    gate = asyncio.Semaphore(SUBMIT_AT_ONCE)

    async def one(bid: SealedBid) -> str:
        async with gate, bid.live.client(url) as http:
            http.timeout = httpx.Timeout(600)
            done = await client.submit(http, tender_id=world.tender["id"], lot=1, p7m=bid.p7m,
                                       p7s=bid.p7s, part_size=PART)
        await asyncio.to_thread(shutil.rmtree, bid.p7m.parent)
        bid_id: str = done["id"]
        return bid_id

    return list(await asyncio.gather(*(one(b) for b in sealed)))


def raw_open(store: MinioStore, stored: list[Stored], at_once: int) -> float:
    """Get each object, run its content cipher over every byte, hash it, check the hash."""
    def one(o: Stored) -> None:
        digest = hashlib.sha256()
        mode = modes.GCM(bytes(12)) if "gcm" in o.cipher else modes.CBC(bytes(16))
        decryptor = Cipher(algorithms.AES(o.key), mode).decryptor()
        response = store.client.get_object(store.bucket(BUCKET), o.object_key)
        try:
            for chunk in response.stream(CHUNK):
                digest.update(chunk)
                decryptor.update(chunk)
        finally:
            response.close()
            response.release_conn()
        if digest.digest() != o.sha256:
            raise RuntimeError(f"{o.object_key}: SHA-256 differs from the receipt's")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        for done in [pool.submit(one, o) for o in stored]:
            done.result()
    return time.perf_counter() - started


async def platform_open(url: str, sealed: list[SealedBid], stored: list[Stored], at_once: int,
                        took: list[float]) -> float:
    """``POST /api/bids/{id}/open`` with each bidder's own key, ``at_once`` at a time, from one
    HTTP client (a client each would cost this process 55 ms of CPU apiece, for its TLS
    context, beside the API on the same cores)."""
    gate = asyncio.Semaphore(at_once)

    async def one(http: httpx.AsyncClient, bid: SealedBid, o: Stored) -> None:
        async with gate:
            started = time.perf_counter()
            r = await http.post(f"/api/bids/{o.bid_id}/open",
                                json={"content_key": base64.b64encode(o.key).decode()},
                                headers={"authorization": f"Bearer {bid.live.api_key}"})
            took.append(time.perf_counter() - started)
            if r.status_code != 201:
                raise RuntimeError(f"open {o.bid_id}: {r.status_code} {r.text[:300]}")

    async with httpx.AsyncClient(base_url=url, timeout=900, trust_env=False,
                                 limits=httpx.Limits(max_connections=at_once + 5)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http, b, o) for b, o in zip(sealed, stored, strict=True)))
        return time.perf_counter() - started


async def stored_bids(settings: Settings, tender_id: str, sealed: list[SealedBid],
                      ids: list[str]) -> list[Stored]:
    conn = await committed(settings.database.url)
    try:
        rows = {str(r["id"]): r for r in await conn.fetch(
            "SELECT id, object_key, size, p7m_sha256, content_cipher FROM bids "
            "WHERE tender_id = $1 AND status = 'submitted'", tender_id)}
    finally:
        await conn.close()
    return [Stored(i, rows[i]["object_key"], rows[i]["size"], bytes(rows[i]["p7m_sha256"]),
                   rows[i]["content_cipher"], b.key) for i, b in zip(ids, sealed, strict=True)]


async def check_read(settings: Settings, lot_id: str) -> str:
    """The lot after the opening: its status and how many bids it read."""
    conn = await committed(settings.database.url)
    try:
        row = await conn.fetchrow(
            "SELECT o.status, (SELECT count(*) FROM bid_openings x WHERE x.lot_id = o.lot_id) n "
            "FROM lot_openings o WHERE o.lot_id = $1", lot_id)
    finally:
        await conn.close()
    return "no opening" if row is None else f"{row['status']}, {row['n']} bids read"

