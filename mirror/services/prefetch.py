"""Fetching ahead of installers: the pages an installer will ask for next.

An installer that just read a release's core metadata (its ``.metadata`` file, or the wheel when upstream has
none) asks next for the pages of the release's dependencies. The prefetcher reads those dependencies from the
metadata the mirror served and, in the background, fetches their pages and decides and renders them for the
tier the client uses, so that by the time the installer asks, the page is warm.

Bounded so it can never amplify traffic by more than a small factor: at most ``per_release`` names per metadata
served (dependencies under an ``extra`` are skipped: the installer asks for them only when it wants the extra),
only names the tier would list and whose page is not already in memory, a name at most once per
``remember`` seconds, at most ``concurrency`` fetches at a time, and a queue of at most ``queue`` names (more are
dropped, never waited for). A prefetch failure is only logged: the installer's own request will say what
happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from mirror.core.errors import MirrorError
from mirror.core.lru import LRU
from mirror.core.metadata import MetadataError, parse_metadata
from mirror.core.models import Format, Tier
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.prefetch")

#: Only the header block of a metadata file matters here; a bigger file is cut to this.
_MAX_METADATA = 512 * 1024


@dataclass(frozen=True, slots=True)
class PrefetchLimits:
    """How much the prefetcher may do (see the module docstring)."""

    per_release: int = 16
    concurrency: int = 4
    queue: int = 256
    remember: float = 300.0


def dependencies(metadata: bytes, limit: int) -> list[str]:
    """The normalized names of the dependencies an installer will look up after reading ``metadata``: every
    ``Requires-Dist`` whose marker does not depend on an extra (the marker is not evaluated otherwise: the
    client's environment is unknown, and a page fetched for nothing costs one request), at most ``limit``."""
    try:
        parsed = parse_metadata(metadata[:_MAX_METADATA])
    except MetadataError:
        return []
    names: dict[str, None] = {}
    for requirement in parsed.requires_dist:
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        names.setdefault(canonicalize_name(requirement.name), None)
        if len(names) >= limit:
            break
    return list(names)


class Prefetcher:
    """Warms the pages installers ask for next (see the module docstring).

    ``listed(tier, name)`` says whether the tier would list a project (no I/O); ``warm(name)`` says whether its
    page is already fresh in memory; ``prepare(tier, name)`` fetches, decides and renders it.
    """

    def __init__(self, listed: Callable[[Tier, str], bool], warm: Callable[[str], bool],
                 prepare: Callable[[Tier, str], Awaitable[object]], limits: PrefetchLimits = PrefetchLimits(),
                 clock: Callable[[], float] = time.monotonic, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._telemetry = telemetry
        self._listed = listed
        self._warm = warm
        self._prepare = prepare
        self.limits = limits
        self._clock = clock
        self._queue: asyncio.Queue[tuple[Tier, str]] = asyncio.Queue(limits.queue)
        self._recent: LRU[tuple[Tier, str], float] = LRU(max(1024, limits.queue * 8))
        self._workers: list[asyncio.Task[None]] = []
        self._reads: set[asyncio.Task[None]] = set()
        #: counters for operators and benchmarks
        self.queued = 0
        self.fetched = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        """Start the workers (in a running event loop)."""
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self.limits.concurrency)]

    async def close(self) -> None:
        """Stop the workers; names still queued are dropped."""
        for task in [*self._workers, *self._reads]:
            task.cancel()
        await asyncio.gather(*self._workers, *self._reads, return_exceptions=True)
        self._workers = []

    def after_read(self, tier: Tier, project: str, read: Callable[[], Awaitable[bytes]]) -> None:
        """As :meth:`after_metadata`, with the metadata still to be read (from the file store) by ``read``:
        in the background, so the client is never kept waiting for it."""
        async def read_and_queue() -> None:
            try:
                data = await read()
            except MirrorError as exc:
                log.debug("prefetch: cannot read the metadata of project=%s: %s", project, exc)
                return
            self.after_metadata(tier, project, data)

        task = asyncio.ensure_future(read_and_queue())
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    def after_metadata(self, tier: Tier, project: str, metadata: bytes) -> int:
        """The client of ``tier`` just got ``project``'s release metadata: queue the pages of its dependencies.
        Returns how many names were queued (no I/O; never raises)."""
        queued = 0
        now = self._clock()
        for name in dependencies(metadata, self.limits.per_release):
            key = (tier, name)
            seen = self._recent.get(key)
            if name == project or (seen is not None and now - seen < self.limits.remember):
                continue
            self._recent[key] = now
            if self._warm(name) or not self._listed(tier, name):
                continue
            try:
                self._queue.put_nowait(key)
            except asyncio.QueueFull:
                self.dropped += 1
                self._telemetry.prefetch("dropped")
                continue
            queued += 1
        self.queued += queued
        self._telemetry.prefetch("queued", queued)
        return queued

    async def _work(self) -> None:
        while True:
            tier, name = await self._queue.get()
            try:
                if not self._warm(name):
                    await self._prepare(tier, name)
                    self.fetched += 1
                    self._telemetry.prefetch("fetched")
            except asyncio.CancelledError:
                raise
            except MirrorError as exc:  # not upstream, upstream down...: the installer's own request will say
                self.failed += 1
                self._telemetry.prefetch("failed")
                log.debug("prefetch failed project=%s: %s", name, exc)
            except Exception:  # a bug must not stop the worker
                self.failed += 1
                self._telemetry.prefetch("failed")
                log.exception("prefetch failed project=%s", name)


PREFETCH_FORMAT = Format.JSON
