"""Frozen policy rules, each carrying where it was written (file and line) for ``explain``."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName


@functools.lru_cache(maxsize=1 << 16)
def spec_contains(spec: SpecifierSet, version: str) -> bool:
    """``version`` in ``spec``, pre-releases included; cached because pages repeat versions a lot."""
    return spec.contains(version, prereleases=True)


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
        return version is None or spec_contains(self.versions, version)


@dataclass(frozen=True, slots=True)
class Review:
    """A project's promotion into ``reviewed`` and its release rules."""

    signed: Signature
    where: Location
    versions: SpecifierSet | None = None
    exclude: frozenset[str] = frozenset()
    cooldown_days: float | None = None
    allow_prereleases: bool | None = None
    #: the oldest release admitted (canonical version; ``floor = "2.31.0"``), None without a floor: releases
    #: below it stay out of ``reviewed`` so that resolvers cannot backtrack to them (vetted releases excepted)
    floor: str | None = None
    floor_where: Location | None = None


class FloorMode(enum.StrEnum):
    """What ``mirror promote`` records as a project's floor by default (``tiers.toml``, ``[reviewed] floor``)."""

    LATEST_AT_PROMOTION = "latest-at-promotion"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Vetting:
    """A vetted release: the files admitted to ``vetted``, with the sha256 pinned at vetting time.

    ``provenance`` maps a filename to the identity of the trusted publisher that ``mirror vet``
    verified, offline, as the signer of that file's pinned sha256 (PEP 740). ``metadata`` maps a
    filename to the sha256 of its PEP 658 ``.metadata`` file as upstream advertised it at vetting time.
    """

    version: str
    files: Mapping[str, str]
    signed: Signature
    where: Location
    provenance: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


# --------------------------------------------------------------------------- trusted publishers


