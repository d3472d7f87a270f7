"""PEP 740 provenance: fetched from upstream and cached, and re-verified in the background.

:class:`ProvenanceCache` fetches the provenance object at the URL an upstream page advertised for a
file, keeps it in memory and in the database (``pages`` table, key ``provenance:<sha256 of the URL>``,
so it survives restarts and is shared by worker processes), and refreshes it at most every
``PROVENANCE_TTL`` seconds, since PEP 740 lets provenance change. When upstream fails, the last good
copy is served (stale-if-error); a 404 is remembered for the same time. Only documents that look like
a provenance object are cached; they are passed through byte for byte.

:class:`ProvenanceChecker` is a background task: at most every ``PROVENANCE_TTL`` seconds (and soon
after a policy change) it verifies, offline and in a worker thread, the current upstream provenance of
every vetted file of every project whose policy requires provenance, against the pinned publishers,
and keeps the result per sha256 in :attr:`ProvenanceChecker.statuses`, which the ``vetted`` tier
consults (see :func:`mirror.core.policy.evaluate.decide_provenance`). Verification never runs on a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mirror.adapters.db.pages import PageRecord, PageStore
from mirror.adapters.provenance import (
    ProvenanceError,
    check_document,
    claimed_publishers,
    verify,
)
from mirror.adapters.upstream import NotModified, UpstreamClient
from mirror.core.errors import ProjectNotFound, UpstreamError
from mirror.core.lru import LRU
from mirror.core.models import DistFile
from mirror.core.policy.model import ProjectPolicy, ProvenanceStatus, TrustedPublisher
from mirror.services.pages import PageCache
from mirror.services.policies import PolicyStore

log = logging.getLogger("mirror.services.provenance")

#: Provenance may change (PEP 740): never trust a copy older than this many seconds.
PROVENANCE_TTL = 600.0
#: After an upstream failure, the stale copy is served without asking again for this long.
RETRY_AFTER = 30.0
#: The media type of the integrity API (Warehouse's).
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"


@dataclass(frozen=True, slots=True)
class CachedProvenance:
    """A provenance document as cached; ``body`` None means upstream answered 404."""

    url: str
    body: bytes | None
    etag: str | None
    fetched_at: float
    stale: bool = False
    retry_at: float = 0.0


def _key(url: str) -> str:
    return "provenance:" + hashlib.sha256(url.encode()).hexdigest()


class ProvenanceCache:
    """Provenance documents by URL (see the module docstring)."""

    def __init__(self, upstream: UpstreamClient, store: PageStore, ttl: float = PROVENANCE_TTL,
                 retry_after: float = RETRY_AFTER, clock: Callable[[], float] = time.time,
                 capacity: int = 4096) -> None:
        self._upstream = upstream
        self._store = store
        self._ttl = min(ttl, PROVENANCE_TTL)
        self._retry_after = retry_after
        self._clock = clock
        self._memory: LRU[str, CachedProvenance] = LRU(capacity)
        self._inflight: dict[str, asyncio.Task[CachedProvenance]] = {}

    async def get(self, url: str) -> CachedProvenance:
        """The provenance at ``url`` (a URL from an upstream page, never from a client).

        Raises UpstreamError (or UpstreamTimeout) when upstream fails and nothing is cached.
        """
        page = self._memory.get(url)
        if page is not None and self._clock() - page.fetched_at < self._ttl:
            return page
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.ensure_future(self._refresh(url))
            self._inflight[url] = task
            task.add_done_callback(lambda _t: self._inflight.pop(url, None))
        return await asyncio.shield(task)

    async def _refresh(self, url: str) -> CachedProvenance:
        now = self._clock()
        key = _key(url)
        current = self._memory.get(url)
        if current is None:
            record = await self._store.load(key)
            if record is not None and record.page_url == url:
                current = CachedProvenance(url, record.body, record.etag, record.fetched_at)
                if now - current.fetched_at < self._ttl:
                    self._memory[url] = current
                    return current
        if current is not None and current.stale and now < current.retry_at:
            return current
        try:
            result = await self._upstream.fetch_provenance(url, current.etag if current and current.body else None)
            if result is None:
                page = CachedProvenance(url, None, None, self._clock())
                await self._store.delete(key)
                log.info("upstream 404 provenance=%s", url)
            elif isinstance(result, NotModified):
                assert current is not None
                page = replace(current, fetched_at=self._clock(), stale=False, retry_at=0.0)
                await self._store.touch(key, page.fetched_at)
            else:
                try:
                    check_document(result.body)
                except ProvenanceError as exc:
                    raise UpstreamError(url, f"upstream sent something that is not provenance: {exc}") from None
                page = CachedProvenance(url, result.body, result.etag, self._clock())
                await self._store.save(PageRecord(
                    key=key, body=result.body, content_type=INTEGRITY_TYPE, page_url=url, etag=result.etag,
                    serial=None, revision=hashlib.sha256(result.body).hexdigest(), fetched_at=page.fetched_at))
                log.info("upstream 200 provenance=%s bytes=%d", url, len(result.body))
        except UpstreamError as exc:
            if current is None:
                log.warning("provenance fetch failed, nothing cached url=%s error=%s", url, exc)
                raise
            page = replace(current, stale=True, retry_at=self._clock() + self._retry_after)
            log.warning("serving stale provenance url=%s error=%s", url, exc)
        self._memory[url] = page
        return page


def _same(a: ProvenanceStatus | None, b: ProvenanceStatus) -> bool:
    return a is not None and replace(a, checked_at=None) == replace(b, checked_at=None)


class ProvenanceChecker:
    """Background re-verification of vetted files' provenance (see the module docstring)."""

    def __init__(self, pages: PageCache, cache: ProvenanceCache, policies: PolicyStore,
                 on_change: Callable[[str], None], interval: float = PROVENANCE_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        self._pages = pages
        self._cache = cache
        self._policies = policies
        #: called with a project's name when the status of one of its files changed
        self.on_change = on_change
        self._interval = min(interval, PROVENANCE_TTL)
        self._clock = clock
        #: file sha256 → latest verification of upstream's current provenance for it
        self.statuses: dict[str, ProvenanceStatus] = {}
        # (file sha256, document sha256, pins) → status: an unchanged document is not verified again
        self._memo: dict[tuple[str, str, tuple[str, ...]], ProvenanceStatus] = {}
        self._lock = asyncio.Lock()
        self.checks = 0  # completed runs, for tests and logs

    async def run(self, poll: float = 1.0) -> None:
        """Check now, then again every ``interval`` seconds or soon after the policies change; until cancelled."""
        checked_generation = -1
        last = 0.0
        while True:
            generation = self._policies.generation
            if generation != checked_generation or self._clock() - last >= self._interval:
                try:
                    await self.check_all()
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep checking whatever happens; statuses stay as they were
                    log.exception("provenance check failed")
                checked_generation, last = generation, self._clock()
            await asyncio.sleep(poll)

    async def check_all(self) -> dict[str, ProvenanceStatus]:
        """Verify the provenance of every vetted file of every project that requires provenance."""
        async with self._lock:
            policies = self._policies.current
            wanted = [p for p in policies.projects.values()
                      if p.provenance is not None and p.provenance.require and p.vettings]
            for policy in wanted:
                await self._check_project(policy)
            self.checks += 1
            return dict(self.statuses)

    async def _check_project(self, policy: ProjectPolicy) -> None:
        assert policy.provenance is not None
        try:
            detail = (await self._pages.project(policy.name)).model
        except (UpstreamError, ProjectNotFound) as exc:
            log.info("provenance check skipped project=%s: %s", policy.name, exc)
            return
        pins = policy.provenance.publishers
        changed = False
        for vetting in policy.vettings.values():
            for filename, sha256 in vetting.files.items():
                f = detail.file_named(filename)
                if f is None or f.sha256 != sha256:
                    continue  # gone or different bytes: the hash pin already keeps it out
                status = await self._check_file(f, sha256, pins)
                if status is None:
                    continue
                if not _same(self.statuses.get(sha256), status):
                    changed = True
                    log.log(logging.INFO if status.ok else logging.WARNING,
                            "provenance %s project=%s file=%s: %s", "verified" if status.ok else "FAILS",
                            policy.name, filename, status.verified or status.problem)
                self.statuses[sha256] = status
        if changed:
            self.on_change(policy.name)

    async def _check_file(self, f: DistFile, sha256: str, pins: tuple[TrustedPublisher, ...]
                          ) -> ProvenanceStatus | None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        identities = tuple(p.identity for p in pins)
        if not f.provenance:
            return ProvenanceStatus(None, "upstream no longer advertises provenance for this file",
                                    checked_at=now, pinned=identities)
        try:
            cached = await self._cache.get(f.provenance)
        except UpstreamError as exc:
            log.info("provenance not checked file=%s: %s", f.filename, exc)
            return None  # unknown: keep the previous status
        if cached.body is None:
            return ProvenanceStatus(None, "upstream's provenance for this file is gone (404)",
                                    checked_at=now, pinned=identities)
        memo_key = (sha256, hashlib.sha256(cached.body).hexdigest(), identities)
        known = self._memo.get(memo_key)
        if known is not None:
            return replace(known, checked_at=now)
        body = cached.body
        claimed = tuple(claimed_publishers(body))
        try:
            verified = await asyncio.to_thread(verify, body, f.filename, sha256, pins)
            status = ProvenanceStatus(verified, "", claimed, now, identities)
        except ProvenanceError as exc:
            status = ProvenanceStatus(None, exc.reason, claimed, now, identities)
        if len(self._memo) > 10000:
            self._memo.clear()
        self._memo[memo_key] = status
        return status
