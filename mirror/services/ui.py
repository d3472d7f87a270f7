"""What the browser UI's pages show, gathered from the running services (the UI decides nothing itself).

A project's releases × tiers come from :meth:`PreparedPages.view` (the views the Simple API serves) for the
tiers that admit the project, and from :func:`mirror.core.tiers.decide_page` on the same page for those that
keep it out (which then only says why): one decision for pages, ``explain`` and the UI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mirror.adapters import trust_root
from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from mirror.core.errors import ProjectNotFound, UpstreamError
from mirror.core.models import ProjectDetail, ProjectStatus, Tier
from mirror.core.overview import (
    Cell,
    Release,
    ReleaseRow,
    SearchHit,
    SearchIndex,
    TierCounts,
    release_rows,
    releases_newest_first,
    tier_counts,
)
from mirror.core.policy.evaluate import decide_project, decide_version
from mirror.core.policy.model import PolicySet, ProjectPolicy, ProvenanceStatus
from mirror.core.tiers import Evidence, TierView, curated_projects, decide_page
from mirror.services.health import UpstreamHealth
from mirror.services.holes import Gap, HoleCounter, HoleReport
from mirror.services.json_documents import JsonDocuments
from mirror.services.pages import PageService
from mirror.services.policies import PolicyState, PolicyStore
from mirror.services.prepared import PreparedPages
from mirror.services.prepared_lists import Quarantine
from mirror.services.provenance import ProvenanceChecker

#: How long the trust root's state (read from disk) is reused by the home page.
_TRUST_ROOT_TTL = 60.0


@dataclass(frozen=True, slots=True)
class Overview:
    counts: TierCounts
    policy: PolicyState
    upstream: UpstreamHealth
    provenance: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """Everything ``/ui/projects/<name>`` shows: ``releases`` are every release upstream lists, newest first, and
    :meth:`UiService.rows` gives the rows of some of them (a page of a big project shows 25 of hundreds)."""

    name: str
    display_name: str
    upstream: str  # "found", "absent" (upstream has no such project) or "unavailable"
    stale: bool
    policy: ProjectPolicy | None
    project_cells: dict[Tier, Cell]
    detail: ProjectDetail | None
    views: dict[Tier, TierView]
    releases: list[Release]
    status: ProjectStatus
    maintainers_seen: tuple[str, ...] | None
    maintainers_note: str
    publishers_verified: tuple[str, ...]
    publishers_claimed: tuple[str, ...]
    now: datetime
    cooldown_days: float
    provenance: dict[str, ProvenanceStatus] = field(default_factory=dict)
    #: the holes of this project's releases (what they need that a curated tier does not serve), and the holes
    #: this project would fill (who needs it where it is not served): rows of the one hole report
    holes: tuple[Gap, ...] = ()
    needed_by: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class Holes:
    """The curated tiers' holes as last counted in the background (:class:`~mirror.services.holes.HoleCounter`):
    ``report`` None until first counted (or without a counter); ``current`` when counted for the policies in
    force; ``error`` of the last count that failed."""

    report: HoleReport | None
    counted_at: datetime | None
    current: bool
    error: str | None

    def count(self, tier: Tier) -> int | None:
        return self.report.count(tier) if self.report is not None else None

    def rows(self, tier: Tier | None = None) -> list[Gap]:
        """The holes of ``tier`` (every curated tier: None), in the order ``mirror check`` prints them."""
        gaps = self.report.gaps if self.report is not None else ()
        return [g for g in gaps if tier is None or g.tier is tier]


@dataclass(frozen=True, slots=True)
class DemandRow:
    """A demand counter and the tier's decision on it now (policies only: no upstream fetch)."""

    entry: DemandEntry
    decision: Cell


