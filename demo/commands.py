"""``tenderhall demo`` and ``tenderhall demo-pki``: the demo from the command line."""

from __future__ import annotations

import asyncio

import click

from core.commands import settings_or_exit
from demo import pki


@click.command("demo-pki")
@click.option("--crl-base", default="http://127.0.0.1:8000/ca", show_default=True)
def demo_pki(crl_base: str) -> None:
    """Create the demo's three CAs and timestamp certificate (before the platform starts)."""
    made = pki.prepare(crl_base)
    click.echo(f"demo PKI in {pki.ca_dir()}: "
               + (", ".join(made) + " created" if made else "kept"))


@click.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="The running platform the life cycle is driven through.")
def demo(url: str) -> None:
    """Seed the demo data set and run the scripted tender life cycle."""
    # The life cycle brings weasyprint (pango and the fonts) and the demo's data along: every
    # `tenderhall` command and every server process imports this module through app.py, and
    # only this command should pay for them (core/pdf.py keeps weasyprint lazy for that too)
    from demo.run import run_demo  # noqa: PLC0415

    asyncio.run(run_demo(settings_or_exit(), url))
