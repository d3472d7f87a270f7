"""PEP 740 provenance documents, cached: the revalidating cache over the ``provenance_documents`` table.

A document is fetched from the URL an upstream page advertised for a file (never a URL from a client), kept in
memory and in the database (keyed by the sha256 of its URL, so it survives restarts and is shared by processes
and nodes), and revalidated at most every ``PROVENANCE_TTL`` seconds, since PEP 740 lets provenance change. When
upstream fails (an error, a 5xx, or an answer that is not a provenance object), the last good copy is served,
keeping the time upstream last confirmed it (the verifier stops treating it as proof after
``provenance_max_stale``); a 404 is remembered for the same time. Documents are passed through byte for byte.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mirror.adapters.provenance import ProvenanceError, check_document
from mirror.core.errors import ParseError
from mirror.core.lru import LRU
from mirror.services.cache import (
    CachePolicy,
    Fresh,
    Gone,
    KeyGone,
    NotModified,
    Record,
    RecordStore,
    RevalidatingCache,
)
from mirror.services.leases import Leases
from mirror.services.pages import as_answer
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

#: Provenance may change (PEP 740): never trust a copy older than this many seconds.
PROVENANCE_TTL = 600.0
#: After an upstream failure, the stale copy is served without asking again for this long.
RETRY_AFTER = 30.0
#: A last good copy upstream has not confirmed for longer than this proves nothing (``provenance_max_stale``).
MAX_STALE = 24 * 3600.0
#: The media type of the integrity API (Warehouse's).
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"


class ProvenanceSource(Protocol):
    """What the cache needs of the upstream client: one guarded GET of a provenance URL (None on 404)."""

    async def fetch_provenance(self, url: str, etag: str | None = None) -> object | None: ...


@dataclass(frozen=True, slots=True)
class CachedProvenance:
    """A provenance document as cached; ``body`` None means upstream answered 404.

    ``fetched_at`` is when upstream last served or confirmed it; ``stale`` means the latest attempt to
    refresh it failed, and ``error`` says how.
    """

    url: str
    body: bytes | None
    etag: str | None
    fetched_at: float
    stale: bool = False
    retry_at: float = 0.0
    error: str = ""


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


class ProvenanceCache:
    """Provenance documents by URL (see the module docstring)."""

    def __init__(self, upstream: ProvenanceSource, store: RecordStore, ttl: float = PROVENANCE_TTL,
                 retry_after: float = RETRY_AFTER, clock: Callable[[], float] = time.time,
                 capacity: int = 4096, *, leases: Leases | None = None, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._upstream = upstream
        self._clock = clock
        ttl = min(ttl, PROVENANCE_TTL)
        self._urls: LRU[str, str] = LRU(capacity * 2)
        self._cache: RevalidatingCache[bytes] = RevalidatingCache(
            "provenance", self._fetch, store, self._decode,
            CachePolicy(ttl=ttl, retry_after=retry_after, not_found_ttl=ttl, memory=capacity), clock, leases=leases,
            telemetry=telemetry)

    async def close(self) -> None:
        await self._cache.close()

    async def get(self, url: str) -> CachedProvenance:
        """The provenance at ``url`` (a URL from an upstream page, never from a client).

        Raises UpstreamError (or UpstreamTimeout, FetchRefused) when upstream fails and nothing is cached.
        """
        key = _key(url)
        self._urls[key] = url
        try:
            entry = await self._cache.get(key)
        except KeyGone:
            return CachedProvenance(url, None, None, self._clock())
        return CachedProvenance(url, entry.value, entry.etag, entry.fetched_at, entry.stale, entry.retry_at,
                                entry.error)

    async def _fetch(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        url = self._urls.get(key)
        if url is None:  # evicted between get() and the fetch (tiny capacity): nothing to ask for
            return Gone()
        result = await self._upstream.fetch_provenance(url, etag)
        if result is None:
            return Gone()
        answer = as_answer(result)
        if isinstance(answer, Fresh):
            return Fresh(answer.body, INTEGRITY_TYPE, url, answer.etag, None, answer.elapsed)
        return answer

    async def _decode(self, record: Record) -> bytes:
        try:
            check_document(record.body)
        except ProvenanceError as exc:
            raise ParseError(f"upstream sent something that is not provenance: {exc}") from None
        return record.body
