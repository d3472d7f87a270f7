"""The immutable advisory model: one vulnerability or malware report and the releases it names.

Built only by the parsers (``osv.parse_osv``, ``jsonapi.from_json_api``) and by ``make_range`` /
``make_affected``, which also precompute what matching needs (parsed bounds, parsed version lists), so a
check against thousands of releases never re-parses a version string. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from mirror.core.errors import MirrorError

#: The longest version string looked at; a longer one is not a version (and not worth parsing).
MAX_VERSION_LENGTH = 128


class AdvisoryError(MirrorError):
    """An advisory record is malformed; ``advisory_id`` (None when unknown) and ``field`` locate it."""

    def __init__(self, advisory_id: str | None, field: str, problem: str) -> None:
        self.advisory_id, self.field, self.problem = advisory_id, field, problem
        super().__init__(f"advisory {advisory_id or '(no id)'}: {field}: {problem}")


class AdvisorySource(enum.StrEnum):
    """Where an advisory came from."""

    OSV = "osv"  #: an OSV record (an imported file, or an entry of an OSV export)
    JSON_API = "json-api"  #: an entry of upstream's JSON API ``vulnerabilities`` list


class RangeType(enum.StrEnum):
    """The OSV range types this model knows; any other type is kept but never evaluated."""

    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"
    GIT = "GIT"


class EventKind(enum.StrEnum):
    """An OSV range event: a point on the range's timeline."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class Event:
    """One OSV event exactly as the record states it."""

    kind: EventKind
    version: str


#: A parsed bound: None is "0" for ``introduced`` (before every version) and "*" for ``limit`` (infinity).
Bound = Version | None


@dataclass(frozen=True, slots=True)
class VersionRange:
    """One OSV ``ranges`` entry.

    ``problem`` is None when the range can be evaluated against PEP 440 versions, else why not (a GIT range,
    an unknown type, a bound that is not a PEP 440 version); such a range never matches, while the explicit
    ``versions`` of the same entry still do. ``timeline`` and ``limits`` hold the parsed, sorted events.
    """

    type: str
    events: tuple[Event, ...]
    repo: str | None = None
    problem: str | None = None
    timeline: tuple[tuple[EventKind, Bound], ...] = field(default=(), repr=False, compare=False)
    limits: tuple[Bound, ...] = field(default=(), repr=False, compare=False)

    def describe(self) -> str:
        """The range as people read it: ``ECOSYSTEM range introduced 1.0, fixed 1.5``."""
        return f"{self.type} range " + ", ".join(f"{e.kind.value} {e.version}" for e in self.events)


@dataclass(frozen=True, slots=True)
class Affected:
    """The releases of one project (``name``, normalized) an advisory names.

    A release is affected when it lies in any evaluable range or is listed in ``versions``. ``fixed_in``
    holds fixed versions stated outside any range (the JSON API's ``fixed_in``). ``listed`` (the PEP 440
    ``versions``, parsed) and ``listed_raw`` (the strings as given) are precomputed by ``make_affected``.
    """

    name: NormalizedName
    ranges: tuple[VersionRange, ...] = ()
    versions: tuple[str, ...] = ()
    fixed_in: tuple[str, ...] = ()
    listed: frozenset[Version] = field(default=frozenset(), repr=False, compare=False)
    listed_raw: frozenset[str] = field(default=frozenset(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Advisory:
    """One advisory: a vulnerability (PYSEC, GHSA, ...) or a malware report (MAL) about PyPI projects.

    ``affected`` holds only the PyPI entries of the record. ``withdrawn`` set means the advisory no longer
    applies and never matches. ``summary`` is the record's summary, else the first line of its details
    (bounded). ``database_specific`` is the record's top-level block, frozen (mappings read-only, lists as
    tuples), or None.
    """

    source: AdvisorySource
    id: str
    modified: datetime | None
    affected: tuple[Affected, ...]
    aliases: tuple[str, ...] = ()
    summary: str = ""
    published: datetime | None = None
    withdrawn: datetime | None = None
    references: tuple[str, ...] = ()
    database_specific: Mapping[str, Any] | None = field(default=None, compare=False)

    def entries_for(self, name: NormalizedName) -> tuple[Affected, ...]:
        """The affected entries naming project ``name`` (already normalized)."""
        return tuple(a for a in self.affected if a.name == name)


def parse_version(text: str) -> Version | None:
    """``text`` as a PEP 440 version, or None when it is not one (or absurdly long)."""
    if len(text) > MAX_VERSION_LENGTH:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _bound(kind: EventKind, value: str, range_type: str) -> tuple[Bound, str | None]:
    """The parsed bound of one event, or (None, why it cannot be evaluated)."""
    if kind is EventKind.INTRODUCED and value == "0":
        return None, None
    if kind is EventKind.LIMIT and value == "*":
        return None, None
    # SemVer build metadata carries no precedence (SemVer 2.0 §10); PEP 440 would read it as a local label.
    text = value.split("+", 1)[0] if range_type == RangeType.SEMVER else value
    parsed = parse_version(text)
    if parsed is None:
        return None, f"{kind.value} {value!r} is not a PEP 440 version"
    return parsed, None


def make_range(range_type: str, events: Iterable[Event], repo: str | None = None) -> VersionRange:
    """A range with its timeline precomputed per the OSV evaluation algorithm.

    Events are sorted by version with ``introduced: "0"`` first; events with equal versions keep the order
    the record gives (Python's sort is stable), which is the only order the record's author stated.
    ``limit`` events are kept apart: the range applies only below one of them (or everywhere with none).
    """
    events = tuple(events)
    if range_type == RangeType.GIT:
        return VersionRange(range_type, events, repo, "GIT ranges name commits, not release versions")
    if range_type not in (RangeType.ECOSYSTEM, RangeType.SEMVER):
        return VersionRange(range_type, events, repo, f"range type {range_type!r} is not known")
    timeline: list[tuple[EventKind, Bound]] = []
    limits: list[Bound] = []
    for event in events:
        bound, problem = _bound(event.kind, event.version, range_type)
        if problem is not None:
            return VersionRange(range_type, events, repo, problem)
        if event.kind is EventKind.LIMIT:
            limits.append(bound)
        else:
            timeline.append((event.kind, bound))
    timeline.sort(key=lambda item: (0,) if item[1] is None else (1, item[1]))
    return VersionRange(range_type, events, repo, None, tuple(timeline), tuple(limits))


def make_affected(name: NormalizedName, ranges: Iterable[VersionRange] = (), versions: Iterable[str] = (),
                  fixed_in: Iterable[str] = ()) -> Affected:
    """An affected entry with its explicit versions parsed once (unparseable ones match only verbatim)."""
    versions = tuple(versions)
    parsed = (parse_version(v) for v in versions)
    return Affected(name, tuple(ranges), versions, tuple(fixed_in),
                    frozenset(v for v in parsed if v is not None), frozenset(versions))
