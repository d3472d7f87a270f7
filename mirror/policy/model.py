"""Frozen policy rules, each carrying where it was written (file and line) for ``explain``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName


@dataclass(frozen=True, slots=True)
class Location:
    """Where a rule is written: a policy file and a line (0 when the rule is a built-in default)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


DEFAULT_LOCATION = Location("built-in default")


@dataclass(frozen=True, slots=True)
class Signature:
    """Who decided, when, and why."""

    by: str
    at: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    """A block of a whole project (``versions`` None) or of the versions matching a specifier."""

    versions: SpecifierSet | None
    reason: str
    signed: Signature
    where: Location

    def matches(self, version: str | None) -> bool:
        if self.versions is None:
            return True
        # A file whose version cannot be determined is blocked when any version block exists: safe side.
        return version is None or self.versions.contains(version, prereleases=True)


@dataclass(frozen=True, slots=True)
class Review:
    """A project's promotion into ``reviewed`` and its release rules."""

    signed: Signature
    where: Location
    versions: SpecifierSet | None = None
    exclude: frozenset[str] = frozenset()
    cooldown_days: float | None = None
    allow_prereleases: bool | None = None


@dataclass(frozen=True, slots=True)
class Vetting:
    """A vetted release: the files admitted to ``vetted``, with the sha256 pinned at vetting time."""

    version: str
    files: Mapping[str, str]
    signed: Signature
    where: Location

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))


@dataclass(frozen=True, slots=True)
class Uploaders:
    """The identities recorded as allowed to publish a project (trust on first use)."""

    maintainers: tuple[str, ...]
    publishers: tuple[str, ...]
    signed: Signature
    where: Location


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    """Everything the policy files say about one project."""

    name: NormalizedName
    file: str
    review: Review | None = None
    blocks: tuple[Block, ...] = ()
    vettings: Mapping[str, Vetting] = field(default_factory=dict)  # normalized version -> vetting
    uploaders: Uploaders | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "vettings", MappingProxyType(dict(self.vettings)))

    @property
    def project_block(self) -> Block | None:
        """The block of the whole project, if any."""
        return next((b for b in self.blocks if b.versions is None), None)


@dataclass(frozen=True, slots=True)
class TierRules:
    """Tier-wide defaults from ``tiers.toml``."""

    cooldown_days: float = 7.0
    allow_prereleases: bool = False
    require_uploaders: bool = True
    #: where each setting is written (the built-in default when tiers.toml does not set it)
    cooldown_where: Location = DEFAULT_LOCATION
    prereleases_where: Location = DEFAULT_LOCATION
    uploaders_where: Location = DEFAULT_LOCATION


@dataclass(frozen=True, slots=True)
class PolicySet:
    """All policies in force; ``version`` changes whenever any policy file's content changes."""

    rules: TierRules = TierRules()
    projects: Mapping[NormalizedName, ProjectPolicy] = field(default_factory=dict)
    version: str = "empty"

    def __post_init__(self) -> None:
        object.__setattr__(self, "projects", MappingProxyType(dict(self.projects)))

    def of(self, project: str) -> ProjectPolicy | None:
        return self.projects.get(project)  # type: ignore[call-overload]
