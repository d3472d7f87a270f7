"""Pure views of a project page: what a tier may serve of it.

Before any tier rule, a page is reduced to what the mirror can *serve*: files whose bytes it can verify
(every advertised hash it can compute is well-formed and consistent, and one of them is stronger than
md5/sha1) and ``.metadata`` it can deliver with a hash (upstream's own, or one the mirror extracted from
the verified wheel). Installers abort when advertised metadata is missing, so nothing else is advertised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from msgspec.structs import replace
from packaging.utils import NormalizedName

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
from mirror.core.policy.evaluate import ProvenanceStatuses, canonical_version, decide_file, decide_project
from mirror.core.policy.model import PolicySet


def servable_file(f: DistFile, extracted: Mapping[str, str]) -> DistFile | None:
    """``f`` as the mirror can serve it, or None when its bytes cannot be verified or its name is unsafe.

    The result carries only the hashes the mirror checks (:func:`mirror.core.hashes.checked_hashes`: an
    algorithm it cannot compute is not shown to clients), upstream's ``.metadata`` hashes only when they
    are verifiable, and ``local_metadata``: the sha256 of metadata the mirror extracted from the verified
    file itself. ``extracted`` maps a file's sha256 to that metadata sha256.
    """
    hashes = f.checked_hashes()
    if hashes is None or not is_safe_filename(f.filename):
        return None
    local = extracted.get(hashes.get("sha256", ""))
    metadata = f.checked_metadata()
    if local is None and hashes == f.hashes and metadata == f.core_metadata:
        return f  # the common case: nothing to drop or add (and no copy of thousands of files)
    return replace(f, hashes=hashes, core_metadata=metadata, local_metadata=local)


def servable_view(detail: ProjectDetail, extracted: Mapping[str, str]) -> ProjectDetail:
    """The page with only servable files (see :func:`servable_file`)."""
    files = tuple(s for f in detail.files if (s := servable_file(f, extracted)) is not None)
    return replace(detail, files=files)


def advertised_metadata(tier: Tier, name: str, f: DistFile, policies: PolicySet) -> DistFile:
    """``f`` (servable, admitted to ``tier``) with the ``.metadata`` the tier advertises for it.

    ``all`` and ``reviewed`` advertise upstream's (verifiable) metadata, else what the mirror extracted.
    ``vetted`` advertises upstream's only when its sha256 is the one pinned at vetting time; otherwise
    only metadata the mirror extracted from the pinned bytes themselves (never upstream's unpinned file).
    """
    upstream = f.core_metadata
    if tier is Tier.VETTED and upstream is not None:
        policy = policies.of(name)
        vetting = policy.vettings.get(canonical_version(f.version) or "") if policy else None
        pin = vetting.metadata.get(f.filename) if vetting is not None else None
        if pin is None or upstream.get("sha256") != pin:
            upstream = None
    if upstream is None and f.local_metadata is not None:
        upstream = {"sha256": f.local_metadata}
    if upstream is f.core_metadata:
        return f
    return replace(f, core_metadata=upstream)


@dataclass(frozen=True, slots=True)
class TierView:
    """A tier's view of a project page, and until when it holds (a cooldown ending changes it)."""

    detail: ProjectDetail
    valid_until: datetime | None


def tier_view(tier: Tier, detail: ProjectDetail, policies: PolicySet, now: datetime,
              provenance: ProvenanceStatuses | None = None, *, name: str | None = None) -> TierView:
    """Apply the tier's policy to a (servable) page; ``provenance`` as for
    :func:`~mirror.core.policy.evaluate.decide_file`.

    Rules are those of ``name``, the normalized name the client asked for (default ``detail.name``,
    which the parser sets to the requested name too): never a name upstream's page supplies.
    Raises ProjectNotFound when the project is not in the tier. A blocked project gives an empty page
    with PEP 792 status ``quarantined`` and the block's reason, in every tier, so installers stop
    here instead of trying another index.
    """
    name = NormalizedName(name) if name is not None else detail.name
    detail = detail if detail.name == name else replace(detail, name=name)
    project = decide_project(tier, name, policies)
    if not project.admitted:
        policy = policies.of(name)
        block = policy.project_block if policy else None
        if block is None:
            raise ProjectNotFound(name, project.rule, project.change)
        status = ProjectStatus("quarantined", f"blocked by this index: {block.reason}")
        return TierView(replace(detail, files=(), versions=(), status=status), None)
    kept: list[DistFile] = []
    valid_until: datetime | None = None
    for f in detail.files:
        decision = decide_file(tier, name, f, policies, now, provenance)
        if decision.admitted:
            kept.append(advertised_metadata(tier, name, f, policies))
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
