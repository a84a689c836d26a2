"""Names of a bid's states, in Chinese and English, for the pages and the receipt PDF."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "bid.submitted": ("有效（已递交）", "Submitted (current)"),
    "bid.superseded": ("已被替换", "Superseded"),
    "bid.withdrawn": ("已撤回", "Withdrawn"),
}

