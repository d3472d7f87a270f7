"""PEP 740 provenance: fetched from upstream and cached, and re-verified in the background.

The documents come from :class:`~mirror.services.provenance_cache.ProvenanceCache` (the revalidating cache,
with their own table).

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
from dataclasses import replace
from datetime import UTC, datetime

from mirror.adapters import trust_root
from mirror.adapters.provenance import Verdict, VerificationFailed, examine
from mirror.core.errors import ProjectNotFound, UpstreamError
from mirror.core.lru import LRU
from mirror.core.models import DistFile
from mirror.core.policy.model import ProjectPolicy, ProvenanceStatus, TrustedPublisher
from mirror.services.pages import PageService
from mirror.services.policies import PolicyStore
from mirror.services.provenance_cache import MAX_STALE, PROVENANCE_TTL, ProvenanceCache

log = logging.getLogger("mirror.services.provenance")

__all__ = ["MAX_STALE", "PROVENANCE_TTL", "ProvenanceCache", "ProvenanceChecker", "ProvenanceVerifier"]


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

    def __init__(self, pages: PageService, cache: ProvenanceCache, policies: PolicyStore,
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
            detail = (await self._pages.project(policy.name)).value
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
