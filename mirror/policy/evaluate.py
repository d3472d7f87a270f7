"""Pure policy evaluation: is a project, or one file, in a tier, and which rule decided.

``vetted`` ⊆ ``reviewed`` ⊆ ``all`` holds by construction: each tier first asks the tier below it.
Every :class:`Decision` names the rule, where it is written, and the command that would change it,
which is what ``mirror explain`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from ..models import DistFile, Tier
from .model import DEFAULT_LOCATION, Location, PolicySet


@dataclass(frozen=True, slots=True)
class Decision:
    """In or out of a tier, why, where the deciding rule is written, and how to change it."""

    admitted: bool
    rule: str
    where: Location | None = None
    change: str | None = None
    #: for a file held back by the cooldown: when it will be admitted
    until: datetime | None = None


def canonical_version(version: str | None) -> str | None:
    """The canonical form versions are compared in, or None for an unparseable version."""
    if version is None:
        return None
    try:
        return canonicalize_version(Version(version))
    except InvalidVersion:
        return None


def _is_prerelease(version: str | None) -> bool:
    try:
        return version is not None and Version(version).is_prerelease
    except InvalidVersion:
        return False


def decide_project(tier: Tier, name: str, policies: PolicySet) -> Decision:
    """Whether the project as a whole is served in ``tier`` (its files are decided separately)."""
    policy = policies.of(name)
    block = policy.project_block if policy else None
    if block is not None:
        return Decision(False, f"blocked: {block.reason} (by {block.signed.by})", block.where,
                        f"mirror unblock {name} --by NAME --reason TEXT")
    if tier is Tier.ALL:
        return Decision(True, "not blocked: every upstream project is in 'all'", DEFAULT_LOCATION,
                        f"mirror block {name} --by NAME --reason TEXT")
    if policy is None or policy.review is None:
        return Decision(False, "not reviewed: no [review] for this project", None,
                        f"mirror promote {name} --by NAME --note TEXT")
    if tier is Tier.REVIEWED:
        return Decision(True, f"reviewed by {policy.review.signed.by}", policy.review.where,
                        f"mirror demote {name} --by NAME --reason TEXT")
    if not policy.vettings:
        return Decision(False, "no release of this project is vetted", policy.review.where,
                        f"mirror vet {name} VERSION --by NAME --note TEXT")
    return Decision(True, f"{len(policy.vettings)} release(s) vetted", policy.review.where,
                    f"mirror unvet {name} VERSION --by NAME --reason TEXT")


def decide_file(tier: Tier, name: str, f: DistFile, policies: PolicySet, now: datetime) -> Decision:
    """Whether file ``f`` of project ``name`` is served in ``tier`` at time ``now`` (UTC-aware)."""
    return decide_version(tier, name, f.version, policies, now, file=f)


def decide_version(tier: Tier, name: str, version: str | None, policies: PolicySet, now: datetime,
                   *, file: DistFile | None = None) -> Decision:
    """As :func:`decide_file`; without ``file`` the file-level rules (hash pin, cooldown) are skipped."""
    project = decide_project(tier, name, policies)
    if not project.admitted:
        return project
    policy = policies.of(name)
    canonical = canonical_version(version)
    if policy is not None:
        for block in policy.blocks:
            if block.versions is not None and block.matches(version):
                return Decision(False, f"version blocked ({block.versions}): {block.reason}", block.where,
                                f"mirror unblock {name}=={version} --by NAME --reason TEXT")
    if tier is Tier.ALL:
        return project
    assert policy is not None and policy.review is not None  # decide_project admitted it
    review = policy.review
    rules = policies.rules
    if canonical is None:
        return Decision(False, "the file's version cannot be determined from its name", review.where)
    if canonical in review.exclude:
        return Decision(False, f"version {version} is excluded by the review", review.where,
                        f"edit 'exclude' in {review.where.file}")
    if review.versions is not None and not review.versions.contains(version, prereleases=True):
        return Decision(False, f"version {version} is outside the reviewed range {review.versions}",
                        review.where, f"edit 'versions' in {review.where.file}")
    vetting = policy.vettings.get(canonical)
    pinned = None
    if vetting is not None and file is not None:
        pinned = vetting.files.get(file.filename)
    vetted_file = pinned is not None and file is not None and pinned == file.sha256
    allow_pre = review.allow_prereleases if review.allow_prereleases is not None else rules.allow_prereleases
    vetted_release = vetted_file or (file is None and vetting is not None)
    if _is_prerelease(version) and not allow_pre and not vetted_release:
        where = review.where if review.allow_prereleases is not None else rules.prereleases_where
        return Decision(False, f"{version} is a pre-release and pre-releases are not admitted", where,
                        f"set allow_prereleases = true in {review.where.file}")
    if tier is Tier.VETTED:
        if vetting is None:
            return Decision(False, f"version {version} is not vetted", review.where,
                            f"mirror vet {name} {version} --by NAME --note TEXT")
        if file is None:
            return Decision(True, f"vetted by {vetting.signed.by}", vetting.where,
                            f"mirror unvet {name} {version} --by NAME --reason TEXT")
        if pinned is None:
            return Decision(False, f"{file.filename} was not among the files vetted for {version}", vetting.where,
                            f"mirror vet {name} {version} --by NAME --note TEXT")
        if not vetted_file:
            return Decision(False, f"{file.filename} no longer matches the sha256 pinned when {version} was "
                                   f"vetted (pinned {pinned}, upstream now {file.sha256})", vetting.where,
                            f"mirror unvet {name} {version} ... and vet again after review")
        return Decision(True, f"vetted by {vetting.signed.by}, sha256 matches the pin", vetting.where,
                        f"mirror unvet {name} {version} --by NAME --reason TEXT")
    # reviewed
    if vetted_file:
        return Decision(True, "vetted release: admitted without cooldown", vetting.where if vetting else None,
                        f"mirror unvet {name} {version} --by NAME --reason TEXT")
    if file is None:
        return Decision(True, f"in the reviewed range of {name}", review.where,
                        f"mirror block {name}=={version} --by NAME --reason TEXT")
    days = review.cooldown_days if review.cooldown_days is not None else rules.cooldown_days
    where = review.where if review.cooldown_days is not None else rules.cooldown_where
    if days > 0:
        if file.upload_time is None:
            return Decision(False, "upload time unknown: held back by the cooldown", where,
                            f"mirror vet {name} {version} --by NAME --note TEXT")
        until = file.upload_time + timedelta(days=days)
        if now < until:
            return Decision(False, f"uploaded {file.upload_time:%Y-%m-%d %H:%M} UTC, inside the {days:g}-day "
                                   f"cooldown until {until:%Y-%m-%d %H:%M} UTC", where,
                            f"mirror vet {name} {version} --by NAME --note TEXT", until=until)
    return Decision(True, f"reviewed by {review.signed.by}; older than the {days:g}-day cooldown", review.where,
                    f"mirror block {name}=={version} --by NAME --reason TEXT")
