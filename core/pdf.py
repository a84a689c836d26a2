"""Official documents as PDF: Jinja templates rendered by weasyprint (the platform's seal on
them is ``signing.seal``'s)."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from core import formats

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]))
    formats.install(env)
    env.filters["local"] = formats.when
    return env


def _render_sync(template: str, context: dict[str, Any]) -> bytes:
    # weasyprint loads pango and the fonts (~0.5 s, tens of MB): only a process that renders
    # a PDF (the worker) pays for it, not every API process and command that imports this
    import weasyprint  # noqa: PLC0415

    html = _env().get_template(template).render(**context)
    data: bytes = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    return data


async def render(template: str, context: dict[str, Any]) -> bytes:
    return await asyncio.to_thread(_render_sync, template, context)


