"""What the browser UI shows, computed from plain values. Pure.

The in/out verdict of every release and file in every tier is read from the :class:`TierView` that
:func:`mirror.core.tiers.decide_page` made (the decision the Simple API serves and ``explain`` prints): nothing
here decides anything; it counts, indexes and arranges.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from packaging.version import InvalidVersion, Version

from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import Decision, ProvenanceStatuses, canonical_version
from mirror.core.policy.model import PolicySet, ProjectPolicy, ProvenanceStatus
from mirror.core.tiers import ReleaseVerdict, TierView


@dataclass(frozen=True, slots=True)
class TierCounts:
    """The tiers at a glance: ``upstream_projects`` is None while upstream's list is unknown."""

    upstream_projects: int | None
    reviewed_projects: int
    vetted_projects: int
    vetted_releases: int
    blocked_projects: int
    blocked_releases: int

    @property
    def all_projects(self) -> int | None:
        if self.upstream_projects is None:
            return None
        return max(0, self.upstream_projects - self.blocked_projects)


def tier_counts(policies: PolicySet, upstream_projects: int | None) -> TierCounts:
    """Projects reviewed, releases vetted and blocks in force, as the tiers serve them (a blocked project is in
    no tier, whatever else its policy says)."""
    reviewed = vetted_projects = vetted_releases = blocked = release_blocks = 0
    for policy in policies.projects.values():
        release_blocks += sum(1 for b in policy.blocks if b.versions is not None)
        if policy.project_block is not None:
            blocked += 1
            continue
        if policy.review is not None:
            reviewed += 1
            if policy.vettings:
                vetted_projects += 1
                vetted_releases += len(policy.vettings)
    return TierCounts(upstream_projects, reviewed, vetted_projects, vetted_releases, blocked, release_blocks)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A project some policy speaks of, and where it stands."""

    name: str
    reviewed: bool
    vetted_releases: int
    blocked: bool
    release_blocks: int

    @property
    def status(self) -> str:
        if self.blocked:
            return "blocked"
        if self.vetted_releases:
            return "vetted"
        return "reviewed" if self.reviewed else "not reviewed"


def _hit(policy: ProjectPolicy) -> SearchHit:
    return SearchHit(policy.name, policy.review is not None, len(policy.vettings), policy.project_block is not None,
                     sum(1 for b in policy.blocks if b.versions is not None))


class SearchIndex:
    """The projects of a policy set, searchable by name: prefix matches first (alphabetical), then the names
    that contain the query elsewhere. Built once per policy version; a query on 10,000 names costs a bisect
    and one scan of a joined string."""

    def __init__(self, policies: PolicySet) -> None:
        self.version = policies.version
        self._names: list[str] = sorted(policies.projects)
        self._hits: dict[str, SearchHit] = {str(p.name): _hit(p) for p in policies.projects.values()}
        # "\n"-joined names: one substring scan of a string instead of 10,000 `in` tests.
        self._joined = "\n" + "\n".join(self._names) + "\n"

    def __len__(self) -> int:
        return len(self._names)

    def search(self, query: str, limit: int = 100) -> tuple[list[SearchHit], int]:
        """Up to ``limit`` hits for ``query`` (compared normalized: lower case, runs of ``-_.`` as ``-``) and the
        number of matches in all; an empty query lists every project."""
        q = normalize_query(query)
        if not q:
            return [self._hits[n] for n in self._names[:limit]], len(self._names)
        start = bisect.bisect_left(self._names, q)
        end = bisect.bisect_left(self._names, q + "\uffff")
        prefixed = self._names[start:end]
        found: list[str] = list(prefixed)
        if "\n" not in q:
            seen = set(prefixed)
            position = self._joined.find(q)
            while position != -1:
                line_start = self._joined.rfind("\n", 0, position) + 1
                line_end = self._joined.index("\n", position)
                name = self._joined[line_start:line_end]
                if name not in seen:
                    seen.add(name)
                    found.append(name)
                position = self._joined.find(q, line_end)
        return [self._hits[n] for n in found[:limit]], len(found)


def normalize_query(query: str) -> str:
    """A search query as names are stored: lower case, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    out: list[str] = []
    for ch in query.strip().lower()[:200]:
        if ch in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        elif ch.isprintable():
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- a project's releases × tiers


