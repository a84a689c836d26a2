"""The bidder tool's conversation with the platform: upload in parts, resume, finalize.

``submit`` is safe to run again after anything: a state file beside
``bid.p7m`` keeps the idempotency key, so a second run finds the same upload,
sends only the parts the platform has not recorded, and a finalize that
already happened answers with the same bid. Network errors are retried with a
growing pause; answers from the platform (4xx) are not, they say what to fix.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

from bidformat.sealing import CHUNK

STATE_SUFFIX = ".upload.json"
RETRIES = 6


class PlatformError(RuntimeError):
    """The platform refused: its code and its messages."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code", "http_error"))
        self.body = body
        super().__init__(f"{self.code}: {body.get('message', '')} / {body.get('message_en', '')}")


def _raise_for(r: httpx.Response) -> None:
    if r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            body = {"code": f"http_{r.status_code}", "message_en": r.text[:200]}
        raise PlatformError(r.status_code, body)


def body_of(r: httpx.Response) -> Any:
    """The JSON of a successful answer; a PlatformError with the platform's code otherwise."""
    _raise_for(r)
    return r.json()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class UploadState:
    """What a later run needs to resume: kept in ``bid.p7m.upload.json``."""

    path: Path
    tender_id: str
    lot: int
    idempotency_key: str
    sha256: str

    @classmethod
    def load_or_new(cls, p7m: Path, tender_id: str, lot: int) -> UploadState:
        path = p7m.with_name(p7m.name + STATE_SUFFIX)
        digest = sha256_file(p7m)
        if path.exists():
            data = json.loads(path.read_text())
            # a re-sealed bid is a new submission: same file, same key; new file, new key
            if (data.get("tender_id"), data.get("lot"), data.get("sha256")) == (
                    tender_id, lot, digest):
                return cls(path, tender_id, lot, data["idempotency_key"], digest)
        state = cls(path, tender_id, lot, secrets.token_urlsafe(24), digest)
        path.write_text(json.dumps({"tender_id": tender_id, "lot": lot, "sha256": digest,
                                    "idempotency_key": state.idempotency_key}))
        return state


async def _file_part(path: Path, offset: int, length: int,
                     on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            on_bytes(len(chunk))
            yield chunk


RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or the platform busy: worth a retry


def _pause(state: RetryCallState) -> float:
    """Doubling pauses from 0.5 s to 10 s, or what the platform's Retry-After asks for
    (at most a minute), whichever is longer."""
    pause = min(0.5 * 2.0 ** (state.attempt_number - 1), 10.0)
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        answer: httpx.Response = outcome.result()
        asked = answer.headers.get("retry-after", "")
        if asked.isdigit():
            pause = max(pause, min(float(asked), 60.0))
    return pause


async def _retrying(send: Callable[[], Any]) -> httpx.Response:
    """Send, and again after a pause when the network failed or the platform answered
    502/503/504; any other answer is returned at once (a 4xx says what to fix). After the
    last try, the last answer is returned or the last network error raised."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(RETRIES), wait=_pause, reraise=True,
        retry=(retry_if_exception_type((httpx.TransportError, httpx.TimeoutException))
               | retry_if_result(lambda r: r.status_code in RETRY_STATUSES)),
        retry_error_callback=lambda state: state.outcome.result())  # type: ignore[union-attr]

    async def attempt() -> httpx.Response:  # a coroutine function, as tenacity expects
        answer: httpx.Response = await send()
        return answer

    response: httpx.Response = await retrying(attempt)
    return response


async def submit(http: httpx.AsyncClient, *, tender_id: str, lot: int, p7m: Path, p7s: Path,
                 device: dict[str, Any] | None = None, creator: dict[str, Any] | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 part_size: int | None = None) -> dict[str, Any]:
    """Upload (or resume) and finalize; the bid as the platform recorded it."""
    state = await asyncio.to_thread(UploadState.load_or_new, p7m, tender_id, lot)
    size = (await asyncio.to_thread(p7m.stat)).st_size
    r = await _retrying(lambda: http.post(
        f"/api/tenders/{tender_id}/lots/{lot}/bid-uploads",
        json={"size": size, "idempotency_key": state.idempotency_key, "sha256": state.sha256,
              "device": device, "creator": creator}
        | ({"part_size": part_size} if part_size else {})))
    _raise_for(r)
    upload = r.json()
    progress = on_progress or (lambda _done, _total: None)
    signature = await asyncio.to_thread(p7s.read_bytes)
    for _ in range(3):  # the platform may restart the upload once the store failed mid-join
        upload = await _send_parts(http, upload, p7m, size, progress)
        r = await _retrying(partial(
            http.post, f"/api/bid-uploads/{upload['id']}/finalize",
            json={"signature": base64.b64encode(signature).decode()}))
        if r.status_code != 409 or r.json().get("code") != "bid_upload_restarted":
            break
        upload = body_of(await _retrying(partial(http.get, f"/api/bid-uploads/{upload['id']}")))
    _raise_for(r)
    bid: dict[str, Any] = r.json()
    return bid


async def _send_parts(http: httpx.AsyncClient, upload: dict[str, Any], p7m: Path, size: int,
                      progress: Callable[[int, int], None]) -> dict[str, Any]:
    """The parts the platform has not recorded yet, in order; the upload's progress after."""
    done = upload["bytes_done"]
    progress(done, size)
    number = upload["parts_done"] + 1
    while upload["status"] == "open" and number <= upload["parts"]:
        offset = (number - 1) * upload["part_size"]
        length = min(upload["part_size"], size - offset)
        sent = 0

        def count(n: int, base: int = done) -> None:
            nonlocal sent
            sent += n
            progress(base + sent, size)

        sent_part: httpx.Response | None
        try:
            sent_part = await http.put(f"/api/bid-uploads/{upload['id']}/parts/{number}",
                               content=_file_part(p7m, offset, length, count),
                               headers={"content-length": str(length),
                                        "content-type": "application/octet-stream"})
        except (httpx.TransportError, httpx.TimeoutException):
            sent_part = None  # the connection broke mid-part: ask where the platform is
        if sent_part is None or sent_part.status_code in (409, 502, 503, 504):
            await asyncio.sleep(1)
            sent_part = await _retrying(partial(http.get, f"/api/bid-uploads/{upload['id']}"))
        r = sent_part
        _raise_for(r)
        upload = r.json()
        done = upload["bytes_done"]
        progress(done, size)
        number = upload["parts_done"] + 1
    return upload


async def download_receipt(http: httpx.AsyncClient, bid_id: str, folder: Path) -> list[Path]:
    """``receipt.p7s``, ``receipt.tst`` and ``receipt.json`` of a bid, into ``folder``."""
    written = {}
    for name in ("receipt.p7s", "receipt.tst", "receipt.json"):
        r = await http.get(f"/api/bids/{bid_id}/{name}")
        _raise_for(r)
        written[folder / name] = r.content

    def save() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for path, data in written.items():
            path.write_bytes(data)
    await asyncio.to_thread(save)
    return list(written)
