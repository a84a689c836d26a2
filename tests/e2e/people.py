"""What every page must do for people, as one reusable check for the browser tests.

``check_page(context, url, name)`` opens ``url`` in a new page of ``context`` (so with that
context's person signed in, or nobody) at 1280 px and at 390 px (a phone), and at each:

- the page does not scroll sideways (``document.scrollingElement.scrollWidth`` is at most the
  viewport's width): wide tables and code scroll within themselves;
- axe-core (tests/e2e/vendor, pinned in scripts/vendor.sh) finds no serious or critical
  violation of WCAG 2.1 A/AA and best practice;
- a full-page screenshot is kept as ``var/screenshots/{name}-{width}.png``: look at them.

At 390 px it also checks that the navigation is collapsed behind a menu button that the
keyboard opens (Enter) and closes (Escape), with ``aria-expanded`` saying which.

A page added later is checked with one line in its own test::

    from tests.e2e.people import check_page
    check_page(bidder_context, f"/hall/{lot_id}", "hall-bidder")

``wait_for`` (a selector) waits for something a live page fills in after load; ``status``
is the answer expected (an error page is checked like any other);
``ignore`` lists axe rule ids to leave out, each with a reason in the calling test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import SHOTS

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
BLOCKING = ("serious", "critical")
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}, "resultTypes": ["violations"]}


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


@dataclass
class PageReport:
    name: str
    width: int
    scroll_width: int
    violations: list[dict[str, Any]] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if v["impact"] in BLOCKING]


def axe_violations(page: Page, ignore: Iterable[str] = ()) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now: id, impact, help and the offending
    elements. Evaluated through the browser's debugging protocol, which the page's
    Content-Security-Policy (scripts from the platform's origin only) does not apply to."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    options = dict(AXE_OPTIONS)
    skipped = list(ignore)
    if skipped:
        options["rules"] = {rule: {"enabled": False} for rule in skipped}
    result = page.evaluate("async (options) => await window.axe.run(document, options)", options)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5],
             "summary": [n.get("failureSummary", "") for n in v["nodes"]][:2]}
            for v in result["violations"]]


def scroll_width(page: Page) -> int:
    width: int = page.evaluate("() => document.scrollingElement.scrollWidth")
    return width


def check_menu(page: Page) -> None:
    """At phone width: the links are behind the menu button, which Enter opens and Escape
    closes, saying so in aria-expanded."""
    button = page.get_by_test_id("menu-button")
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#site-nav")).to_be_hidden()
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#site-nav")).to_be_visible()
    expect(page.locator("#site-nav a").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#site-nav")).to_be_hidden()
    expect(button).to_be_focused()


def check_page(context: BrowserContext, url: str, name: str, *, wait_for: str | None = None,
               ignore: Iterable[str] = (), widths: Iterable[int] = WIDTHS,
               menu: bool = True, status: int = 200) -> list[PageReport]:
    """Open ``url`` at each width in a new page of ``context``; assert no sideways scroll of
    the page and no serious or critical axe violation; keep a screenshot of each. Returns
    what was measured, for the caller to report or check further."""
    reports = []
    ignored = list(ignore)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in widths:
        page = context.new_page()
        try:
            page.set_viewport_size({"width": width, "height": 900})
            response = page.goto(url)
            assert response is not None and response.status == status, \
                f"{url}: {response and response.status}"
            # "load", not "networkidle": a live page keeps its event stream open
            page.wait_for_load_state("load")
            page.evaluate("() => document.fonts.ready.then(() => true)")
            if wait_for:
                page.wait_for_selector(wait_for)
            report = PageReport(name, width, scroll_width(page), axe_violations(page, ignored))
            report.screenshot = SHOTS / f"{name}-{width}.png"
            page.screenshot(path=str(report.screenshot), full_page=True)
            assert report.scroll_width <= width, \
                f"{name} at {width} px is {report.scroll_width} px wide: {_widest(page, width)}"
            assert not report.blocking, f"{name} at {width} px: {report.blocking}"
            if width < 720 and menu:
                check_menu(page)
            reports.append(report)
        finally:
            page.close()
    return reports


def _widest(page: Page, width: int) -> list[str]:
    """The elements reaching past the viewport, to say what to fix."""
    found: list[str] = page.evaluate("""(width) => Array.from(document.querySelectorAll('body *'))
        .filter((el) => el.getBoundingClientRect().right > width + 1)
        .slice(0, 8).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
            + ' ' + Math.round(el.getBoundingClientRect().right))""", width)
    return found
