"""Named points where a test can crash the process on purpose (crash-consistency tests).

``FAULT_POINTS=bid.finalize.recorded=kill`` makes the process SIGKILL itself
when it reaches that point, the way a power cut or the kernel's OOM killer
would stop it: no cleanup, no rollback message, the transaction simply never
commits. ``=pause:SECONDS`` waits there instead. Each point reached is also
recorded as a file in ``FAULT_DIR`` so a test knows it got that far. With the
variable unset (always, in production) a point costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import os
import signal
from functools import cache
from pathlib import Path


@cache
def _points() -> dict[str, str]:
    spec = os.environ.get("FAULT_POINTS", "")
    points = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, action = item.partition("=")
        points[name] = action or "kill"
    return points


async def point(name: str) -> None:
    action = _points().get(name)
    if action is None:
        return
    folder = os.environ.get("FAULT_DIR")
    if folder:
        Path(folder, name).touch()  # noqa: ASYNC240 - test-only, a few bytes
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("pause:"):
        await asyncio.sleep(float(action.removeprefix("pause:")))
