"""Tenderhall: the Litestar application, the worker's jobs and the ``tenderhall`` command.

This is the one place where the application is wired: ``create_app(settings)`` lists the
routes, ``JOBS`` the job functions and schedules the worker runs, and ``cli`` the command
groups of every layer. Nothing registers itself by being imported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from arq import ArqRedis
from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis

from client.agent.command import agent_command, token_group
from client.bid import bid
from client.hall import hall
from client.sign import keys, sign_command
from client.verify import verify_command
from core import commands, formats, i18n, notify, openapi
from core.auth import prepare_password_checks, provide_principal, provide_user
from core.calendar_admin import CalendarController
from core.constraints import install_constraints
from core.csrf import csrf_middleware
from core.db import (
    create_pool,
    provide_transaction,
    transaction_middleware,
)
from core.edge import EdgeMiddleware
from core.http_errors import EXCEPTION_HANDLERS
from core.identity.routes import AuthController, IdentityController, login_form, logout_form
from core.logs import configure_logging, request_id_middleware
from core.notifications import NotificationController
from core.ops import PROMETHEUS, MetricsController, healthz
from core.pages import login_page, set_lang
from core.readcache import ReadCache
from core.settings import Settings
from core.storage import open_store
from core.worker import Jobs, Schedule, run_worker
from demo.commands import demo, demo_pki
from signing import trust, tsa
from signing.commands import ca
from signing.routes import (
    DEV_CA_ROUTES,
    TrustController,
    bind_certificate,
    cert_challenge,
    cert_login,
    certificate_chain,
    timestamp_authority,
)
from trading import chronograph
from trading.bids import errors as bid_errors
from trading.bids import expiry
from trading.bids import jobs as bid_jobs
from trading.bids import pages as bid_pages
from trading.bids import routes as bid_routes
from trading.bids import texts as bid_texts
from trading.bonds import errors as bond_errors
from trading.bonds import jobs as bond_jobs
from trading.bonds import moves as bond_moves
from trading.bonds import routes as bond_routes
from trading.opening import errors as opening_errors
from trading.opening import hall_routes, record_routes
from trading.opening import jobs as opening_jobs
from trading.opening import pages as opening_pages
from trading.opening import routes as opening_routes
from trading.tenders import jobs as tender_jobs
from trading.tenders import orphans
from trading.tenders import pages as tender_pages
from trading.tenders import texts as tender_texts
from trading.tenders.notice_routes import PublicationController
from trading.tenders.queries.tenders import PUBLIC_TENDERS_CHANNEL
from trading.tenders.routes import TenderController
from workspaces import pages as workspace_pages

ROOT = Path(__file__).resolve().parent


async def open_resources(state: State, settings: Settings) -> None:
    """Connect what requests use: the pool, Redis and the object store."""
    state.settings = settings
    state.db_pool = await create_pool(settings.database.url, min_size=settings.database.pool_min,
                                      max_size=settings.database.pool_max)
    # Lazy: the app starts (and reports itself unhealthy) while Redis is down.
    state.redis = ArqRedis.from_url(settings.redis.url, socket_connect_timeout=2)
    state.store = open_store(settings.storage)
    await state.store.ensure_buckets()
    state.tsa = tsa.from_settings(url=settings.tsa_url, cert_file=settings.tsa_cert_file,
                                  key_file=settings.tsa_key_file)
    state.public_tenders = ReadCache(settings.database.url, PUBLIC_TENDERS_CHANNEL,
                                     settings.web.read_cache_entries)
    await state.public_tenders.start()
    await prepare_password_checks()


async def close_resources(state: State) -> None:
    await state.public_tenders.close()
    await state.store.aclose()
    await state.redis.aclose()
    await state.db_pool.close()


def hall_channels(settings: Settings) -> ChannelsPlugin:
    """The opening hall's fan-out: one Redis subscription per lot per process, relayed to
    that process's live clients; a slow client loses its oldest messages, not the server
    its memory (it reads them back from the log)."""
    return ChannelsPlugin(
        backend=RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis.url)),
        arbitrary_channels_allowed=True, subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft")


def signing_routes(settings: Settings) -> list[Any]:
    """The development CA's routes exist only where a development CA is configured."""
    return [*(DEV_CA_ROUTES if settings.dev_ca_dir else []), timestamp_authority,
            certificate_chain, TrustController, bind_certificate, cert_challenge, cert_login]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(json=settings.log_json, level=settings.log_level)
    i18n.install(tender_texts.TEXTS, bid_texts.TEXTS)
    install_constraints(bid_errors.CONSTRAINTS, opening_errors.CONSTRAINTS, bond_errors.CONSTRAINTS)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        await open_resources(app.state, settings)
        try:
            yield
        finally:
            await close_resources(app.state)

    app = Litestar(
        route_handlers=[
            *tender_pages.ROUTES, *bid_pages.ROUTES, *opening_pages.ROUTES, *workspace_pages.ROUTES,
            login_page, set_lang, login_form, logout_form,
            AuthController, IdentityController, TenderController, PublicationController,
            healthz, MetricsController, *signing_routes(settings),
            NotificationController, CalendarController, *bid_routes.ROUTES, *opening_routes.ROUTES,
            *hall_routes.ROUTES, *record_routes.ROUTES, *bond_routes.ROUTES,
            create_static_files_router(path="/static", directories=[ROOT / "static"],
                                       include_in_schema=False),
        ],
        dependencies={
            "conn": Provide(provide_transaction),
            "principal": Provide(provide_principal),
            "user": Provide(provide_user),
            "bid_sections": Provide(lambda: bid_pages.tender_context, use_cache=True,
                                    sync_to_thread=False),
        },
        lifespan=[lifespan],
        plugins=[hall_channels(settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[request_id_middleware, csrf_middleware, PROMETHEUS.middleware,
                    transaction_middleware],
        template_config=TemplateConfig(directory=ROOT / "templates", engine=JinjaTemplateEngine,
                                       engine_callback=lambda e: formats.install(e.engine)),
        openapi_config=OpenAPIConfig(
            title="Tenderhall API", version="0.1.0", path="/schema",
            description="公共资源电子交易与远程异地评标平台 / Public-resource e-trading "
                        "and remote bid-evaluation platform",
            render_plugins=[openapi.VendoredSwagger()],
        ),
        debug=settings.web.debug,
    )
    openapi.install(app)
    # Outermost, around Litestar's own handling: the middleware list above runs only
    # for requests that matched a route, and the edge must also answer for 404s and
    # refuse a request before routing.
    app.asgi_handler = EdgeMiddleware(app.asgi_handler)
    return app


JOBS = Jobs(
    functions=[
        notify.deliver_notification, trust.refresh_crls_job, chronograph.chronograph_job,
        tender_jobs.render_notice_pdf, tender_jobs.opening_postponed,
        bid_jobs.render_bid_receipt_pdf, expiry.abort_bid_upload, expiry.abort_stale_upload,
        opening_jobs.open_by_officers, opening_jobs.issue_opening_record,
        orphans.sweep_orphan_document, bond_jobs.deliver_issuer_message,
        bond_moves.push_guarantee_events,
    ],
    schedules=[
        # CRLs: at start and twice an hour (a development CA's CRL is valid 7 days)
        Schedule(trust.refresh_crls_job, minute=frozenset({5, 35})),
        # due tender transitions: every minute (arq's default second=0)
        Schedule(chronograph.chronograph_job),
        # G5: openings moved, told to the issuers of the tender's guarantees: every minute
        Schedule(bond_moves.push_guarantee_events),
    ],
)


cli = commands.cli


@cli.command()
def worker() -> None:
    """Run the job worker and the outbox relay."""
    settings = commands.settings_or_exit()
    configure_logging(json=settings.log_json, level=settings.log_level)
    asyncio.run(run_worker(settings, JOBS))


for group in (bid, hall, ca, keys, verify_command, sign_command, agent_command, token_group, demo, demo_pki):
    cli.add_command(group)
