"""The tool's retries: network failures and a busy platform are tried again, with the pause
the platform asks for; an answer that says what to fix is returned at once."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tenacity import RetryCallState

from client import platform


def scripted(answers: list[int | Exception], seen: list[str]) -> httpx.AsyncClient:
    queue: Iterator[int | Exception] = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, headers={"retry-after": "7"} if answer == 503 else {})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://platform")


PAUSE = platform._pause


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "_pause", lambda state: 0)


async def test_network_errors_and_busy_answers_are_tried_again() -> None:
    seen: list[str] = []
    async with scripted([httpx.ConnectError("down"), 503, 502, 201], seen) as http:
        r = await platform._retrying(lambda: http.post("/api/x"))
    assert r.status_code == 201 and len(seen) == 4


async def test_an_answer_that_says_what_to_fix_is_not_retried() -> None:
    seen: list[str] = []
    async with scripted([409, 201], seen) as http:
        r = await platform._retrying(lambda: http.post("/api/x"))
    assert r.status_code == 409 and len(seen) == 1


async def test_after_the_last_try_the_last_answer_or_error_comes_back() -> None:
    seen: list[str] = []
    async with scripted([503] * platform.RETRIES, seen) as http:
        r = await platform._retrying(lambda: http.post("/api/x"))
    assert r.status_code == 503 and len(seen) == platform.RETRIES
    seen.clear()
    async with scripted([httpx.ConnectError("down")] * platform.RETRIES, seen) as http:
        with pytest.raises(httpx.ConnectError):
            await platform._retrying(lambda: http.post("/api/x"))
    assert len(seen) == platform.RETRIES


def test_the_pause_doubles_and_honours_retry_after() -> None:
    pause = PAUSE

    def state(attempt: int, retry_after: str | None) -> RetryCallState:
        s = RetryCallState(None, None, (), {})
        s.attempt_number = attempt
        headers = {"retry-after": retry_after} if retry_after else {}
        s.set_result(httpx.Response(503, headers=headers))
        return s

    assert [pause(state(n, None)) for n in (1, 2, 3, 6)] == [0.5, 1.0, 2.0, 10.0]
    assert pause(state(1, "7")) == 7.0
    assert pause(state(1, "3600")) == 60.0
