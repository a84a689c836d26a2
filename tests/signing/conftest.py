"""Helpers for the signing tests; the PKI fixture (three CAs) lives in tests/conftest.py."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.conftest import PKI, past  # noqa: F401  (re-exported for the signing tests)


def damaged(data: st.DataObject, good: bytes, *, flip: int = 0xFF) -> tuple[str, bytes]:
    """Random bytes, a truncation of ``good``, or ``good`` with one byte flipped."""
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return kind, data.draw(st.binary(max_size=3000))
    if kind == "truncated":
        return kind, good[:data.draw(st.integers(0, len(good) - 1))]
    pos = data.draw(st.integers(0, len(good) - 1))
    return kind, good[:pos] + bytes([good[pos] ^ flip]) + good[pos + 1:]