class UiService:
    """Data of the UI's pages (see the module docstring)."""

    def __init__(self, pages: PageService, prepared: PreparedPages, policies: PolicyStore,
                 documents: JsonDocuments, checker: ProvenanceChecker, audit: AuditLog, demand: DemandLog,
                 health: UpstreamHealth, clock: Callable[[], float] = time.time,
                 quarantine: Quarantine | None = None, holes: HoleCounter | None = None) -> None:
        self._pages = pages
        self._prepared = prepared
        self._policies = policies
        self._documents = documents
        self._checker = checker
        self.audit = audit
        self.demand = demand
        self._clock = clock
        self.health = health
        self._search: SearchIndex | None = None
        self._quarantine = quarantine
        self._holes = holes
        #: tier → ((policy version, quarantine revision), the names it lists): 10,000 policies take ~50 ms to decide
        self._tier_names: dict[Tier, tuple[tuple[str, int], tuple[str, ...]]] = {}
        self._counts: tuple[tuple[str, int | None], TierCounts] | None = None
        self._trust: tuple[float, dict[str, Any]] | None = None

    @property
    def policies(self) -> PolicySet:
        return self._policies.current

    # ------------------------------------------------------------------ home

    async def overview(self) -> Overview:
        known = self._pages.known_list()
        upstream_projects = len(known.value) if known is not None else None
        policies = self._policies.current
        key = (policies.version, upstream_projects)
        if self._counts is None or self._counts[0] != key:
            self._counts = (key, tier_counts(policies, upstream_projects))
        return Overview(self._counts[1], self._policies.state, self.health, await self._provenance())

    async def _provenance(self) -> dict[str, Any]:
        now = self._clock()
        if self._trust is None or now - self._trust[0] > _TRUST_ROOT_TTL:
            self._trust = (now, await asyncio.to_thread(trust_root.status))
        checker = self._checker
        failing = sum(1 for s in checker.statuses.values() if not s.ok)
        return {"trust_root": self._trust[1], "checks": checker.checks, "errors": checker.errors,
                "failing_files": failing}

    # ------------------------------------------------------------------ holes

    def holes(self) -> Holes:
        """The last hole report: never computed on a request (the counter runs in the background)."""
        counter = self._holes
        if counter is None:
            return Holes(None, None, False, "holes are not counted by this server")
        at = datetime.fromtimestamp(counter.counted_at, UTC) if counter.counted_at is not None else None
        report = counter.report
        current = report is not None and report.policy_version == self._policies.current.version
        return Holes(report, at, current, counter.error)

    # ------------------------------------------------------------------ search

    def tier_names(self, tier: Tier) -> tuple[str, ...]:
        """The projects a curated tier lists, sorted: its project list's own names (from the policies alone, less
        the projects a malware report covers entirely), decided once per policy version."""
        policies = self._policies.current
        quarantine = self._quarantine
        stamp = (policies.version, quarantine.list_revision if quarantine is not None else 0)
        known = self._tier_names.get(tier)
        if known is not None and known[0] == stamp:
            return known[1]
        names = curated_projects(tier, policies, quarantine.quarantined if quarantine is not None else frozenset())
        self._tier_names[tier] = (stamp, names)
        return names

    def search(self, query: str, limit: int = 100) -> tuple[list[SearchHit], int, int]:
        """Hits, the number of matches, and the number of projects the policies name."""
        policies = self._policies.current
        if self._search is None or self._search.version != policies.version:
            self._search = SearchIndex(policies)
        hits, total = self._search.search(query, limit)
        return hits, total, len(self._search)

    # ------------------------------------------------------------------ one project

    async def project(self, name: str) -> ProjectPage:
        """The project page of ``name`` (normalized); raises ProjectNotFound when neither upstream nor any policy
        knows it."""
        policies = self._policies.current
        policy = policies.of(name)
        detail: ProjectDetail | None = None
        stale, upstream = False, "found"
        try:
            entry = await self._pages.project(name)
            detail, stale = entry.value, entry.stale
        except ProjectNotFound:
            upstream = "absent"
            if policy is None:
                raise
        except UpstreamError:
            upstream = "unavailable"
        now = datetime.fromtimestamp(self._clock(), UTC)
        views = {tier: await self._view(tier, name, detail, policies, now) for tier in Tier}
        statuses = self._checker.statuses
        mine = {f.sha256: statuses[f.sha256] for f in (detail.files if detail and statuses else ())
                if f.sha256 in statuses}
        maintainers, note = await self._maintainers(name) if detail is not None else (None, "")
        verified = sorted({s.verified for s in mine.values() if s.verified})
        claimed = sorted({c for s in mine.values() for c in s.claimed} - set(verified))
        review = policy.review if policy is not None else None
        cooldown = (review.cooldown_days if review is not None and review.cooldown_days is not None
                    else policies.rules.cooldown_days)
        display = detail.upstream_name if detail is not None and detail.upstream_name else name
        report = self.holes().report
        return ProjectPage(name=name, display_name=display, upstream=upstream, stale=stale, policy=policy,
                           project_cells={t: Cell.of(v.project) for t, v in views.items()}, detail=detail,
                           views=views, releases=releases_newest_first(detail) if detail is not None else [],
                           status=detail.status if detail is not None else ProjectStatus(),
                           maintainers_seen=maintainers, maintainers_note=note,
                           publishers_verified=tuple(verified), publishers_claimed=tuple(claimed), now=now,
                           cooldown_days=cooldown, provenance=mine,
                           holes=tuple(report.of_dependent(name)) if report is not None else (),
                           needed_by=tuple(report.needing(name)) if report is not None else ())

    def rows(self, page: ProjectPage, releases: list[Release]) -> list[ReleaseRow]:
        """The rows of ``releases`` (some of ``page.releases``): each tier's verdict, from the page's views."""
        if page.detail is None:
            return []
        return release_rows(page.detail, page.views, self._checker.statuses, releases=releases)

    async def _view(self, tier: Tier, name: str, detail: ProjectDetail | None, policies: PolicySet,
                    now: datetime) -> TierView:
        if detail is not None and decide_project(tier, name, policies).admitted:
            try:
                return await self._prepared.view(tier, name)
            except (ProjectNotFound, UpstreamError):
                pass  # the policies changed meanwhile, or upstream failed: decided below from what is here
        return decide_page(tier, name, detail, Evidence(provenance=self._checker.statuses), policies, now)

    async def _maintainers(self, name: str) -> tuple[tuple[str, ...] | None, str]:
        entry = await self._documents.project(name)
        if entry is None:
            return None, "upstream's JSON API is not available: maintainers unknown"
        ownership = entry.value.document.ownership
        if ownership is None:
            return None, "upstream's JSON API names no maintainers"
        return tuple(sorted({r["user"] for r in ownership["roles"]})), ""

    # ------------------------------------------------------------------ demand and audit

    async def demand_page(self, tier: str | None, offset: int, limit: int) -> tuple[list[DemandRow], int]:
        entries, total = await self.demand.page(tier, offset=offset, limit=limit)
        policies = self._policies.current
        now = datetime.fromtimestamp(self._clock(), UTC)
        rows = []
        for e in entries:
            try:
                tier = Tier(e.tier)
            except ValueError:  # a counter of a tier this version does not have: judged as the curated one
                tier = Tier.REVIEWED
            decision = (decide_version(tier, e.project, e.version, policies, now) if e.version
                        else decide_project(tier, e.project, policies))
            rows.append(DemandRow(e, Cell.of(decision)))
        return rows, total

    async def audit_page(self, project: str | None, actor: str | None, before: int | None,
                         limit: int) -> list[AuditRecord]:
        return await self.audit.page(project=project, actor=actor, before=before, limit=limit)