@dataclass(frozen=True, slots=True)
class Cell:
    """A release's (or file's) verdict in one tier, as decided by :func:`~mirror.core.tiers.decide_page`."""

    admitted: bool
    rule: str
    where: str | None
    change: str | None
    until: datetime | None = None
    #: rules in shadow mode that would hold this admitted release (an advisory, a licence): served, and shown
    warnings: tuple[str, ...] = ()
    #: rules a waiver lifts for this admitted release, each with the waiver's expiry
    waived: tuple[str, ...] = ()

    @classmethod
    def of(cls, decision: Decision) -> Cell:
        return cls(decision.admitted, decision.rule, str(decision.where) if decision.where else None,
                   decision.change, decision.until, decision.warnings, decision.waived)


@dataclass(frozen=True, slots=True)
class FileRow:
    """One file of a release: as upstream lists it, its verdict in each tier, and its provenance check."""

    file: DistFile
    cells: Mapping[Tier, Cell]
    provenance: ProvenanceStatus | None


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """One release: its verdict in each tier (the release's, or the project's where the tier keeps the whole
    project out), and its files."""

    version: str | None
    cells: Mapping[Tier, Cell]
    files: tuple[FileRow, ...]

    @property
    def yanked(self) -> bool:
        return bool(self.files) and all(r.file.is_yanked for r in self.files)

    @property
    def uploaded(self) -> datetime | None:
        times = [r.file.upload_time for r in self.files if r.file.upload_time is not None]
        return min(times) if times else None


def _by_version(view: TierView) -> dict[str | None, ReleaseVerdict]:
    """The view's releases by canonical version (one pass: a page has hundreds of releases)."""
    return {(canonical_version(r.version) or r.version) if r.version is not None else None: r for r in view.releases}


Release = tuple[str | None, tuple[DistFile, ...]]


def releases_newest_first(detail: ProjectDetail) -> list[Release]:
    """Every release upstream lists with its files: highest version first, then versions that do not parse, then
    files with no version."""
    by_version: dict[str | None, list[DistFile]] = {}
    for f in detail.files:
        by_version.setdefault(f.version, []).append(f)
    valid: list[tuple[Version, Release]] = []
    other: list[Release] = []
    unknown: list[Release] = []
    for version, files in by_version.items():
        release = (version, tuple(files))
        if version is None:
            unknown.append(release)
            continue
        try:
            valid.append((Version(version), release))
        except InvalidVersion:
            other.append(release)
    valid.sort(key=lambda pair: pair[0], reverse=True)
    return [release for _, release in valid] + other + unknown


def release_rows(detail: ProjectDetail, views: Mapping[Tier, TierView], provenance: ProvenanceStatuses | None = None,
                 *, releases: list[Release] | None = None) -> list[ReleaseRow]:
    """The rows of ``releases`` (default: every release of ``detail``, newest first), with each tier's verdict
    read from ``views`` (one :class:`TierView` per tier, of ``detail``)."""
    if releases is None:
        releases = releases_newest_first(detail)
    statuses = provenance or {}
    indexes = {tier: _by_version(view) for tier, view in views.items()}
    project_cells = {tier: Cell.of(view.project) for tier, view in views.items()}
    rows = []
    for version, files in releases:
        key = (canonical_version(version) or version) if version is not None else None
        cells: dict[Tier, Cell] = {}
        file_cells: dict[Tier, dict[str, Cell]] = {}
        for tier in views:
            release = indexes[tier].get(key)
            if release is None:  # the tier keeps the whole project out: its decision is every release's
                cells[tier], file_cells[tier] = project_cells[tier], {}
                continue
            cells[tier] = Cell.of(release.decision)
            file_cells[tier] = {v.file.filename: Cell.of(v.decision) for v in release.files}
        file_rows = tuple(
            FileRow(f, {tier: file_cells[tier].get(f.filename, cells[tier]) for tier in views},
                    statuses.get((f.hashes.get("sha256") or "").lower()) if statuses else None)
            for f in files)
        rows.append(ReleaseRow(version, cells, file_rows))
    return rows


def find_release(releases: list[Release], version: str) -> Release | None:
    """The release ``version`` names, in any spelling (``2.0`` finds ``2.0.0``)."""
    wanted = canonical_version(version) or version
    return next((r for r in releases if r[0] is not None and (canonical_version(r[0]) or r[0]) == wanted), None)
