"""Operations endpoints: health of every backing service, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from litestar import Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

log = structlog.get_logger(__name__)
log = structlog.get_logger(__name__)
PROMETHEUS = PrometheusConfig(app_name="tenderhall", prefix="tenderhall", group_path=True,
                              exclude=["/metrics", "/static"])


class MetricsController(PrometheusController):
    path = "/metrics"


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
            await conn.fetchval("SELECT 1")

    results = dict(await asyncio.gather(
        _check("postgresql", db()),
        _check("redis", state.redis.ping()),
        _check("s3", state.store.ping()),
    ))
    ok = all(r["ok"] for r in results.values())
    return Response({"ok": ok, "services": results}, status_code=200 if ok else 503)
