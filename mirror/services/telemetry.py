"""What the services tell operators: a small :class:`Telemetry` interface the services call at the moments that
matter (a cache answer, an upstream round trip, a lease wait...), and a per-request note the access log reads.

The services never import a metrics library: :mod:`mirror.adapters.metrics` implements :class:`Telemetry` with
Prometheus counters; :data:`NO_TELEMETRY` (the default everywhere) does nothing, so unit tests and the reviewer
commands pay nothing. Every label value passed here comes from a small fixed set (never a project name, URL or
client-chosen text), so the number of time series stays bounded whatever clients request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

#: Cache answers (label ``result``): served without asking upstream / fetched because nothing usable was kept /
#: confirmed or replaced by upstream after it expired / served stale because upstream failed (or in the
#: background, stale-while-revalidate).
HIT, MISS, REVALIDATED, STALE = "hit", "miss", "revalidated", "stale"


class Telemetry(Protocol):
    """Receives the events operators count (see docs/deployment.md, "Metrics", for each one's meaning)."""

    def cache_result(self, kind: str, result: str) -> None:
        """A cache (``kind``: page, project-list, provenance, file) answered a request with ``result``."""

    def upstream_latency(self, kind: str, seconds: float) -> None:
        """Upstream answered a ``kind`` request (page, project-list, provenance, file) after ``seconds``."""

    def download_started(self) -> None:
        """This process started fetching a file from upstream."""

    def download_ended(self) -> None:
        """A download this process started ended (stored, failed or cancelled)."""

    def lease_wait(self, kind: str, seconds: float, how: str) -> None:
        """This process waited ``seconds`` for another process or node fetching a ``kind`` key; ``how`` it
        ended: landed, took_over, failed, gone, timeout."""

    def lease_lost(self, kind: str) -> None:
        """A lease this process held expired before it could renew it (another node may fetch the key too)."""

    def coordination_failed(self) -> None:
        """The database could not be used to coordinate a fetch: this process fetched on its own."""

    def prefetch(self, result: str, count: int = 1) -> None:
        """Prefetching: ``count`` names queued, fetched, dropped (queue full) or failed."""

    def policy_loaded(self, version: str) -> None:
        """The policies in force are now ``version``."""

    def policy_reload_failed(self) -> None:
        """A changed policy directory was refused; the last good policy stays in force."""


class NullTelemetry:
    """Counts nothing."""

    def cache_result(self, kind: str, result: str) -> None:
        pass

    def upstream_latency(self, kind: str, seconds: float) -> None:
        pass

    def download_started(self) -> None:
        pass

    def download_ended(self) -> None:
        pass

    def lease_wait(self, kind: str, seconds: float, how: str) -> None:
        pass

    def lease_lost(self, kind: str) -> None:
        pass

    def coordination_failed(self) -> None:
        pass

    def prefetch(self, result: str, count: int = 1) -> None:
        pass

    def policy_loaded(self, version: str) -> None:
        pass

    def policy_reload_failed(self) -> None:
        pass


NO_TELEMETRY: Telemetry = NullTelemetry()


@dataclass(slots=True)
class RequestNote:
    """What the services learned while answering one request, for its access-log line: the cache result of
    what was served (the last one noted: a file is looked up after its project's page)."""

    cache: str = ""
    #: why the request was refused (set by the web layer's error mapping), e.g. "not_in_tier"
    refusal: str = ""


#: The note of the request being handled (set by the web layer's middleware around each request; None outside).
REQUEST_NOTE: ContextVar[RequestNote | None] = ContextVar("mirror_request_note", default=None)


def note_memory_hit(telemetry: Telemetry, kind: str, stale: bool) -> None:
    """A ``kind`` answer served from prepared bytes in memory (the hot path, which asks no cache): counted as a
    hit (stale when so marked) unless the request already noted what its cache did."""
    note = REQUEST_NOTE.get()
    if note is not None and not note.cache:
        result = STALE if stale else HIT
        note.cache = result
        telemetry.cache_result(kind, result)


def note_cache(result: str) -> None:
    """Record ``result`` as the cache result of the request being handled (no-op outside a request). Call it
    where the request itself awaits the answer, never inside a fetch shared with other requests."""
    note = REQUEST_NOTE.get()
    if note is not None:
        note.cache = result