class PublisherSyntaxError(ValueError):
    """A publisher identity string or table does not describe a trusted publisher; ``key`` names the
    offending field (``repository``, ``workflow``, ``email``...) when one is to blame."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


# Strict on purpose: identities come from policy files, reviewers and (as unsigned claims) upstream, and are
# printed in messages and in commands for reviewers to paste. Only characters that are inert in a shell and
# in TOML, and the shapes the publishers really have (no "." or ".." path segments, no leading "-").
_SEGMENT = r"(?!\.{1,2}(?:/|\Z))[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}"
_GITHUB_REPO = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9-]{{0,38}}/{_SEGMENT}\Z")
_GITLAB_REPO = re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT}){{1,20}}\Z")
_WORKFLOW = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,250}\.ya?ml\Z")
_GITLAB_PATH = re.compile(rf"^(?:{_SEGMENT}/){{0,20}}[A-Za-z0-9_.][A-Za-z0-9_.-]{{0,250}}\.ya?ml\Z")
_EMAIL = re.compile(r"^[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+\Z")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}\Z")


@dataclass(frozen=True, slots=True)
class GitHubPublisher:
    """GitHub Actions: the repository (``owner/name``) and the workflow file that published."""

    repository: str
    workflow: str
    kind: ClassVar[str] = "GitHub"

    def __post_init__(self) -> None:
        if not _GITHUB_REPO.match(self.repository):
            raise PublisherSyntaxError(f"GitHub repository must be OWNER/NAME, not {self.repository!r}",
                                       "repository")
        if not _WORKFLOW.match(self.workflow):
            raise PublisherSyntaxError(
                f"GitHub workflow must be the workflow file name (e.g. release.yml), not {self.workflow!r}",
                "workflow")

    @property
    def identity(self) -> str:
        return f"GitHub:{self.repository}@{self.workflow}"


@dataclass(frozen=True, slots=True)
class GitLabPublisher:
    """GitLab CI/CD: the project path (``group/[subgroup/]name``) and the CI configuration file path."""

    repository: str
    workflow: str
    kind: ClassVar[str] = "GitLab"

    def __post_init__(self) -> None:
        if not _GITLAB_REPO.match(self.repository):
            raise PublisherSyntaxError(f"GitLab repository must be GROUP/NAME, not {self.repository!r}",
                                       "repository")
        if not _GITLAB_PATH.match(self.workflow):
            raise PublisherSyntaxError(
                f"GitLab workflow must be the CI file path (e.g. .gitlab-ci.yml), not {self.workflow!r}",
                "workflow")

    @property
    def identity(self) -> str:
        return f"GitLab:{self.repository}@{self.workflow}"


@dataclass(frozen=True, slots=True)
class GooglePublisher:
    """Google Cloud: the e-mail address of the service account that published."""

    email: str
    kind: ClassVar[str] = "Google"

    def __post_init__(self) -> None:
        if not _EMAIL.match(self.email):
            raise PublisherSyntaxError(
                f"Google email must be a service account's e-mail address, not {self.email!r}", "email")

    @property
    def identity(self) -> str:
        return f"Google:{self.email}"


@dataclass(frozen=True, slots=True)
class CircleCIPublisher:
    """CircleCI: the project id and the pipeline definition id (UUIDs)."""

    project_id: str
    pipeline_definition_id: str
    kind: ClassVar[str] = "CircleCI"

    def __post_init__(self) -> None:
        for key, value in (("project_id", self.project_id), ("pipeline_definition_id", self.pipeline_definition_id)):
            if not _ID.match(value):
                raise PublisherSyntaxError(f"CircleCI {key} must be a UUID, not {value!r}", key)

    @property
    def identity(self) -> str:
        return f"CircleCI:{self.project_id}/{self.pipeline_definition_id}"


TrustedPublisher = GitHubPublisher | GitLabPublisher | GooglePublisher | CircleCIPublisher
PUBLISHER_KINDS: dict[str, type] = {c.kind: c for c in (GitHubPublisher, GitLabPublisher, GooglePublisher,
                                                          CircleCIPublisher)}


def parse_identity(text: str) -> TrustedPublisher:
    """``GitHub:owner/repo@release.yml``, ``GitLab:group/repo@.gitlab-ci.yml``, ``Google:EMAIL`` or
    ``CircleCI:PROJECT_ID/PIPELINE_DEFINITION_ID`` → the publisher; raises PublisherSyntaxError."""
    kind, sep, rest = text.strip().partition(":")
    if not sep or kind not in PUBLISHER_KINDS:
        raise PublisherSyntaxError(f"{text!r} is not a publisher identity: write KIND:... with KIND one of "
                                   + ", ".join(PUBLISHER_KINDS))
    if kind in ("GitHub", "GitLab"):
        repository, at, workflow = rest.partition("@")
        if not at:
            raise PublisherSyntaxError(f"{text!r}: write {kind}:REPOSITORY@WORKFLOW_FILE")
        return PUBLISHER_KINDS[kind](repository, workflow)
    if kind == "Google":
        return GooglePublisher(rest)
    project_id, slash, pipeline = rest.partition("/")
    if not slash:
        raise PublisherSyntaxError(f"{text!r}: write CircleCI:PROJECT_ID/PIPELINE_DEFINITION_ID")
    return CircleCIPublisher(project_id, pipeline)


def claimed_identity(publisher: object) -> str | None:
    """The identity a PEP 740 ``publisher`` object claims (unverified), or None when it names none."""
    if not isinstance(publisher, Mapping):
        return None
    kind = publisher.get("kind")
    try:
        if kind == "GitHub":
            return GitHubPublisher(str(publisher.get("repository")), str(publisher.get("workflow"))).identity
        if kind == "GitLab":
            return GitLabPublisher(str(publisher.get("repository")), str(publisher.get("workflow_filepath"))).identity
        if kind == "Google":
            return GooglePublisher(str(publisher.get("email"))).identity
        if kind == "CircleCI":
            return CircleCIPublisher(str(publisher.get("project_id")),
                                     str(publisher.get("pipeline_definition_id"))).identity
    except PublisherSyntaxError:
        return None
    return None


@dataclass(frozen=True, slots=True)
class ProvenanceRule:
    """A project's ``[provenance]``: the pinned trusted publishers, and whether ``vetted`` requires
    verified provenance for every file."""

    require: bool
    publishers: tuple[TrustedPublisher, ...]
    signed: Signature
    where: Location
    #: where each pinned publisher is written, in the order of ``publishers``
    publisher_where: tuple[Location, ...] = ()

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(p.identity for p in self.publishers)


@dataclass(frozen=True, slots=True)
class ProvenanceStatus:
    """The latest background verification of the provenance upstream serves now for one file (by sha256).

    ``verified`` is the pinned publisher's identity when the provenance verified, else None and
    ``problem`` says why in plain words; ``claimed`` holds the identities the document claims (unsigned,
    unverified: data to show, never a basis for a command). ``signed_by`` is, when the signature is valid
    but not a pinned publisher's, the identity that verifiably signed instead (a real publisher change).
    """

    verified: str | None
    problem: str = ""
    claimed: tuple[str, ...] = ()
    checked_at: datetime | None = None
    #: the pinned identities it was checked against (a status checked against other pins is ignored)
    pinned: tuple[str, ...] = ()
    signed_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.verified is not None


@dataclass(frozen=True, slots=True)
class Uploaders:
    """The identities recorded as allowed to publish a project (trust on first use)."""

    maintainers: tuple[str, ...]
    publishers: tuple[str, ...]
    signed: Signature
    where: Location


class WaivedRule(enum.StrEnum):
    """The rules a waiver can lift for one release (malware never: it always blocks)."""

    VULNERABILITY = "vulnerability"
    LICENSE = "license"
    COOLDOWN = "cooldown"


@dataclass(frozen=True, slots=True)
class Waiver:
    """A time-boxed exception for one release (``[[waiver]]``): ``rule`` does not hold ``version`` back until
    ``until``. ``advisory`` (vulnerability waivers only) limits it to one advisory (by id or alias); without it,
    every advisory known to affect the release is waived."""

    version: str  #: canonical (normalized) version
    rule: WaivedRule
    until: datetime
    reason: str
    signed: Signature
    where: Location
    advisory: str | None = None

    def active(self, now: datetime) -> bool:
        return now < self.until

    def covers(self, ids: tuple[str, ...]) -> bool:
        """Whether it waives an advisory known by any of ``ids`` (its id and aliases)."""
        return self.advisory is None or self.advisory in ids


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    """Everything the policy files say about one project."""

    name: NormalizedName
    file: str
    review: Review | None = None
    blocks: tuple[Block, ...] = ()
    vettings: Mapping[str, Vetting] = field(default_factory=dict)  # normalized version -> vetting
    uploaders: Uploaders | None = None
    provenance: ProvenanceRule | None = None
    waivers: tuple[Waiver, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vettings", MappingProxyType(dict(self.vettings)))

    @property
    def project_block(self) -> Block | None:
        """The block of the whole project, if any."""
        return next((b for b in self.blocks if b.versions is None), None)

    def waivers_of(self, rule: WaivedRule, version: str | None) -> tuple[Waiver, ...]:
        """The waivers of ``rule`` for ``version`` (canonical), active or not."""
        return tuple(w for w in self.waivers if w.rule is rule and w.version == version) if self.waivers else ()


class RuleMode(enum.StrEnum):
    """What a rule from evidence does to a release it applies to: keep it out, serve it and log it (shadow
    mode), or nothing."""

    HOLD = "hold"
    WARN = "warn"
    ALLOW = "allow"

    @property
    def strength(self) -> int:
        return {"allow": 0, "warn": 1, "hold": 2}[self.value]


@dataclass(frozen=True, slots=True)
class EvidenceRules:
    """One tier's rules from evidence (``tiers.toml``): known vulnerabilities and licences.

    ``licenses`` is the allowlist, canonical and casefolded (None: no licence rule in this tier);
    ``licenses_text`` the entries as written. ``unlisted_license`` applies to a release whose licence is known
    and not allowed; ``unknown_license`` to one whose licence is unknown or not read yet.
    """

    vulnerable: RuleMode
    vulnerable_where: Location = DEFAULT_LOCATION
    licenses: frozenset[str] | None = None
    licenses_text: tuple[str, ...] = ()
    licenses_where: Location = DEFAULT_LOCATION
    unlisted_license: RuleMode = RuleMode.HOLD
    unlisted_where: Location = DEFAULT_LOCATION
    unknown_license: RuleMode = RuleMode.HOLD
    unknown_where: Location = DEFAULT_LOCATION


#: The built-in rules: known vulnerabilities are served with a warning in ``all``, held in the curated tiers.
DEFAULT_EVIDENCE_RULES: Mapping[str, EvidenceRules] = MappingProxyType({
    "all": EvidenceRules(RuleMode.WARN),
    "reviewed": EvidenceRules(RuleMode.HOLD),
    "vetted": EvidenceRules(RuleMode.HOLD),
})


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
    #: the floor a promotion records by default, and where that is written
    floor: FloorMode = FloorMode.LATEST_AT_PROMOTION
    floor_where: Location = DEFAULT_LOCATION
    #: tier name ("all", "reviewed", "vetted") → its rules from evidence
    evidence: Mapping[str, EvidenceRules] = field(default_factory=lambda: DEFAULT_EVIDENCE_RULES)


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
