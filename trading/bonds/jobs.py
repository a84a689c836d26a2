"""Jobs of bid security: delivering the platform's messages to issuers (gateway.py says in
what order, and what a crash or an outage does)."""

from __future__ import annotations

from typing import Any

import asyncpg

from core import jobs
from trading.bonds import gateway


@jobs.job
async def deliver_issuer_message(ctx: dict[str, Any], outbox_id: int) -> None:
    """Post a stored message to its issuer, with no transaction open, then record the answer."""
    pool: asyncpg.Pool = ctx["db_pool"]
    async with pool.acquire() as conn:
        args = await jobs.args_of(conn, outbox_id)
        row = await gateway.out_message(conn, args["message_id"]) if args else None
    answer: dict[str, Any] | None = None
    failure: Exception | None = None
    if row is not None and row["answer_signature"] is None:
        try:
            answer = await gateway.post(row)
        except gateway.DeliveryFailed as exc:
            failure = exc

    async def body(conn: asyncpg.Connection, _: dict[str, Any]) -> None:
        if failure is not None:
            raise failure
        if row is not None and answer is not None:
            await gateway.record_answer(conn, row, answer)
    await jobs.run_once(ctx, outbox_id, body)
