"""Pure views of a project page: what a tier may serve of it.

Before any tier rule, a page is reduced to what the mirror can *serve*: files whose bytes it can verify
(upstream advertised a supported hash) and ``.metadata`` it can deliver with a hash (upstream's own,
or one the mirror extracted from the verified wheel). Installers abort when advertised metadata is
missing, so nothing else is advertised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from mirror.core.errors import ProjectNotFound
from mirror.core.models import (
    DistFile,
    ProjectDetail,
    ProjectEntry,
    ProjectList,
    ProjectStatus,
    Tier,
    is_safe_filename,
)
from mirror.core.policy.evaluate import ProvenanceStatuses, decide_file, decide_project
from mirror.core.policy.model import PolicySet


def servable_file(f: DistFile, extracted: Mapping[str, str]) -> DistFile | None:
    """``f`` as the mirror can serve it, or None when its bytes cannot be verified or its name is unsafe.

    ``extracted`` maps a file's sha256 to the sha256 of metadata the mirror extracted from it.
    """
    if f.verifiable_hash() is None or not is_safe_filename(f.filename):
        return None
    if f.metadata_hash() is not None:
        return f
    local = extracted.get(f.sha256 or "")
    if local is not None:
        return replace(f, core_metadata={"sha256": local})
    return f if f.core_metadata is None else replace(f, core_metadata=None)


def servable_view(detail: ProjectDetail, extracted: Mapping[str, str]) -> ProjectDetail:
    """The page with only servable files (see :func:`servable_file`)."""
    files = tuple(s for f in detail.files if (s := servable_file(f, extracted)) is not None)
    return replace(detail, files=files)


@dataclass(frozen=True, slots=True)
class TierView:
    """A tier's view of a project page, and until when it holds (a cooldown ending changes it)."""

    detail: ProjectDetail
    valid_until: datetime | None


def tier_view(tier: Tier, detail: ProjectDetail, policies: PolicySet, now: datetime,
              provenance: ProvenanceStatuses | None = None) -> TierView:
    """Apply the tier's policy to a (servable) page; ``provenance`` as for
    :func:`~mirror.core.policy.evaluate.decide_file`.

    Raises ProjectNotFound when the project is not in the tier. A blocked project gives an empty page
    with PEP 792 status ``quarantined`` and the block's reason, in every tier, so installers stop
    here instead of trying another index.
    """
    project = decide_project(tier, detail.name, policies)
    if not project.admitted:
        policy = policies.of(detail.name)
        block = policy.project_block if policy else None
        if block is None:
            raise ProjectNotFound(detail.name, project.rule, project.change)
        status = ProjectStatus("quarantined", f"blocked by this index: {block.reason}")
        return TierView(replace(detail, files=(), versions=(), status=status), None)
    kept: list[DistFile] = []
    valid_until: datetime | None = None
    for f in detail.files:
        decision = decide_file(tier, detail.name, f, policies, now, provenance)
        if decision.admitted:
            kept.append(f)
        elif decision.until is not None and (valid_until is None or decision.until < valid_until):
            valid_until = decision.until
    return TierView(replace(detail, files=tuple(kept)), valid_until)


def tier_projects(tier: Tier, upstream: ProjectList | None, policies: PolicySet) -> ProjectList:
    """The project list of a tier: upstream's minus blocked projects for ``all``; from policies otherwise."""
    if tier is Tier.ALL:
        assert upstream is not None
        entries = tuple(p for p in upstream.projects if decide_project(tier, p.normalized, policies).admitted)
        return ProjectList(entries, upstream.last_serial)
    names = sorted(n for n in policies.projects if decide_project(tier, n, policies).admitted)
    return ProjectList(tuple(ProjectEntry(n) for n in names), None)
