"""Upstream's health as the mirror sees it, recorded from the page fetches it makes anyway (never a probe).

:class:`ObservedUpstream` wraps the upstream client the page service uses: every answer (a 404 included: upstream
answered) and every failure is noted in :class:`UpstreamHealth`, which the home page shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mirror.core.errors import ProjectNotFound, UpstreamError, UpstreamTimeout
from mirror.services.lists import ListFetch
from mirror.services.pages import UpstreamPages


@dataclass(slots=True)
class UpstreamHealth:
    """The latest answer and the latest failure of upstream (wall-clock seconds), and failures in a row."""

    last_ok: float | None = None
    last_failure: float | None = None
    last_error: str = ""
    failures_in_a_row: int = 0

    @property
    def state(self) -> str:
        """"ok" (the latest fetch was answered), "failing", or "unknown" (nothing fetched yet)."""
        if self.last_ok is None and self.last_failure is None:
            return "unknown"
        return "failing" if self.failures_in_a_row else "ok"


class ObservedUpstream:
    """An :class:`UpstreamPages` that records each outcome of ``inner``'s fetches in ``health``."""

    def __init__(self, inner: UpstreamPages, health: UpstreamHealth, clock: Callable[[], float] = time.time) -> None:
        self._inner = inner
        self.health = health
        self._clock = clock

    async def fetch_project(self, project: str, etag: str | None = None) -> object:
        try:
            result = await self._inner.fetch_project(project, etag)
        except ProjectNotFound:
            self._answered()
            raise
        except UpstreamError as exc:
            self._failed(exc)
            raise
        self._answered()
        return result

    async def fetch_index(self, etag: str | None = None, sink: ListFetch | None = None) -> object:
        try:
            result = await self._inner.fetch_index(etag, sink)
        except UpstreamError as exc:
            self._failed(exc)
            raise
        self._answered()
        return result

    def _answered(self) -> None:
        self.health.last_ok = self._clock()
        self.health.failures_in_a_row = 0

    def _failed(self, exc: UpstreamError) -> None:
        self.health.last_failure = self._clock()
        self.health.failures_in_a_row += 1
        # What clients may read: the mirror's own words, never another host's URL or status.
        self.health.last_error = exc.public or ("timed out" if isinstance(exc, UpstreamTimeout)
                                                else "no usable answer")
