"""Holes in a curated tier: dependencies that the releases it serves need and that it does not serve.

A resolver facing a hole does not fail: it backtracks through older releases of the dependent until one's
dependencies fit (``requests`` 2017, with vendored dependencies). Holes are found with the closure walk itself
(:class:`~mirror.services.closure.ClosureService`), rooted at every project ``reviewed`` serves (the newest
release it admits), and at every vetted release (``vetted``: one closure per release, the release pinned), with
the markers evaluated for the configured targets.

:func:`tier_holes` is the one computation: ``mirror check`` prints its rows (:attr:`Gap.message`), the UI shows
the same rows (counted in the background by :class:`HoleCounter`, never on a request), ``/healthz`` counts them,
and ``demote``/``block``/``unvet`` refuse a change that opens one (:func:`opened`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from mirror.core.closure_model import Closure, Missing
from mirror.core.errors import MirrorError
from mirror.core.models import Tier
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import Location, PolicySet
from mirror.core.targets import Target
from mirror.services.closure import ClosureService, Followed
from mirror.services.cpu import BACKGROUND, background_pause

log = logging.getLogger("mirror.holes")

#: The curated tiers whose holes are counted, in the order they are listed.
CURATED = (Tier.REVIEWED, Tier.VETTED)
#: Most vetted releases whose closures one count walks (each project's newest first); the rest are counted as
#: not checked. Answers are shared between the closures of one count, so each release is decided once.
MAX_VETTED_RELEASES = 1000
#: Holes ``/healthz`` names (it counts them all).
HEALTH_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Gap:
    """One hole or unsatisfied requirement of a tier: the dependent (None: the root itself is not served) and its
    version, the dependency, the sentence for the reviewer (``requests 2.34.2 needs idna<4,>=2.5: idna is not in
    'reviewed': …``), the reviewer command that fills it (None when none is known), and where the dependent's
    rule is written (its vetting in ``vetted``, else its ``[review]``)."""

    tier: Tier
    dependent: str | None
    version: str | None
    dependency: str
    text: str
    fix: str | None = None
    where: Location | None = None

    @property
    def key(self) -> tuple[str | None, str]:
        return self.dependent, self.dependency

    @property
    def message(self) -> str:
        """The line ``mirror check`` prints (after ``file:line:``): ``hole in 'reviewed': <text>; fill it: <fix>``."""
        fill = f"; fill it: {self.fix}" if self.fix else ""
        return f"hole in '{self.tier.value}': {self.text}{fill}"


@dataclass(frozen=True, slots=True)
class HoleReport:
    """Every hole of the curated tiers under one policy version: ``gaps`` (``reviewed``'s first, each once), and
    ``unchecked``, the vetted releases over :data:`MAX_VETTED_RELEASES` whose closures were not walked."""

    policy_version: str
    gaps: tuple[Gap, ...] = ()
    unchecked: int = 0

    def count(self, tier: Tier) -> int:
        return sum(1 for g in self.gaps if g.tier is tier)

    def of_dependent(self, name: str) -> list[Gap]:
        """The holes of ``name``'s releases: what they need that the tier does not serve."""
        return [g for g in self.gaps if g.dependent == name]

    def needing(self, name: str) -> list[Gap]:
        """The holes ``name`` would fill: who needs it where it is not served."""
        return [g for g in self.gaps if g.dependency == name]


def reviewed_roots(policies: PolicySet) -> list[Requirement]:
    """The closure roots of ``reviewed``: every reviewed, unblocked project (its newest admitted release is
    followed). ``vetted`` is checked release by release: see :func:`vetted_releases`."""
    return [Requirement(name) for name, policy in sorted(policies.projects.items())
            if policy.review is not None and policy.project_block is None]


def vetted_releases(policies: PolicySet) -> list[tuple[str, str]]:
    """Every vetted release of a reviewed, unblocked project: (name, version), by name, newest first."""
    found: list[tuple[str, str]] = []
    for name, policy in sorted(policies.projects.items()):
        if policy.review is None or policy.project_block is not None:
            continue
        found += [(name, version) for version in _newest_first(v.version for v in policy.vettings.values())]
    return found


def _newest_first(versions: Iterable[str]) -> list[str]:
    """``versions`` newest first; those that are not PEP 440 versions last, in text order."""
    parsed: list[tuple[Version, str]] = []
    other: list[str] = []
    for text in versions:
        try:
            parsed.append((Version(text), text))
        except InvalidVersion:
            other.append(text)
    return [text for _, text in sorted(parsed, reverse=True)] + sorted(other)


def gaps(closure: Closure, tier: Tier, policies: PolicySet) -> list[Gap]:
    """The closure's holes and unsatisfied requirements as the reviewer reads them, each with its fix. Only
    those of a dependent the tier holds are kept (a dependency of a dependency outside the tier is reported at
    its own dependent)."""
    found: list[Gap] = []
    for hole in closure.holes:
        edge = hole.edge
        text = f"{edge.child} {hole.reason}" if edge.parent is None else hole.describe()
        found.append(_gap(tier, edge.parent, edge.parent_version, edge.child, text, hole.fix, policies))
    for unmet in closure.unsatisfied:
        edge = unmet.edge
        if edge.parent is None:
            continue
        fix = (command("mirror", "vet", edge.child, "VERSION", "--by", "NAME", "--note", "TEXT")
               if tier is Tier.VETTED else command("mirror", "explain", edge.child))
        found.append(_gap(tier, edge.parent, edge.parent_version, edge.child, unmet.describe(), fix, policies))
    return found


def _gap(tier: Tier, dependent: str | None, version: str | None, dependency: str, text: str, fix: str | None,
         policies: PolicySet) -> Gap:
    policy = policies.of(dependent) if dependent else None
    where = None
    if policy is not None and policy.review is not None:
        vetting = policy.vettings.get(canonical_version(version) or version or "") if tier is Tier.VETTED else None
        where = vetting.where if vetting is not None else policy.review.where
    return Gap(tier, dependent, version, dependency, text, fix, where)


async def tier_gaps(service: ClosureService, tier: Tier, policies: PolicySet, targets: Sequence[Target] = (),
                    *, limit: int = MAX_VETTED_RELEASES) -> tuple[list[Gap], int]:
    """Every gap of ``tier`` under ``policies`` on ``targets`` (each sentence once), and how many vetted releases
    were over ``limit`` and not checked. Raises what the closure service raises (MirrorError)."""
    memo: dict[tuple[object, ...], Followed | Missing] = {}
    found: dict[str, Gap] = {}
    unchecked = 0
    if tier is Tier.VETTED:
        releases = vetted_releases(policies)
        unchecked = max(0, len(releases) - limit)
        for name, version in releases[:limit]:
            started = time.monotonic()
            result = await service.closure([Requirement(name)], tier, targets, pins={name: version},
                                           policies=policies, memo=memo)
            await background_pause(time.monotonic() - started)  # a background count leaves the loop to requests
            for gap in gaps(result.closure, tier, policies):
                found.setdefault(gap.text, gap)
    elif requirements := reviewed_roots(policies):
        result = await service.closure(requirements, tier, targets, policies=policies, memo=memo)
        for gap in gaps(result.closure, tier, policies):
            found.setdefault(gap.text, gap)
    return list(found.values()), unchecked


async def tier_holes(service: ClosureService, policies: PolicySet, targets: Sequence[Target] = (),
                     *, limit: int = MAX_VETTED_RELEASES) -> HoleReport:
    """THE hole report of the curated tiers: every gap of a dependent the tier holds, ``reviewed`` first. What
    ``mirror check``, ``/healthz`` and the UI show. Raises MirrorError when the closures cannot be computed."""
    found: list[Gap] = []
    unchecked = 0
    for tier in CURATED:
        tier_found, over = await tier_gaps(service, tier, policies, targets, limit=limit)
        found += [g for g in tier_found if g.where is not None]
        unchecked += over
    return HoleReport(policies.version, tuple(found), unchecked)


async def opened(service: ClosureService, before: PolicySet, after: PolicySet,
                 targets: Sequence[Target] = ()) -> list[Gap]:
    """The gaps ``reviewed`` and ``vetted`` would have under ``after`` and do not have under ``before``: what a
    demotion, a block or an unvetting would break, each naming its dependent."""
    new: list[Gap] = []
    for tier in CURATED:
        had = {g.key for g in (await tier_gaps(service, tier, before, targets))[0]}
        new += [g for g in (await tier_gaps(service, tier, after, targets))[0]
                if g.key not in had and g.dependent is not None and g.text not in {n.text for n in new}]
    return new


class HoleCounter:
    """The holes of ``reviewed`` and ``vetted`` (:func:`tier_holes`) for ``/healthz`` and the UI, computed in the
    background (never on a request): after start-up, whenever the policies change, and every ``interval``
    seconds (pages and metadata come from the mirror's caches; metadata is read once per release)."""

    def __init__(self, service: ClosureService, policies: Callable[[], PolicySet], targets: Sequence[Target] = (),
                 *, interval: float = 900.0, delay: float = 0.0, poll: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._service = service
        self._policies = policies
        self._targets = tuple(targets)
        self._interval, self._delay, self._poll, self._clock, self._wall = interval, delay, poll, clock, wall
        #: the last report (None until first counted) and when it was made (seconds since the epoch)
        self.report: HoleReport | None = None
        self.counted_at: float | None = None
        self.version: str | None = None
        self.error: str | None = None
        self._at: float | None = None

    @property
    def counts(self) -> dict[str, int] | None:
        return {t.value: self.report.count(t) for t in CURATED} if self.report is not None else None

    async def refresh(self) -> None:
        """Count the holes of the policies in force now."""
        policies = self._policies()
        try:
            report = await tier_holes(self._service, policies, self._targets)
        except MirrorError as exc:
            self.error = str(exc)
            log.warning("holes not counted: %s", exc)
        else:
            self.report, self.error, self.counted_at = report, None, self._wall()
        self.version, self._at = policies.version, self._clock()

    async def run(self) -> None:
        BACKGROUND.set(True)  # nobody waits for a count: its decisions give way to the requests' in the CPU lane
        await asyncio.sleep(self._delay)  # start-up first: the first count fetches metadata not cached yet
        while True:
            due = self._at is None or self._clock() - self._at >= self._interval
            if due or self._policies().version != self.version:
                await self.refresh()
            await asyncio.sleep(self._poll)

    def health(self) -> dict[str, object]:
        """``counts`` per tier (None until first counted), the policy version they were counted for, the error,
        the first :data:`HEALTH_EXAMPLES` holes as ``check`` prints them and how many more there are, and the
        vetted releases not checked (over the cap)."""
        report = self.report
        listed = [g.message for g in report.gaps[:HEALTH_EXAMPLES]] if report is not None else []
        return {"counts": self.counts, "policy_version": self.version, "error": self.error, "holes": listed,
                "more": len(report.gaps) - len(listed) if report is not None else 0,
                "unchecked_vetted_releases": report.unchecked if report is not None else 0}
