"""The HTTP protocol the server runs: uvicorn's httptools protocol with a bound on the head.

httptools (llhttp) buffers a request's line and headers without limit before the
application sees any of it, so one client could make the process hold megabytes per
connection. Here a request whose head is still incomplete after ``MAX_HEAD_BYTES``
is answered 431 with the platform's error body and the connection is closed. The
count and total size of the headers that do arrive are checked again, exactly, by
``core.edge``. Used by ``tenderhall serve`` and by the test servers
(``--http core.server:BoundedHttpToolsProtocol``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.edge import HEADERS_TOO_LARGE, MAX_HEADER_BYTES, SECURITY_HEADERS

# The request line and the headers with their separators: room for MAX_HEADER_BYTES of
# names and values, a long URL and the framing of a hundred lines.
MAX_HEAD_BYTES = 2 * MAX_HEADER_BYTES

_BODY = msgspec.json.encode(HEADERS_TOO_LARGE)
REFUSAL = b"".join([
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    b"content-type: application/json\r\n",
    b"content-length: ", str(len(_BODY)).encode(), b"\r\n",
    b"connection: close\r\n",
    *(name + b": " + value + b"\r\n" for name, value in SECURITY_HEADERS),
    b"\r\n", _BODY,
])


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # still no end of the head after this many bytes: the head itself is too large
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self.logger.info("request head over %d bytes refused", MAX_HEAD_BYTES)
            self.transport.write(REFUSAL)
            self.transport.close()
