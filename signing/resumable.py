"""SHA-256 whose running state can be saved and restored: hashing across requests.

A bid arrives in parts over separate HTTP requests, possibly served by
different API processes, and a broken connection resumes at the next part.
The platform needs the SHA-256 of the whole ``bid.p7m`` (the bidder's outer
signature covers it) without reading the object back from storage. Python's
``hashlib`` cannot export its state, so this calls OpenSSL's SHA-256 directly:
its context (``SHA256_CTX``) is plain data, 112 bytes, kept in the database
after each part and loaded for the next one. Speed is OpenSSL's own.
"""

from __future__ import annotations

import ctypes
import hashlib
from functools import cache

from signing.sm2 import _lib

STATE_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (32-bit words)


class StateInvalid(ValueError):
    """Saved state of the wrong size."""


@cache
def _sha() -> ctypes.CDLL:
    lib = _lib()
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    lib.SHA256_Init.argtypes = [vp]
    lib.SHA256_Init.restype = ctypes.c_int
    lib.SHA256_Update.argtypes = [vp, cp, sz]
    lib.SHA256_Update.restype = ctypes.c_int
    lib.SHA256_Final.argtypes = [cp, vp]
    lib.SHA256_Final.restype = ctypes.c_int
    # the layout must be what we think: hash "abc" through a saved-and-restored state
    probe = ctypes.create_string_buffer(STATE_SIZE)
    lib.SHA256_Init(probe)
    lib.SHA256_Update(probe, b"ab", 2)
    again = ctypes.create_string_buffer(probe.raw, STATE_SIZE)
    lib.SHA256_Update(again, b"c", 1)
    out = ctypes.create_string_buffer(32)
    lib.SHA256_Final(out, again)
    if out.raw != hashlib.sha256(b"abc").digest():
        raise OSError("OpenSSL's SHA256_CTX layout is not the one expected")
    return lib


class ResumableSHA256:
    """``update``, ``state()`` to save, ``ResumableSHA256(state)`` to go on, ``digest()``."""

    def __init__(self, state: bytes | None = None) -> None:
        self._lib = _sha()
        if state is None:
            self._ctx = ctypes.create_string_buffer(STATE_SIZE)
            self._lib.SHA256_Init(self._ctx)
        else:
            if len(state) != STATE_SIZE:
                raise StateInvalid(f"state of {len(state)} bytes, expected {STATE_SIZE}")
            self._ctx = ctypes.create_string_buffer(bytes(state), STATE_SIZE)

    def update(self, data: bytes) -> None:
        self._lib.SHA256_Update(self._ctx, data, len(data))

    def state(self) -> bytes:
        return self._ctx.raw

    def digest(self) -> bytes:
        """The digest of everything so far; the running state is left as it was."""
        copy = ctypes.create_string_buffer(self._ctx.raw, STATE_SIZE)
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, copy)
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()
