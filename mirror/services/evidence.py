"""What the mirror itself knows about a project's files, gathered for :func:`mirror.core.tiers.decide_page`:
metadata it extracted from verified files (advertised only while both are stored), provenance it verified in
the background, and when it first saw each file.

It also gathers the evidence the rules from evidence decide on (:mod:`mirror.core.policy.evidence`): the advisories
known about the project (:mod:`mirror.services.advisories`) and the licences read from its releases' metadata
(:mod:`mirror.services.licenses`, only for projects a licence rule applies to). Views decided with a rule in
shadow mode ("warn") are logged and counted by :meth:`EvidenceService.observe`.

First sightings are kept in memory (bounded) and in the database (shared by processes and nodes, where the
earliest sighting wins). The first time the mirror fetches a project, every file listed is an *initial*
sighting (no better evidence of its age than upstream's upload time); a file that appears later is seen at that
moment, and a file name listed again with another sha256 keeps its first sha256 (the tiers then refuse it).
Recording runs in the background: a request never waits for the database to store sightings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from mirror.adapters.db.sightings import SightingRow
from mirror.core.lru import LRU
from mirror.core.models import ProjectDetail
from mirror.core.policy.evaluate import ProvenanceStatuses, Sighting
from mirror.core.policy.evidence import NO_ADVISORIES, Advisories, ReleaseLicenses
from mirror.core.tiers import Evidence, TierView
from mirror.services.cpu import CpuLane

log = logging.getLogger("mirror.evidence")

#: Pages with more files than this have their sightings worked out in the CPU lane.
_OFFLOAD_FILES = 1000


class SightingRecords(Protocol):
    async def load(self, project: str) -> list[SightingRow]: ...

    async def record(self, project: str, rows: list[SightingRow]) -> None: ...


class ExtractedRecords(Protocol):
    async def extracted_metadata_for(self, file_sha256s: list[str]) -> dict[str, str]: ...


#: ``present(extracted)``: the subset of file sha256 → metadata sha256 whose files are both still stored.
Present = Callable[[dict[str, str]], Awaitable[dict[str, str]]]


class AdvisorySource(Protocol):
    #: projects a malware report covers entirely, and a counter that changes with that set
    quarantined: frozenset[str]
    revision: int

    async def for_project(self, project: str, *, json_api: bool = True, wait: bool = True) -> Advisories: ...


class LicenseSource(Protocol):
    async def for_page(self, project: str, detail: ProjectDetail, extracted: Mapping[str, str]
                       ) -> ReleaseLicenses: ...


class EvidenceService:
    """Evidence per project page; :meth:`revision` changes whenever a project's evidence does."""

    def __init__(self, sightings: SightingRecords, extracted: ExtractedRecords, present: Present | None,
                 provenance: ProvenanceStatuses, clock: Callable[[], float] = time.time,
                 capacity: int = 4096, *, advisories: AdvisorySource | None = None,
                 licenses: LicenseSource | None = None,
                 needs_licenses: Callable[[str], bool] = lambda _project: False,
                 needs_json_api: Callable[[], bool] = lambda: True, cpu: CpuLane | None = None) -> None:
        self._sightings = sightings
        self._cpu = cpu  # big pages' sightings are worked out there, off the event loop
        self._extracted = extracted
        self._present = present
        self.advisories = advisories
        self.licenses = licenses
        self._needs_licenses = needs_licenses
        self._needs_json_api = needs_json_api
        #: (tier, project, version, warning) already logged, so a view decided again does not log it again
        self._warned: LRU[tuple[str, str, str, str], None] = LRU(capacity * 4)
        #: releases served under a rule in shadow mode, by rule ("vulnerability", "license"), since start
        self.warnings: dict[str, int] = {}
        #: live map owned by the provenance checker, which calls :meth:`invalidate` when an entry changes
        self._provenance = provenance
        self._clock = clock
        self._seen: LRU[str, dict[str, Sighting]] = LRU(capacity)
        self._revisions: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def revision(self, project: str) -> int:
        """A counter that changes whenever evidence about ``project`` changes (no I/O)."""
        return self._revisions.get(project, 0)

    def wants_licenses(self, project: str) -> bool:
        """Whether a licence rule applies to ``project`` (its releases' licences are then gathered)."""
        return self.licenses is not None and self._needs_licenses(project)

    @property
    def quarantined(self) -> frozenset[str]:
        """Projects a malware report covers entirely: listed in no tier."""
        return self.advisories.quarantined if self.advisories is not None else frozenset()

    @property
    def list_revision(self) -> int:
        """A counter that changes whenever :attr:`quarantined` does."""
        return self.advisories.revision if self.advisories is not None else 0

    def invalidate(self, project: str) -> None:
        """Note that evidence about ``project`` changed (metadata extracted, a provenance status changed...)."""
        self._revisions[project] = self._revisions.get(project, 0) + 1
        if len(self._revisions) > 100_000:  # bounded: a forgotten counter only costs one re-preparation
            self._revisions.clear()

    async def close(self) -> None:
        """Wait for sightings being recorded."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def for_page(self, project: str, detail: ProjectDetail, *, wait_for_advisories: bool = True) -> Evidence:
        """The evidence about the files of ``detail`` (``project``'s page as upstream lists it now).

        Without ``wait_for_advisories``, upstream's advisories not read yet are read in the background (the
        project's evidence revision changes when they arrive)."""
        sightings, shas = await self._observe(project, detail)
        recorded = await self._extracted.extracted_metadata_for(shas) if shas else {}
        extracted = recorded
        if extracted and self._present is not None:
            extracted = await self._present(extracted)
        advisories = NO_ADVISORIES
        if self.advisories is not None:  # upstream's JSON API only when a vulnerability rule is not "allow"
            advisories = await self.advisories.for_project(project, json_api=self._needs_json_api(),
                                                           wait=wait_for_advisories)
        licenses: ReleaseLicenses = {}
        if self.licenses is not None and self.wants_licenses(project):
            licenses = await self.licenses.for_page(project, detail, recorded)
        return Evidence(extracted=extracted, provenance=self._provenance, sightings=sightings, advisories=advisories,
                        licenses=licenses)

    def observe(self, view: TierView) -> None:
        """Log and count the releases a view serves under a rule in shadow mode ("warn"), once per release."""
        for release in view.releases:
            for verdict in release.files:
                for warning in verdict.decision.warnings if verdict.decision.admitted else ():
                    key = (view.tier.value, view.detail.name, release.version or "", warning)
                    if key in self._warned:
                        continue
                    self._warned[key] = None
                    kind = "vulnerability" if "vulnerab" in warning else "license"
                    self.warnings[kind] = self.warnings.get(kind, 0) + 1
                    log.warning("served under a rule in shadow mode tier=%s project=%s version=%s: %s",
                                view.tier.value, view.detail.name, release.version, warning)

    async def _observe(self, project: str, detail: ProjectDetail) -> tuple[Mapping[str, Sighting], list[str]]:
        """The first sightings of the page's files (new ones recorded in the background), and the sha256 of its
        wheels (whose extracted metadata is looked up)."""
        known = self._seen.get(project)
        if known is None:
            try:
                rows = await self._sightings.load(project)
            except Exception:  # the database is unavailable: judge by upload times alone, record nothing
                log.exception("cannot read first sightings project=%s", project)
                return {}, _wheel_hashes(detail)
            known = {r.filename: Sighting(r.sha256, datetime.fromtimestamp(r.first_seen, UTC), r.initial)
                     for r in rows}
        if self._cpu is not None and len(detail.files) > _OFFLOAD_FILES:
            after, new, shas = await self._cpu.run(_sightings_after, project, known, detail, self._clock())
        else:
            after, new, shas = _sightings_after(project, known, detail, self._clock())
        if new:
            self._record(project, new)
        self._seen[project] = after
        return after, shas

    def _record(self, project: str, rows: list[SightingRow]) -> None:
        async def record() -> None:
            try:
                await self._sightings.record(project, rows)
            except Exception:  # the next fetch records them again (only new names are missing)
                log.exception("cannot record first sightings project=%s files=%d", project, len(rows))
                self._seen.pop(project, None)

        task = asyncio.ensure_future(record())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _wheel_hashes(detail: ProjectDetail) -> list[str]:
    return [sha for f in detail.files if f.filename.endswith(".whl") and (sha := f.sha256)]


def _sightings_after(project: str, known: dict[str, Sighting], detail: ProjectDetail, now: float
                     ) -> tuple[dict[str, Sighting], list[SightingRow], list[str]]:
    """The sightings once ``detail`` is seen at ``now``, the rows to record (the files never seen before), and the
    sha256 of the page's wheels.

    Logs a warning for every file listed with another sha256 than the one it was first seen with. The first page
    the mirror sees of a project makes *initial* sightings.
    """
    initial = not known
    new = []
    for f in detail.files:
        seen = known.get(f.filename)
        if seen is None:
            new.append(SightingRow(f.filename, f.sha256, now, initial))
        elif seen.sha256 is None or seen.sha256 == f.hashes.get("sha256"):
            continue  # the common case, decided without checking the hash's form (pages list 15,000 files)
        elif f.sha256 is not None and seen.sha256 != f.sha256:
            # Reported on every new page revision that still lists it; the tiers refuse the file.
            log.warning("upstream changed a published file, refused in every tier: project=%s file=%s "
                        "first seen %s with sha256 %s, now sha256 %s", project, f.filename,
                        f"{seen.first_seen:%Y-%m-%d %H:%M} UTC", seen.sha256, f.sha256)
    if new:
        at = datetime.fromtimestamp(now, UTC)
        known = {**known, **{r.filename: Sighting(r.sha256, at, initial) for r in new}}
    return known, new, _wheel_hashes(detail)
