"""The dry run, ``mirror check --what-if``: what each tier would start and stop serving if one policy set
replaced another, decided from the pages and evidence the database holds, fetching and changing nothing.

Both sets are decided by :func:`mirror.core.tiers.decide_page` at the same moment with the same evidence (first
sightings, extracted metadata, advisories, licences; provenance is not re-verified), so every difference comes
from the policies. The projects compared are those whose policy differs (every project with a stored page, and
every project either set names, when ``tiers.toml`` differs). A project without a stored page is compared by its
project decision alone (and says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mirror.core.errors import MirrorError
from mirror.core.models import ProjectDetail, Tier
from mirror.core.policy.model import PolicySet
from mirror.core.tiers import Evidence, TierView, decide_page


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a tier would start (``appears``) or stop serving: a project, a release or one file."""

    tier: Tier
    kind: str  #: "project", "release" or "file"
    project: str
    appears: bool
    version: str | None = None
    files: tuple[str, ...] = ()
    #: why, in the policy set that decides it: the rule that admits or keeps it out
    why: str = ""

    def line(self) -> str:
        sign = "+" if self.appears else "-"
        what = {"project": f"project {self.project}",
                "release": f"release {self.project} {self.version} ({len(self.files)} file(s))",
                "file": f"file {self.files[0] if self.files else ''} ({self.project} {self.version})"}[self.kind]
        return f"  {sign} {what}: {self.why}" if self.why else f"  {sign} {what}"


@dataclass
class WhatIf:
    """Every change per tier, and the projects compared without a stored page."""

    changes: list[Change] = field(default_factory=list)
    compared: int = 0
    without_page: list[str] = field(default_factory=list)

    @property
    def disappears(self) -> bool:
        return any(not c.appears for c in self.changes)

    def count(self, appears: bool, kind: str) -> int:
        if kind == "file":
            return sum(len(c.files) for c in self.changes if c.appears is appears and c.kind != "project")
        return sum(1 for c in self.changes if c.appears is appears and c.kind == kind)

    def lines(self) -> list[str]:
        out = []
        for tier in Tier:
            mine = [c for c in self.changes if c.tier is tier]
            out.append(f"{tier.value}:" + ("" if mine else " no change"))
            out += [c.line() for c in mine]
        gone = [self.count(False, k) for k in ("project", "release", "file")]
        new = [self.count(True, k) for k in ("project", "release", "file")]
        out.append(f"would disappear: {gone[0]} project(s), {gone[1]} release(s), {gone[2]} file(s); would appear: "
                   f"{new[0]} project(s), {new[1]} release(s), {new[2]} file(s) ({self.compared} project(s) compared)")
        if self.without_page:
            shown = ", ".join(self.without_page[:20]) + (" ..." if len(self.without_page) > 20 else "")
            out.append(f"note: no stored upstream page of {len(self.without_page)} project(s), compared by project "
                       f"only: {shown}")
        return out


def projects_to_compare(before: PolicySet, after: PolicySet, stored: Iterable[str] = ()) -> list[str]:
    """The projects whose decisions may differ between ``before`` and ``after``; ``stored`` (the projects with a
    stored page) counts only when the tier-wide rules differ."""
    names = set(before.projects) | set(after.projects)
    if before.rules != after.rules:
        return sorted(names | set(stored))
    return sorted(n for n in names if before.of(n) != after.of(n))


def compare_project(result: WhatIf, name: str, detail: ProjectDetail | None, evidence: Evidence, before: PolicySet,
                    after: PolicySet, now: datetime) -> None:
    """Add to ``result`` what each tier would start and stop serving of ``name`` (pure)."""
    result.compared += 1
    if detail is None:
        result.without_page.append(name)
    for tier in Tier:
        old = decide_page(tier, name, detail, evidence, before, now)
        new = decide_page(tier, name, detail, evidence, after, now)
        result.changes += _differences(tier, name, old, new)


def _differences(tier: Tier, name: str, old: TierView, new: TierView) -> list[Change]:
    if old.project.admitted != new.project.admitted:
        return [Change(tier, "project", name, new.project.admitted, why=new.project.rule)]
    if not new.project.admitted:
        return []
    before = {f.filename: f.version for f in old.detail.files}
    after = {f.filename: f.version for f in new.detail.files}
    verdicts = {v.file.filename: v.decision.rule for r in new.releases for v in r.files}
    out: list[Change] = []
    for version in dict.fromkeys([*before.values(), *after.values()]):
        gone = sorted(f for f, v in before.items() if v == version and f not in after)
        came = sorted(f for f, v in after.items() if v == version and f not in before)
        for files, appears, others in ((gone, False, after), (came, True, before)):
            if not files:
                continue
            if not any(v == version for v in others.values()):  # none of the release on the other side
                out.append(Change(tier, "release", name, appears, version, tuple(files), verdicts.get(files[0], "")))
            else:
                out += [Change(tier, "file", name, appears, version, (f,), verdicts.get(f, "")) for f in files]
    return out


class PageSource(Protocol):
    """Where the dry run reads a project's stored page and evidence (see :mod:`mirror.services.stored_evidence`)."""

    async def detail(self, name: str) -> ProjectDetail | None: ...

    async def evidence(self, name: str, detail: ProjectDetail | None) -> Evidence: ...


async def what_if(before: PolicySet, after: PolicySet, source: PageSource,
                  stored: Callable[[], Awaitable[list[str]]], now: datetime) -> WhatIf:
    """Compare ``before`` (the policies served) with ``after`` (the proposed ones); ``stored()`` lists the projects
    with a stored page (asked only when the tier-wide rules differ)."""
    result = WhatIf()
    names = projects_to_compare(before, after, await stored() if before.rules != after.rules else ())
    for name in names:
        try:
            detail = await source.detail(name)
        except MirrorError:  # a stored page that no longer parses: compared by project only
            detail = None
        compare_project(result, name, detail, await source.evidence(name, detail), before, after, now)
    return result
