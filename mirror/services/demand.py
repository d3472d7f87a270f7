"""Counting what clients asked a curated tier for and did not get: the reviewers' queue.

Requests are counted in memory on the hot path (no I/O) and written to the database in batches. Anonymous
clients must not be able to flood the queue, so only names upstream has are counted:

- a name already known to exist upstream (verified before, or vouched for by the caller because its page is
  in hand) is counted at once;
- any other name waits as a *candidate*, and a background resolver asks whether upstream has it (through the
  page cache, so a cached page or a cached 404 costs nothing), at most ``checks_per_second`` names a second,
  ``concurrency`` at a time, the most requested (then most recently requested) first; a name upstream does
  not have is dropped with its counts (and remembered for ``absent_ttl`` seconds), a name it has is counted.

Every table here is bounded: candidates, known and absent names, and the pending counts. Under a flood of
random names the candidates that do not fit are dropped, oldest first: a real name asked for only once in
the middle of such a flood may be lost, one asked for repeatedly is checked first, and so is one asked for
after the flood. The database table is bounded too (``DemandLog``'s ``max_rows``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mirror.core.lru import LRU

log = logging.getLogger("mirror.demand")

Key = tuple[str, str, str]  # (tier, project, version or "")
#: Whether upstream has a project: True, False, or None when it cannot say now (failing, timing out).
Exists = Callable[[str], Awaitable[bool | None]]


class DemandSink(Protocol):
    async def add(self, counts: Mapping[Key, tuple[int, float]]) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of the in-memory tables and of the upstream checks."""

    pending: int = 10_000  # distinct keys counted between two flushes
    candidates: int = 10_000  # names waiting for the upstream check
    keys_per_candidate: int = 32  # distinct (tier, version) keys kept per waiting name
    known: int = 10_000  # names known to exist upstream
    absent: int = 10_000  # names known not to exist upstream
    absent_ttl: float = 3600.0
    checks_per_second: float = 10.0
    concurrency: int = 2


@dataclass(slots=True)
class _Candidate:
    requests: int = 0
    counts: dict[Key, tuple[int, float]] = field(default_factory=dict)


class DemandRecorder:
    """Accumulates (tier, project, version) misses of names upstream has; :meth:`flush` writes and clears them.

    ``exists`` answers whether upstream has a project (see the module docstring); without it every name is
    counted (for callers that check themselves).
    """

    def __init__(self, sink: DemandSink, exists: Exists | None = None, clock: Callable[[], float] = time.time,
                 limits: Limits = Limits()) -> None:
        self._sink = sink
        self._exists = exists
        self._clock = clock
        self._limits = limits
        self._pending: dict[Key, tuple[int, float]] = {}
        self._candidates: OrderedDict[str, _Candidate] = OrderedDict()
        self._checking: dict[str, _Candidate] = {}
        self._known: LRU[str, bool] = LRU(limits.known)
        self._absent: LRU[str, float] = LRU(limits.absent)  # name -> until when
        self._wake = asyncio.Event()
        #: set when counts wait to be written: `mirror demand` shows a request within a second of it
        self._due = asyncio.Event()
        self.dropped = 0  # requests not counted because a table was full (for the log)

    def record(self, tier: str, project: str, version: str | None = None, *, exists: bool = False) -> None:
        """Count one request of ``tier`` for ``project`` (and ``version``) it did not serve; no I/O.

        ``exists``: the caller knows upstream has the project (its page is in hand).
        """
        key = (tier, project, version or "")
        now = self._clock()
        if exists:
            self._known[project] = True
        if self._exists is None or project in self._known:
            self._count(self._pending, key, now, self._limits.pending)
            self._due.set()
            return
        until = self._absent.get(project)
        if until is not None:
            if now < until:
                return
            self._absent.pop(project)
        candidate = self._checking.get(project)
        if candidate is None:
            candidate = self._candidates.get(project)
            if candidate is not None:
                self._candidates.move_to_end(project)  # most recently requested last
            else:
                if len(self._candidates) >= self._limits.candidates:
                    self._candidates.popitem(last=False)  # the longest unrequested name gives way
                    self.dropped += 1
                candidate = self._candidates[project] = _Candidate()
                self._wake.set()
        candidate.requests += 1
        self._count(candidate.counts, key, now, self._limits.keys_per_candidate)

    def _count(self, table: dict[Key, tuple[int, float]], key: Key, now: float, limit: int) -> None:
        count, _ = table.get(key, (0, 0.0))
        if count == 0 and len(table) >= limit:
            self.dropped += 1
            return
        table[key] = (count + 1, now)

    async def flush(self) -> None:
        if self.dropped:
            log.warning("demand queue full: %d request(s) not counted since the last flush", self.dropped)
            self.dropped = 0
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._sink.add(batch)
        except Exception:  # the queue is advisory: never let it break serving
            log.exception("could not record demand for %d entries", len(batch))

    async def run(self, interval: float = 5.0, batch_delay: float = 0.25) -> None:
        """Flush counts ``batch_delay`` seconds after they arrive (a burst is written in one batch; a request
        shows in ``mirror demand`` within a second), at least every ``interval`` seconds, and resolve
        candidates, until cancelled; then flush once more."""
        resolver = asyncio.ensure_future(self._resolve_candidates())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), interval)
                self._due.clear()
                await asyncio.sleep(batch_delay)
                await self.flush()
        finally:
            resolver.cancel()
            await asyncio.gather(resolver, return_exceptions=True)
            await asyncio.shield(self.flush())

    async def _resolve_candidates(self) -> None:
        if self._exists is None:
            return
        slots = asyncio.Semaphore(self._limits.concurrency)
        checks: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self._candidates:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await slots.acquire()
                project = self._most_requested()
                candidate = self._candidates.pop(project)
                self._checking[project] = candidate
                task = asyncio.ensure_future(self._check(project, candidate, slots))
                checks.add(task)
                task.add_done_callback(checks.discard)
                await asyncio.sleep(1.0 / self._limits.checks_per_second)
        finally:
            for task in checks:
                task.cancel()
            await asyncio.gather(*checks, return_exceptions=True)

    def _most_requested(self) -> str:
        """The waiting name with the most requests, the most recently requested of those: a real name asked for
        again and again goes before a flood of names each asked for once, and a name asked for after a flood
        does not wait behind it."""
        best, most = "", 0
        for project, candidate in self._candidates.items():
            if candidate.requests >= most:
                best, most = project, candidate.requests
        return best

    async def _check(self, project: str, candidate: _Candidate, slots: asyncio.Semaphore) -> None:
        assert self._exists is not None
        try:
            try:
                found = await self._exists(project)
            except Exception:  # noqa: BLE001 - advisory: an unexpected failure only loses these counts
                log.exception("demand: checking whether upstream has %s failed", project)
                found = None
        finally:
            self._checking.pop(project, None)
            slots.release()
        if found is True:
            self._known[project] = True
            for key, (count, at) in candidate.counts.items():
                previous, _ = self._pending.get(key, (0, 0.0))
                if previous == 0 and len(self._pending) >= self._limits.pending:
                    self.dropped += count
                    continue
                self._pending[key] = (previous + count, at)
                self._due.set()
        elif found is False:
            self._absent[project] = self._clock() + self._limits.absent_ttl
            log.debug("demand: upstream has no %s; %d request(s) not counted", project, candidate.requests)
