"""Origins as the agent compares them, and where it listens by default."""

from __future__ import annotations

from urllib.parse import urlsplit

# The port a page tries first; a person who starts the agent elsewhere tells the page.
DEFAULT_PORT = 17345


def normalize_origin(value: str) -> str:
    """scheme://host[:port], lower case, the scheme's default port left out."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"not an origin: {value!r}")
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
