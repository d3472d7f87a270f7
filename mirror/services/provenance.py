"""PEP 740 provenance: fetched from upstream and cached, and re-verified in the background.

:class:`ProvenanceCache` fetches the provenance object at the URL an upstream page advertised for a
file, keeps it in memory and in the database (``pages`` table, key ``provenance:<sha256 of the URL>``,
so it survives restarts and is shared by worker processes), and refreshes it at most every
``PROVENANCE_TTL`` seconds, since PEP 740 lets provenance change. When upstream fails (an error, a 5xx,
or an answer that is not a provenance object), the last good copy is served (stale-if-error), keeping
the time upstream last confirmed it; a 404 is remembered for the same time. Only documents that look
like a provenance object are cached; they are passed through byte for byte.

:class:`ProvenanceVerifier` judges upstream's current provenance of one file: fetched through the cache,
no proof at all when the last good copy is older than ``[upstream] provenance_max_stale`` (upstream has
not confirmed it for that long), else verified offline in a worker thread against the pinned publishers.
Any exception while verifying is a failed verification. ``mirror explain``/``check`` use it too.

:class:`ProvenanceChecker` is a background task: at most every ``PROVENANCE_TTL`` seconds (and soon
after a policy change) it verifies the current upstream provenance of every vetted file of every project
whose policy requires provenance, each project in its own guard (a failure, logged and counted, withholds
that project's files and never stops the check of the others), and keeps the result per sha256 in
:attr:`ProvenanceChecker.statuses`, which the ``vetted`` tier consults (see
:func:`mirror.core.policy.evaluate.decide_provenance`). Verification never runs on a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mirror.adapters import trust_root
from mirror.adapters.db.pages import PageRecord, PageStore
from mirror.adapters.provenance import (
    ProvenanceError,
    Verdict,
    VerificationFailed,
    check_document,
    examine,
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
#: A last good copy upstream has not confirmed for longer than this proves nothing (``provenance_max_stale``).
MAX_STALE = 24 * 3600.0
#: The media type of the integrity API (Warehouse's).
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"


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
            page = replace(current, stale=True, retry_at=self._clock() + self._retry_after, error=str(exc))
            log.warning("serving stale provenance url=%s error=%s", url, exc)
        self._memory[url] = page
        return page


def _same(a: ProvenanceStatus | None, b: ProvenanceStatus) -> bool:
    return a is not None and replace(a, checked_at=None) == replace(b, checked_at=None)


def _at(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M} UTC"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


class ProvenanceVerifier:
    """Upstream's current provenance of one file, judged (see the module docstring).

    ``errors`` counts verifications that ended in an exception (each one a failed verification).
    """

    def __init__(self, cache: ProvenanceCache, max_stale: float = MAX_STALE,
                 clock: Callable[[], float] = time.time) -> None:
        self._cache = cache
        self.max_stale = max_stale
        self._clock = clock
        # (file sha256, document sha256, pins) → verdict: an unchanged document is not verified again
        self._memo: LRU[tuple[str, str, tuple[str, ...]], Verdict] = LRU(10000)
        self.errors = 0
        self.last_error = ""

    async def status(self, f: DistFile, sha256: str, pins: tuple[TrustedPublisher, ...]) -> ProvenanceStatus:
        """The provenance upstream serves now for ``f`` (whose pinned sha256 is ``sha256``), checked against
        ``pins``. Never raises but CancelledError: whatever goes wrong is a status that does not verify."""
        now = self._clock()
        identities = tuple(p.identity for p in pins)

        def failed(problem: str) -> ProvenanceStatus:
            return ProvenanceStatus(None, problem, (), datetime.fromtimestamp(now, UTC), identities)

        if not f.provenance:
            return failed("upstream no longer advertises provenance for this file")
        try:
            cached = await self._cache.get(f.provenance)
        except UpstreamError as exc:
            return failed(f"upstream's provenance for this file cannot be fetched ({exc}) and the mirror has no "
                          "copy of it")
        if cached.body is None:
            return failed("upstream's provenance for this file is gone (404)")
        age = self._clock() - cached.fetched_at
        if age > self.max_stale:
            why = f" (now: {cached.error})" if cached.error else ""
            return failed(f"upstream has not served this file's provenance since {_at(cached.fetched_at)}{why}; "
                          f"a copy older than provenance_max_stale ({_hours(self.max_stale)}) is not proof")
        verdict = await self._verdict(cached.body, f.filename, sha256, pins)
        at = datetime.fromtimestamp(now, UTC)
        if verdict.ok:
            return ProvenanceStatus(verdict.signers[0], "", verdict.claimed, at, identities)
        assert verdict.error is not None
        return ProvenanceStatus(None, verdict.error.reason, verdict.claimed, at, identities,
                                signed_by=verdict.signed_by[0] if verdict.signed_by else None)

    async def _verdict(self, body: bytes, filename: str, sha256: str, pins: tuple[TrustedPublisher, ...]) -> Verdict:
        key = (sha256, hashlib.sha256(body).hexdigest(), tuple(p.identity for p in pins))
        known = self._memo.get(key)
        if known is not None:
            return known
        verdict = await asyncio.to_thread(examine, body, filename, sha256, pins)
        if isinstance(verdict.error, VerificationFailed):
            self.errors += 1
            self.last_error = f"{filename}: {verdict.error.reason}"
            log.error("provenance verification error file=%s: %s", filename, verdict.error.reason)
        else:  # an error may be transient (or the trust root repaired): verify again next time
            self._memo[key] = verdict
        return verdict


class ProvenanceChecker:
    """Background re-verification of vetted files' provenance (see the module docstring)."""

    def __init__(self, pages: PageCache, cache: ProvenanceCache, policies: PolicyStore,
                 on_change: Callable[[str], None], interval: float = PROVENANCE_TTL,
                 clock: Callable[[], float] = time.time, max_stale: float = MAX_STALE) -> None:
        self._pages = pages
        self._policies = policies
        #: called with a project's name when the status of one of its files changed
        self.on_change = on_change
        self._interval = min(interval, PROVENANCE_TTL)
        self._clock = clock
        self.verifier = ProvenanceVerifier(cache, max_stale, clock)
        #: file sha256 → latest verification of upstream's current provenance for it
        self.statuses: dict[str, ProvenanceStatus] = {}
        self._lock = asyncio.Lock()
        self.checks = 0  # completed runs, for tests and logs
        self.project_errors = 0  # project checks that ended in an exception (their files withheld)
        self.last_check: float | None = None

    @property
    def errors(self) -> int:
        """Every check that ended in an exception: verifications and whole project checks."""
        return self.verifier.errors + self.project_errors

    def health(self) -> dict[str, object]:
        """For ``/healthz``: the pinned trust root, the check runs, errors and files that do not verify."""
        failing = sorted(s for s, status in self.statuses.items() if not status.ok)
        return {
            "trust_root": trust_root.status(),
            "checks": self.checks,
            "last_check": _at(self.last_check) if self.last_check is not None else None,
            "errors": self.errors,
            "last_error": self.verifier.last_error or None,
            "failing_files": len(failing),
            "max_stale_seconds": self.verifier.max_stale,
        }

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
                except Exception:  # keep checking whatever happens (each project is guarded already)
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
                try:
                    await self._check_project(policy)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one project's failure never stops the others
                    self._project_failed(policy, exc)
            self.checks += 1
            self.last_check = self._clock()
            return dict(self.statuses)

    def _project_failed(self, policy: ProjectPolicy, exc: Exception) -> None:
        """Fail closed: every vetted file of the project is withheld until a check succeeds again."""
        assert policy.provenance is not None
        self.project_errors += 1
        problem = (f"the provenance check of {policy.name} failed with an error ({type(exc).__name__}: "
                   f"{str(exc)[:300]}); treated as not verified")
        self.verifier.last_error = problem
        log.error("provenance check FAILED project=%s", policy.name, exc_info=exc)
        now = datetime.fromtimestamp(self._clock(), UTC)
        identities = policy.provenance.identities
        for vetting in policy.vettings.values():
            for sha256 in vetting.files.values():
                self.statuses[sha256] = ProvenanceStatus(None, problem, (), now, identities)
        self.on_change(policy.name)

    async def _check_project(self, policy: ProjectPolicy) -> None:
        assert policy.provenance is not None
        try:
            detail = (await self._pages.project(policy.name)).model
        except (UpstreamError, ProjectNotFound) as exc:
            # Nothing of the project can be served without its page; the statuses wait for the next check.
            log.info("provenance check skipped project=%s: %s", policy.name, exc)
            return
        pins = policy.provenance.publishers
        changed = False
        for vetting in policy.vettings.values():
            for filename, sha256 in vetting.files.items():
                f = detail.file_named(filename)
                if f is None or f.sha256 != sha256:
                    continue  # gone or different bytes: the hash pin already keeps it out
                status = await self.verifier.status(f, sha256, pins)
                if not _same(self.statuses.get(sha256), status):
                    changed = True
                    log.log(logging.INFO if status.ok else logging.WARNING,
                            "provenance %s project=%s file=%s: %s", "verified" if status.ok else "FAILS",
                            policy.name, filename, status.verified or status.problem)
                self.statuses[sha256] = status
        if changed:
            self.on_change(policy.name)
