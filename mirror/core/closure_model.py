"""What a dependency closure is made of: the caller's answers and the walk's result (plain, immutable values).

See :mod:`mirror.core.closure` for the walk itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from .metadata import CoreMetadata

RUN = "run"
BUILD = "build"


@dataclass(frozen=True, slots=True)
class Release:
    """The release the caller chose to follow, and the build requirements to include with it (when it
    will be installed from its sdist: see :mod:`mirror.core.buildsystem`)."""

    metadata: CoreMetadata
    build_requires: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class Missing:
    """The caller's answer for a project it cannot follow; ``reason`` completes "<project> …", ``fix`` is the
    reviewer command that would make it available (None when none is known)."""

    reason: str = "is not available"
    fix: str | None = None


#: What a provider answers: metadata (or a Release), or Missing / None for a hole.
Answer = CoreMetadata | Release | Missing | None


@dataclass(frozen=True, slots=True)
class Need:
    """A request for the metadata of ``project``; ``requirements`` are all those on it seen so far."""

    project: NormalizedName
    requirements: tuple[Requirement, ...]


@dataclass(frozen=True, slots=True)
class Edge:
    """``parent`` (None: a root) needs ``child`` through ``requirement``, as written in its metadata.

    ``kind`` is :data:`RUN` or :data:`BUILD`; ``extra`` is the parent's extra that brings the edge in;
    ``targets`` are the labels of the target environments where it holds.
    """

    child: NormalizedName
    requirement: Requirement
    parent: NormalizedName | None = None
    parent_version: str | None = None
    kind: str = RUN
    extra: str | None = None
    targets: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """Who needs it: ``flask 3.0.0``, ``requests 2.32.3[socks]``, or ``the root requirements``."""
        if self.parent is None:
            return "the root requirements"
        return f"{self.parent} {self.parent_version}" + (f"[{self.extra}]" if self.extra else "")

    def describe(self) -> str:
        """``needed by flask 3.0.0 (werkzeug>=3.0.0)`` / ``needed to build …`` / ``a root requirement (…)``."""
        if self.parent is None:
            return f"a root requirement ({self.requirement})"
        verb = "needed to build" if self.kind == BUILD else "needed by"
        return f"{verb} {self.source} ({self.requirement})"


@dataclass(frozen=True, slots=True)
class ClosureProject:
    """A project in the closure: the release followed, how deep it was first found, the extras asked of
    it, every edge that brings it in, and the targets it is needed on."""

    name: NormalizedName
    version: str
    depth: int
    metadata: CoreMetadata
    needed_by: tuple[Edge, ...]
    extras: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hole:
    """An edge whose project the provider could not give: the requirement that cannot be met, and the
    reviewer command that would fill it (from the provider's :class:`Missing`)."""

    edge: Edge
    reason: str
    fix: str | None = None

    def describe(self) -> str:
        """``requests 2.34.2 needs idna<4,>=2.5: idna is not in reviewed``."""
        who = "the root requirements need" if self.edge.parent is None else f"{self.edge.source} needs"
        return f"{who} {self.edge.requirement}: {self.edge.child} {self.reason}"


@dataclass(frozen=True, slots=True)
class Unsatisfied:
    """An edge the followed release does not satisfy (``needs idna<3`` while idna 3.7 is followed)."""

    edge: Edge
    version: str

    def describe(self) -> str:
        return f"{self.edge.source} needs {self.edge.requirement}, but {self.edge.child} {self.version} is followed"


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth a reviewer's eye that leaves the closure usable: an extra the release does not
    provide, a Requires-Python the target does not meet, an invalid line in the metadata, an edge not
    followed because of a bound or a marker."""

    project: NormalizedName
    text: str
    edge: Edge | None = None


@dataclass(frozen=True, slots=True)
class Closure:
    """The result: projects in discovery order, holes, unsatisfied edges, edges not followed, notes."""

    projects: Mapping[NormalizedName, ClosureProject]
    holes: tuple[Hole, ...] = ()
    unsatisfied: tuple[Unsatisfied, ...] = ()
    skipped: tuple[Note, ...] = ()
    notes: tuple[Note, ...] = ()
    targets: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every edge was followed to a release (no holes, nothing cut off by a bound)."""
        return not self.holes and not self.skipped
