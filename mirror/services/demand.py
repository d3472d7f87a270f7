"""Counting what clients asked a curated tier for and did not get: the reviewers' queue.

Requests are counted in memory on the hot path (no I/O) and written to the database in batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

log = logging.getLogger("mirror.demand")

Key = tuple[str, str, str]  # (tier, project, version or "")


class DemandSink(Protocol):
    async def add(self, counts: Mapping[Key, tuple[int, float]]) -> None: ...


class DemandRecorder:
    """Accumulates (tier, project, version) misses; :meth:`flush` writes and clears them."""

    def __init__(self, sink: DemandSink, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self._pending: dict[Key, tuple[int, float]] = {}

    def record(self, tier: str, project: str, version: str | None = None) -> None:
        key = (tier, project, version or "")
        count, _ = self._pending.get(key, (0, 0.0))
        self._pending[key] = (count + 1, self._clock())

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._sink.add(batch)
        except Exception:  # the queue is advisory: never let it break serving
            log.exception("could not record demand for %d entries", len(batch))

    async def run(self, interval: float = 5.0) -> None:
        """Flush every ``interval`` seconds until cancelled, then flush once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
