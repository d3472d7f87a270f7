"""Floors, the pure part: which release a promotion records as a project's floor.

A floor is the oldest release ``reviewed`` admits of a project (see ``decide_release``). Resolvers backtrack
through every old release of a project until one's dependencies fit the index; with a floor, a tier missing a
dependency makes them fail naming it, instead of installing a release from years ago. The floor a promotion
records by default is the newest release ``reviewed`` admits at that moment (cooldown and every other rule
applied, so the tier never starts empty), or the release a lock or requirements file pins.
"""

from __future__ import annotations

from datetime import datetime

from packaging.version import InvalidVersion, Version

from .models import ProjectDetail, Tier
from .policy.model import PolicySet
from .sets import as_reviewed
from .tiers import NO_EVIDENCE, Evidence, TierView, decide_page


def newest_admitted(view: TierView) -> str | None:
    """The newest final release ``view`` admits a non-yanked file of (a pre-release only when no final one is
    admitted), as upstream writes its version; None when it admits none."""
    found: list[tuple[Version, str]] = []
    for release in view.releases:
        if release.version is None or not any(v.decision.admitted and not v.file.is_yanked for v in release.files):
            continue
        try:
            found.append((Version(release.version), release.version))
        except InvalidVersion:
            continue
    finals = [f for f in found if not f[0].is_prerelease]
    pool = finals or found
    return max(pool)[1] if pool else None


def floor_at_promotion(name: str, detail: ProjectDetail, policies: PolicySet, now: datetime,
                       evidence: Evidence = NO_EVIDENCE) -> str | None:
    """The floor promoting ``name`` records by default: the newest release ``reviewed`` would admit of it once
    promoted (its blocks and every tier rule applied), or None when it would admit none yet."""
    view = decide_page(Tier.REVIEWED, name, detail, evidence, as_reviewed(policies, name), now)
    return newest_admitted(view)
