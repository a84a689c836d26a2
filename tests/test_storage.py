"""Object storage on the real S3 server: streaming, presigned URLs, flat memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import httpx
from minio.error import S3Error

from core.settings import Settings
from core.storage import MinioStore
from tests.conftest import ROOT

STREAM_SCRIPT = r"""
import asyncio, hashlib, json, os, sys
from core.settings import Settings
from core.storage import MinioStore

SIZE = int(sys.argv[1])
CHUNK = 1024 * 1024

async def source(digest):
    block = bytearray(os.urandom(CHUNK))
    sent = 0
    while sent < SIZE:
        block[:8] = sent.to_bytes(8, "big")  # every chunk differs
        piece = bytes(block[: min(CHUNK, SIZE - sent)])
        digest.update(piece)
        sent += len(piece)
        yield piece

async def main():
    store = MinioStore(Settings.from_env().storage)
    await store.ensure_buckets()
    sent = hashlib.sha256()
    stored = await store.put_stream("documents", "big/object.bin", source(sent))
    got = hashlib.sha256()
    size = 0
    async for chunk in store.get_stream("documents", "big/object.bin"):
        got.update(chunk)
        size += len(chunk)
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's
    # peak across exec and measure pytest instead.
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"sent": sent.hexdigest(), "stored": stored.sha256, "got": got.hexdigest(),
                      "size": size, "stored_size": stored.size, "peak_mb": peak_kb / 1024}))

asyncio.run(main())
"""


def test_200_mb_streams_both_ways_with_flat_memory(settings: Settings) -> None:
    size = 200 * 1024 * 1024
    env = {**os.environ, "S3_BUCKET_PREFIX": settings.storage.bucket_prefix}
    out = subprocess.run(
        [sys.executable, "-c", STREAM_SCRIPT, str(size)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["size"] == result["stored_size"] == size
    assert result["sent"] == result["stored"] == result["got"]
    print(f"\n200 MB put+get: peak RSS {result['peak_mb']:.0f} MB")
    assert result["peak_mb"] < 150, result


async def test_put_get_stat_and_presigned_urls(settings: Settings) -> None:
    store = MinioStore(settings.storage)
    await store.ensure_buckets()
    data = "招标文件 — tender document".encode() * 1000
    stored = await store.put_bytes("documents", "t/doc.txt", data, "text/plain")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.get_bytes("documents", "t/doc.txt") == data
    info = await store.stat("documents", "t/doc.txt")
    assert info is not None and info["size"] == len(data)
    assert await store.stat("documents", "t/missing") is None

    url = await store.presigned_get("documents", "t/doc.txt", timedelta(minutes=5))
    async with httpx.AsyncClient() as http:
        r = await http.get(url)
        assert r.status_code == 200 and r.content == data
        put_url = await store.presigned_put("documents", "t/uploaded.bin", timedelta(minutes=5))
        r = await http.put(put_url, content=b"uploaded by a bidder tool",
                           headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        # a tampered signature is refused by the server
        r = await http.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
        assert r.status_code == 403
    assert await store.get_bytes("documents", "t/uploaded.bin") == b"uploaded by a bidder tool"


async def test_failed_stream_stores_nothing(settings: Settings) -> None:
    store = MinioStore(settings.storage)
    await store.ensure_buckets()

    async def broken():  # type: ignore[no-untyped-def]
        yield b"x" * (9 * 1024 * 1024)
        raise ConnectionResetError("client went away")

    try:
        await store.put_stream("documents", "t/half.bin", broken())
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the broken stream was accepted")
    assert await store.stat("documents", "t/half.bin") is None


async def test_buckets_with_object_lock(settings: Settings) -> None:
    store = MinioStore(settings.storage)
    await store.ensure_buckets()
    for name in ("archive", "bids"):
        config = store.client.get_object_lock_config(store.bucket(name))
        assert config is not None, name
    assert store.client.bucket_exists(store.bucket("documents"))


async def test_refuses_to_start_on_a_bids_bucket_without_object_lock(settings: Settings) -> None:


    prefix = settings.storage.bucket_prefix + "-nolock"
    store = MinioStore(replace(settings.storage, bucket_prefix=prefix))
    store.client.make_bucket(f"{prefix}-bids")  # created by hand, without object lock
    try:
        await store.ensure_buckets()
    except S3Error as exc:
        assert "ObjectLockConfiguration" in exc.code or "lock" in str(exc).lower()
    else:
        raise AssertionError("started on a bids bucket whose objects can be deleted")
