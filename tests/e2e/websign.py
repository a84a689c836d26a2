"""Helpers for the browser signing tests: run static/sign/ in a page, move bytes in and out."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import subprocess
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

# Loaded once per page; every call gets the modules as `m.soft`, `m.cms`, `m.holder`.
LOAD = """async () => {
  window.__sign = {
    soft: await import('/static/sign/soft.js'),
    cms: await import('/static/sign/cms.js'),
    holder: await import('/static/sign/holder.js'),
  };
  return true;
}"""

# a function of (m, args) run in the page; SignError comes back as {error: code, zh, en}
CALL = """async ([body, args]) => {
  const m = window.__sign;
  const b64 = (s) => m.holder.fromBase64(s);
  const out = (u) => m.holder.toBase64(u);
  const fn = new Function('m', 'args', 'b64', 'out', `return (async () => { ${body} })();`);
  try {
    return await fn(m, args, b64, out);
  } catch (e) {
    return { error: e.code || String(e), zh: e.zh || null, en: e.en || null };
  }
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def load(page: Page) -> None:
    page.evaluate(LOAD)


def call(page: Page, body: str, **args: Any) -> Any:
    return page.evaluate(CALL, [body, args])


def openssl(*args: str, data: bytes | None = None) -> bytes:
    r = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` from a sync test: Playwright's loop runs in this thread, so use another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pick_p12(page: Page, scope: str, p12: bytes, password: str) -> None:
    """Choose a PKCS#12 file and type its password in the picker shown inside ``scope``."""
    box = page.locator(scope)
    box.get_by_test_id("p12-file").set_input_files(
        {"name": "cert.p12", "mimeType": "application/x-pkcs12", "buffer": p12})
    box.get_by_test_id("p12-password").fill(password)
    box.get_by_test_id("picker-use").click()


def password_login(page: Page, login: str, next_: str = "/") -> None:
    page.goto(f"/login?next={quote(next_, safe='')}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    expect(page.get_by_test_id("who")).to_be_visible()


def body_forms(body: bytes, *, decode_below: int = 1 << 20) -> list[bytes]:
    """A request body and, for bodies smaller than ``decode_below``, every base64 string
    inside it, decoded: the forms in which a key could leave a page."""
    out = [body]
    if len(body) < decode_below:
        for text in re.findall(rb"[A-Za-z0-9+/=]{16,}", body):
            with contextlib.suppress(binascii.Error, ValueError):
                out.append(base64.b64decode(text, validate=True))
    return out


def key_forms(key: Any) -> list[bytes]:
    """A private key as PKCS#8 DER and as its bare private number (EC scalar or RSA d)."""
    pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    numbers = key.private_numbers()
    scalar = getattr(numbers, "private_value", None) or numbers.d
    return [pkcs8, scalar.to_bytes((scalar.bit_length() + 7) // 8, "big")]


def sealed_receipt(page: Page) -> str:
    """Wait for the sealing page's receipt; every check on it passed; the bid's id."""
    card = page.get_by_test_id("seal-receipt")
    expect(card).to_be_visible(timeout=180_000)
    rows = card.locator("tr[data-check]")
    expect(rows).to_have_count(9)
    for i in range(rows.count()):
        assert rows.nth(i).get_attribute("data-ok") == "true", rows.nth(i).inner_text()
    bid = card.get_attribute("data-bid")
    assert bid
    return bid
