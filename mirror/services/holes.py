"""Holes in a curated tier: dependencies that the releases it serves need and that it does not serve.

A resolver facing a hole does not fail: it backtracks through older releases of the dependent until one's
dependencies fit (``requests`` 2017, with vendored dependencies). Holes are found with the closure walk itself
(:class:`~mirror.services.closure.ClosureService`), rooted at every project ``reviewed`` serves (the newest
release it admits) or at every project's newest vetted release (``vetted``), with the markers evaluated for
the configured targets. ``mirror check`` lists them, ``/healthz`` counts them (computed in the background),
and ``demote``/``block`` refuse a change that opens one (:func:`opened`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.version import Version

from mirror.core.closure_model import Closure
from mirror.core.errors import MirrorError
from mirror.core.models import Tier
from mirror.core.policy.model import PolicySet
from mirror.core.targets import Target
from mirror.services.closure import ClosureService

log = logging.getLogger("mirror.holes")


@dataclass(frozen=True, slots=True)
class Gap:
    """One hole or unsatisfied requirement: the dependent (None: the project itself serves nothing), the
    dependency, and the sentence for the reviewer (``requests 2.34.2 needs idna<4,>=2.5: idna is not in …``)."""

    dependent: str | None
    dependency: str
    text: str

    @property
    def key(self) -> tuple[str | None, str]:
        return self.dependent, self.dependency


def roots(tier: Tier, policies: PolicySet) -> tuple[list[Requirement], dict[str, str]]:
    """The closure roots of ``tier``: every reviewed, unblocked project (``reviewed``), or every project's newest
    vetted release (``vetted``, pinned)."""
    found: list[Requirement] = []
    pins: dict[str, str] = {}
    for name, policy in sorted(policies.projects.items()):
        if policy.review is None or policy.project_block is not None:
            continue
        if tier is Tier.VETTED:
            if not policy.vettings:
                continue
            pins[name] = max(policy.vettings, key=Version)
        found.append(Requirement(name))
    return found, pins


def gaps(closure: Closure) -> list[Gap]:
    """The closure's holes and unsatisfied requirements, as the reviewer reads them."""
    found: list[Gap] = []
    for hole in closure.holes:
        edge = hole.edge
        if edge.parent is None:
            found.append(Gap(None, edge.child, f"{edge.child} {hole.reason}"))
        else:
            found.append(Gap(edge.parent, edge.child, hole.describe()))
    found += [Gap(u.edge.parent, u.edge.child, u.describe()) for u in closure.unsatisfied if u.edge.parent]
    return found


async def tier_gaps(service: ClosureService, tier: Tier, policies: PolicySet,
                    targets: Sequence[Target] = ()) -> list[Gap]:
    """Every gap of ``tier`` under ``policies`` on ``targets``."""
    found, pins = roots(tier, policies)
    if not found:
        return []
    result = await service.closure(found, tier, targets, pins=pins, policies=policies)
    return gaps(result.closure)


async def opened(service: ClosureService, before: PolicySet, after: PolicySet,
                 targets: Sequence[Target] = ()) -> list[Gap]:
    """The gaps ``reviewed`` and ``vetted`` would have under ``after`` and do not have under ``before``: what a
    demotion or a block would break, each naming its dependent."""
    new: list[Gap] = []
    for tier in (Tier.REVIEWED, Tier.VETTED):
        had = {g.key for g in await tier_gaps(service, tier, before, targets)}
        new += [g for g in await tier_gaps(service, tier, after, targets)
                if g.key not in had and g.dependent is not None and g.text not in {n.text for n in new}]
    return new


class HoleCounter:
    """The holes of ``reviewed`` and ``vetted`` for ``/healthz``, computed in the background (never on a request):
    after start-up, whenever the policies change, and every ``interval`` seconds (pages and metadata come from
    the mirror's caches; metadata is read once per release)."""

    def __init__(self, service: ClosureService, policies: Callable[[], PolicySet], targets: Sequence[Target] = (),
                 *, interval: float = 900.0, delay: float = 0.0, poll: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._policies = policies
        self._targets = tuple(targets)
        self._interval, self._delay, self._poll, self._clock = interval, delay, poll, clock
        self.counts: dict[str, int] | None = None
        self.version: str | None = None
        self.error: str | None = None
        self._at: float | None = None

    async def refresh(self) -> None:
        """Count the holes of the policies in force now."""
        policies = self._policies()
        counts: dict[str, int] = {}
        try:
            for tier in (Tier.REVIEWED, Tier.VETTED):
                counts[tier.value] = sum(1 for g in await tier_gaps(self._service, tier, policies, self._targets)
                                         if g.dependent is not None)
        except MirrorError as exc:
            self.error = str(exc)
            log.warning("holes not counted: %s", exc)
        else:
            self.counts, self.error = counts, None
        self.version, self._at = policies.version, self._clock()

    async def run(self) -> None:
        await asyncio.sleep(self._delay)  # start-up first: the first count fetches metadata not cached yet
        while True:
            due = self._at is None or self._clock() - self._at >= self._interval
            if due or self._policies().version != self.version:
                await self.refresh()
            await asyncio.sleep(self._poll)

    def health(self) -> dict[str, object]:
        """``counts`` per tier (None until first counted), the policy version they were counted for, the error."""
        return {"counts": self.counts, "policy_version": self.version, "error": self.error}
