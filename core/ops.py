"""Operations endpoints: health of every backing service, and Prometheus metrics.

Metrics are for the operator only: ``/metrics`` answers 404 unless ``METRICS_TOKEN``
is set, and then only to ``Authorization: Bearer <token>``. Even so, the routes
that show bidding activity (bid uploads and bids, document downloads that make an
organization a holder, the opening) are not counted at all: a per-route counter
there would let whoever reads the metrics watch submissions arrive before the
deadline (rule T7). Their failures are still logged, with the request id.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

import structlog
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from core import queries as q
from core.errors import NotAuthenticated, NotFound

log = structlog.get_logger(__name__)

# Paths (regular expressions, matched from the start) whose requests are not counted.
UNCOUNTED = [
    "^/metrics", "^/static/",
    # sealed bids: uploads, parts, finalize, receipts, withdrawals, the bidder's pages
    "^/api/bid-uploads", "^/api/bids", "^/bids", "^/api/tenders/[^/]+/lots/",
    "^/api/tenders/[^/]+/bid-counts",
    # obtaining the documents makes an organization a holder; holders are secret (T7)
    "^/api/tenders/[^/]+/documents/", "^/api/tenders/[^/]+/holders",
    # the opening: hall, shares, records, objections
    "^/api/lots/", "^/hall/",
]
PROMETHEUS = PrometheusConfig(app_name="tenderhall", prefix="tenderhall", group_path=True,
                              exclude=UNCOUNTED)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False

    @get(include_in_schema=False)
    async def get(self, request: Request[Any, Any, Any]) -> Response[Any]:  # type: ignore[override]
        token: str = request.app.state.settings.metrics_token
        if not token:
            raise NotFound()
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise NotAuthenticated(message="需要监控令牌", message_en="The metrics token is required")
        return await super().get.fn(self)  # type: ignore[no-any-return]


async def _check(name: str, probe: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe, timeout=3)
    except Exception as exc:  # every failure is a health result
        # the kind of failure only: addresses and messages go to the log, not to
        # anonymous callers
        log.warning("health_check_failed", service=name, error=str(exc)[:300])
        return name, {"ok": False, "error": type(exc).__name__}
    return name, {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@get("/healthz", include_in_schema=True, tags=["operations"])
async def healthz(state: State) -> Response[dict[str, Any]]:
    """200 when PostgreSQL, Redis and S3 all answer; 503 naming the ones that do not."""
    async def db() -> None:
        async with state.db_pool.acquire() as conn:
            await conn.fetchval(q.PING)

    results = dict(await asyncio.gather(
        _check("postgresql", db()),
        _check("redis", state.redis.ping()),
        _check("s3", state.store.ping()),
    ))
    ok = all(r["ok"] for r in results.values())
    return Response({"ok": ok, "services": results}, status_code=200 if ok else 503)
