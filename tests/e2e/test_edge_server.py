"""Header limits on a real server process: the head the server buffers is bounded, and the
refusal is the platform's error body; the server goes on serving."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from core.edge import MAX_HEADER_BYTES, MAX_HEADERS
from core.settings import Settings
from tests.e2e import servers


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[servers.Server]:
    server = servers.start(settings)
    yield server
    server.stop()


def raw_request(url: str, head: bytes, chunk: int = 64 * 1024) -> tuple[bytes, int]:
    """Send a request head in chunks, stopping if the server closes; the answer, and how
    many bytes the server took before it did."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=20) as s:
        try:
            for i in range(0, len(head), chunk):
                s.sendall(head[i:i + chunk])
                sent = i + chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the client finished: what a bound is for
        answer = b""
        try:
            while part := s.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
        return answer, sent


def status_and_body(answer: bytes) -> tuple[int, dict[str, object], str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.decode("latin-1").lower()


def request(*headers: str) -> bytes:
    lines = ["GET /healthz HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_too_many_headers_are_refused_with_the_error_body(server: servers.Server) -> None:
    answer, _ = raw_request(server.url,
                            request(*(f"X-H{i}: v" for i in range(MAX_HEADERS + 5))))
    status, body, head = status_and_body(answer)
    assert status == 431 and body["code"] == "headers_too_large"
    assert "x-content-type-options: nosniff" in head


def test_headers_too_large_in_total_are_refused(server: servers.Server) -> None:
    value = "a" * 1000
    answer, _ = raw_request(server.url, request(*(f"X-H{i}: {value}" for i in range(40))))
    status, body, _ = status_and_body(answer)
    assert status == 431 and body["code"] == "headers_too_large"


@pytest.mark.parametrize("size", [200 * 1024, 64 * 1024 * 1024])
def test_a_huge_head_is_cut_off_without_buffering_it(server: servers.Server, size: int) -> None:
    """One header of many megabytes: refused and the connection closed while the client is
    still sending (socket buffers take a few megabytes; the server takes no more)."""
    assert size > 2 * MAX_HEADER_BYTES
    answer, sent = raw_request(server.url, request(f"X-Big: {'a' * size}"))
    if size > 32 * 1024 * 1024:
        assert sent < size / 2, sent
    status, body, head = status_and_body(answer)
    assert status == 431 and body["code"] == "headers_too_large"
    assert "connection: close" in head
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_ordinary_requests_pass(server: servers.Server) -> None:
    answer, _ = raw_request(server.url, request(*(f"X-H{i}: {'b' * 100}" for i in range(50))))
    status, body, _ = status_and_body(answer)
    assert status == 200 and body["ok"] is True
