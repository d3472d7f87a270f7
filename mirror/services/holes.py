"""Holes in a curated tier: dependencies that the releases it serves need and that it does not serve.

A resolver facing a hole does not fail: it backtracks through older releases of the dependent until one's
dependencies fit (``requests`` 2017, with vendored dependencies). Holes are found with the closure walk itself
(:class:`~mirror.services.closure.ClosureService`), rooted at every project ``reviewed`` serves (the newest
release it admits) or at every project's newest vetted release (``vetted``), with the markers evaluated for
the configured targets. ``mirror check`` lists them, ``/healthz`` counts them (computed in the background),
and ``demote``/``block`` refuse a change that opens one (:func:`opened`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.version import Version

from mirror.core.closure_model import Closure
from mirror.core.models import Tier
from mirror.core.policy.model import PolicySet
from mirror.core.targets import Target
from mirror.services.closure import ClosureService


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
