"""``mirror prefetch`` (a whole set, unlike the server's page prefetch in :mod:`.prefetch`): download through a
tier everything a requirements or lock file needs, and say what the tier is missing.

A requirements file is followed through its dependency closure in the tier (the release the tier serves for
each project, as :class:`~mirror.services.closure.ClosureService` chooses it; ``==`` pins taken where served);
a lock file is taken as it is (it is a closure already): exactly its files, each of which must be served by
the tier with the hashes the lock gives. Every file comes through the mirror's own store, fetched once and
verified, so the run warms the cache of every server sharing the store; a file already stored is not fetched
again, so an interrupted run resumes where it stopped. What the tier does not serve (a project not promoted,
a release held back, a hash that differs from the lock's, a dependency hole) is reported with the rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mirror.core.errors import MirrorError, ProjectNotFound
from mirror.core.models import DistFile, Tier
from mirror.core.sets import Chosen, Pinned, SetInput
from mirror.core.targets import Target, default_target
from mirror.services.closure import ClosureService
from mirror.services.fetching import FileFetcher

#: Files downloaded at once.
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class FileTask:
    """One file to have in the store: ``dist`` as the tier serves it."""

    project: str
    version: str
    dist: DistFile

    @property
    def label(self) -> str:
        return f"{self.project}/{self.dist.filename}"


@dataclass(frozen=True, slots=True)
class PrefetchPlan:
    """The files to fetch and what the tier is missing (one line each, with the rule that decides)."""

    tier: Tier
    files: tuple[FileTask, ...]
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    projects: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(t.dist.size or 0 for t in self.files)


@dataclass
class PrefetchReport:
    """What a run did: files fetched now, already stored, failed (label → why)."""

    fetched: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes_fetched: int = 0


class Progress(Protocol):
    """Where a run reports: a progress bar on a terminal, plain lines otherwise."""

    def begin(self, files: int, total_bytes: int) -> None: ...

    def advance(self, task: FileTask, received: int) -> None:
        """``received``: bytes of this file received so far (a file already stored counts whole at once)."""
        ...

    def done(self, task: FileTask, status: str) -> None:
        """``status``: ``fetched``, ``cached`` or ``failed: why``."""
        ...

    def end(self) -> None: ...


class SetPrefetcher:
    """Plans and runs prefetches on one configuration's closure service and file fetcher."""

    def __init__(self, closure: ClosureService, fetcher: FileFetcher, concurrency: int = CONCURRENCY) -> None:
        self._closure = closure
        self._fetcher = fetcher
        self._concurrency = concurrency

    async def plan(self, given: SetInput, tier: Tier, targets: Sequence[Target] = (), *,
                   locked: bool = False) -> PrefetchPlan:
        """What ``given`` needs from ``tier`` on ``targets``; ``locked``: take the file as a lock file."""
        targets = tuple(targets) or (default_target(),)
        notes = [f"not served by an index: {u}" for u in given.unservable] + list(given.notes)
        if locked:
            return await self._plan_lock(given, tier, notes)
        result = await self._closure.closure(given.roots, tier, targets, pins=given.pins)
        hashes = {p.name: p for p in given.pinned if p.hashes}
        files: list[FileTask] = []
        missing = [hole.describe() for hole in result.closure.holes]
        missing += [u.describe() for u in result.closure.unsatisfied]
        missing += [f"{n.project}: {n.text}" for n in result.closure.skipped]
        for name, followed in result.followed.items():
            wanted = _with_hashes(followed.chosen, targets, hashes.get(name))
            if not wanted:
                missing.append(f"{name} {followed.chosen.version}: no file '{tier.value}' serves fits "
                               f"{', '.join(t.label for t in targets)}" + (" with the hashes given" if name in hashes
                                                                              else ""))
            files += [FileTask(name, followed.chosen.version, f) for f in wanted]
        notes += [f"{n.project}: {n.text}" for n in result.closure.notes]
        return PrefetchPlan(tier, tuple(files), tuple(missing), tuple(notes), len(result.followed))

    async def _plan_lock(self, given: SetInput, tier: Tier, notes: list[str]) -> PrefetchPlan:
        files: list[FileTask] = []
        missing: list[str] = []
        limit = asyncio.Semaphore(8)

        async def one(p: Pinned) -> None:
            async with limit:
                try:
                    view = await self._closure.view(tier, p.name)
                except ProjectNotFound:
                    missing.append(f"{p.name} {p.version} ({p.origin}): upstream has no such project")
                    return
                except MirrorError as exc:
                    missing.append(f"{p.name} {p.version} ({p.origin}): cannot be read now ({exc})")
                    return
            release = view.release(p.version)
            if not view.project.admitted or release is None:
                rule = view.project.rule if not view.project.admitted else "upstream lists no file of it"
                missing.append(f"{p.name} {p.version} ({p.origin}): not in '{tier.value}': {rule}")
                return
            verdicts = {v.file.filename: v for v in release.files}
            for filename, hashes in sorted(p.files.items()):
                verdict = verdicts.get(filename)
                if verdict is None:
                    missing.append(f"{p.name} {p.version}: {filename}: upstream lists no such file")
                elif not verdict.decision.admitted:
                    missing.append(f"{p.name} {p.version}: {filename}: not in '{tier.value}': "
                                   f"{verdict.decision.rule}")
                elif any(verdict.file.hashes.get(a) not in (None, h) for a, h in hashes.items()):
                    missing.append(f"{p.name} {p.version}: {filename}: the lock's hash differs from the one "
                                   f"'{tier.value}' serves")
                else:
                    files.append(FileTask(p.name, p.version, verdict.file))

        await asyncio.gather(*(one(p) for p in given.pinned))
        files.sort(key=lambda t: t.label)
        return PrefetchPlan(tier, tuple(files), tuple(sorted(missing)), tuple(notes), len(given.pinned))

    async def run(self, plan: PrefetchPlan, progress: Progress) -> PrefetchReport:
        """Have every file of ``plan`` in the store; failures are reported, never raised."""
        report = PrefetchReport()
        limit = asyncio.Semaphore(self._concurrency)
        progress.begin(len(plan.files), plan.total_bytes)

        async def one(task: FileTask) -> None:
            async with limit:
                try:
                    stored, fetched = await self._fetcher.fetch(
                        task.project, task.dist, on_bytes=lambda n: progress.advance(task, n))
                except MirrorError as exc:
                    report.failed[task.label] = str(exc)
                    progress.done(task, f"failed: {exc}")
                    return
            progress.advance(task, stored.size)
            (report.fetched if fetched else report.cached).append(task.label)
            report.bytes_fetched += stored.size if fetched else 0
            progress.done(task, "fetched" if fetched else "cached")

        try:
            await asyncio.gather(*(one(t) for t in plan.files))
        finally:
            progress.end()
        return report


def _with_hashes(chosen: Chosen, targets: Sequence[Target], pinned: Pinned | None) -> tuple[DistFile, ...]:
    """The files of ``chosen`` installers take on ``targets``; with hashes given (``--hash``), only those
    whose served hashes are among them (pip's ``--require-hashes`` accepts no other)."""
    needed = chosen.needed(targets)
    if pinned is None:
        return needed
    allowed = set(pinned.hashes)
    return tuple(f for f in needed if any((a, h) in allowed for a, h in f.hashes.items()))
