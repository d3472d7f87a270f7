"""Which releases an advisory affects, by OSV semantics with PEP 440 ordering, and where the fix is.

The one decision is ``match``; ``affects``, ``fixed_versions`` and ``lowest_fixed_above`` are built on it.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mirror.core.advisories.model import Advisory, Affected, EventKind, VersionRange, parse_version

#: OpenSSF's malicious-packages database prefixes its ids (and others' aliases of them) with this.
MALWARE_PREFIX = "MAL-"


@dataclass(frozen=True, slots=True)
class Match:
    """Why a release is affected: ``reason`` is one line for explain, e.g. ``in ECOSYSTEM range ...``."""

    advisory_id: str
    project: NormalizedName
    version: str
    reason: str


def match(advisory: Advisory, project: str, version: str) -> Match | None:
    """How ``advisory`` affects release ``version`` of ``project``, or None when it does not.

    OSV semantics (the schema's ``IsVulnerable``): a release is affected when an affected entry names the
    project (names compared normalized, PEP 503) and the version is in its ``versions`` list or inside one
    of its evaluable ranges.

    - A withdrawn advisory never matches.
    - ``versions``: equality under PEP 440 (``1.0`` is ``1.0.0``); a listed string that is not a PEP 440
      version matches only itself, verbatim.
    - ECOSYSTEM and SEMVER ranges: events sorted by PEP 440 order, ``introduced: "0"`` first; a version at
      or after ``introduced`` is affected until one at or after ``fixed`` or after ``last_affected``; with
      ``limit`` events the range applies only below one of them (``"*"``: no limit). Pre-, post- and
      dev-releases take their PEP 440 places (``2.0.dev1 < 2.0rc1 < 2.0 < 2.0.post1``): with ``fixed: 2.0``,
      ``2.0rc1`` is affected and ``2.0.post1`` is not.
    - GIT ranges, ranges of an unknown type and ranges with a bound that is not PEP 440 cannot be evaluated
      and never match; the entry's explicit ``versions`` still do.
    - A local version (``1.0+patched``) is judged as its public version: an advisory cannot know what a
      local label changes, so a local build of an affected release counts as affected.
    - A release version that is not PEP 440 can only match the ``versions`` list, verbatim.
    """
    if advisory.withdrawn is not None:
        return None
    name = canonicalize_name(project)
    return _match(advisory, advisory.entries_for(name), name, version)


@functools.lru_cache(maxsize=1 << 16)
def _parsed(version: str) -> tuple[Version | None, Version | None]:
    """A release version parsed once: (PEP 440 version or None, its public version)."""
    parsed = parse_version(version)
    public = None if parsed is None else (Version(parsed.public) if parsed.local is not None else parsed)
    return parsed, public


def _match(advisory: Advisory, entries: tuple[Affected, ...], name: NormalizedName, version: str) -> Match | None:
    parsed, public = _parsed(version)
    for entry in entries:
        if _listed(entry, version, parsed, public):
            return Match(advisory.id, name, version, "listed among the affected versions")
        if public is None:
            continue
        for range_ in entry.ranges:
            if _in_range(public, range_):
                return Match(advisory.id, name, version, f"in {range_.describe()}")
    return None


class ProjectMatcher:
    """``match`` and ``lowest_fixed_above`` for many releases of one project against many advisories, with the
    same answers: each advisory's entries for the project are found once, each version parsed once, each
    advisory's fixed versions sorted once (a page of hundreds of releases against a hundred advisories)."""

    def __init__(self, advisories: Iterable[Advisory], project: str) -> None:
        self.name = canonicalize_name(project)
        self._entries = [(a, entries) for a in advisories
                         if a.withdrawn is None and (entries := a.entries_for(self.name))]
        self._by_advisory = {id(a): entries for a, entries in self._entries}
        self._fixed: dict[int, tuple[tuple[Version, str], ...]] = {}

    def matches(self, version: str) -> list[tuple[Advisory, Match]]:
        """Every advisory affecting ``version``, with how, in the advisories' order."""
        found = []
        for advisory, entries in self._entries:
            m = _match(advisory, entries, self.name, version)
            if m is not None:
                found.append((advisory, m))
        return found

    def matches_all(self, versions: Iterable[str]) -> dict[str, list[tuple[Advisory, Match]]]:
        """:meth:`matches` of every version in ``versions`` at once, with the same answers: the versions are
        sorted once and each range is located among them by bisection, so the cost grows with the advisories
        and the releases they affect, not with their product."""
        chosen = list(dict.fromkeys(versions))
        parsed = [(v, *_parsed(v)) for v in chosen]
        ordered = sorted(((public, v) for v, _, public in parsed if public is not None), key=lambda item: item[0])
        keys = [public for public, _ in ordered]
        by_version: dict[Version, list[str]] = {}
        for v, exact, public in parsed:
            for key in {exact, public} - {None}:
                assert key is not None
                by_version.setdefault(key, []).append(v)
        found: dict[str, list[tuple[Advisory, Match]]] = {v: [] for v in chosen}
        for advisory, entries in self._entries:
            reasons: dict[str, str] = {}
            for entry in entries:
                listed = {v for key in entry.listed for v in by_version.get(key, ())}
                listed |= {v for v in entry.listed_raw if v in found}
                for v in listed:
                    reasons.setdefault(v, "listed among the affected versions")
                for range_ in entry.ranges:
                    if range_.problem is None:
                        inside = _range_slice(range_, keys)
                        if inside:
                            text = f"in {range_.describe()}"
                            for i in inside:
                                reasons.setdefault(ordered[i][1], text)
            for v, reason in reasons.items():  # per version, in the advisories' order, as ``matches``
                found[v].append((advisory, Match(advisory.id, self.name, v, reason)))
        return found

    def lowest_fixed_above(self, advisory: Advisory, version: str) -> str | None:
        """As :func:`lowest_fixed_above`."""
        current = _parsed(version)[0]
        if current is None:
            return None
        key = id(advisory)
        fixed = self._fixed.get(key)
        if fixed is None:
            fixed = self._fixed[key] = tuple((v, text) for text in fixed_versions(advisory, self.name)
                                             if (v := _parsed(text)[0]) is not None)
        entries = self._by_advisory.get(key) or advisory.entries_for(self.name)
        return next((text for v, text in fixed
                     if v > current and _match(advisory, entries, self.name, text) is None), None)


def affects(advisory: Advisory, project: str, version: str) -> bool:
    """Whether ``advisory`` affects release ``version`` of ``project`` (see ``match``)."""
    return match(advisory, project, version) is not None


def is_malware(advisory: Advisory) -> bool:
    """Whether the advisory is a malicious-package report: its id or one of its aliases starts ``MAL-``.

    Says nothing about withdrawal or which releases: ``match`` decides those.
    """
    return any(i.startswith(MALWARE_PREFIX) for i in (advisory.id, *advisory.aliases))


def affects_every_version(advisory: Advisory, project: str) -> bool:
    """Whether ``advisory`` affects every release of ``project``, past and future: one of its entries for the
    project has an evaluable range that is introduced at "0" and never fixed, closed or limited (the shape of
    a malicious-package report about a project that exists only to attack). A withdrawn advisory never does.
    """
    if advisory.withdrawn is not None:
        return False
    name = canonicalize_name(project)
    return any(r.problem is None and not any(bound is not None for bound in r.limits)
               and r.timeline == ((EventKind.INTRODUCED, None),)
               for entry in advisory.entries_for(name) for r in entry.ranges)


def fixed_versions(advisory: Advisory, project: str) -> tuple[str, ...]:
    """The versions the advisory names as fixed for ``project``, in PEP 440 order, duplicates dropped.

    From the ``fixed`` events of evaluable ranges and from ``fixed_in`` (JSON API). Strings that are not
    PEP 440 versions come last, verbatim.
    """
    name = canonicalize_name(project)
    found: dict[Version | str, str] = {}
    for entry in advisory.entries_for(name):
        stated = [e.version for r in entry.ranges if r.problem is None for e in r.events if e.kind is EventKind.FIXED]
        for text in (*stated, *entry.fixed_in):
            found.setdefault(parse_version(text) or text, text)
    parsed = sorted(k for k in found if isinstance(k, Version))
    raw = sorted(k for k in found if isinstance(k, str))
    return tuple([found[k] for k in parsed] + [found[k] for k in raw])


def lowest_fixed_above(advisory: Advisory, project: str, version: str) -> str | None:
    """The lowest fixed version above ``version`` that the advisory does not itself affect, or None.

    None when no fix above ``version`` is known, or ``version`` is not a PEP 440 version.
    """
    current = parse_version(version)
    if current is None:
        return None
    for text in fixed_versions(advisory, project):
        fixed = parse_version(text)
        if fixed is not None and fixed > current and not affects(advisory, project, text):
            return text
    return None


def _listed(entry: Affected, version: str, parsed: Version | None, public: Version | None) -> bool:
    if version in entry.listed_raw:
        return True
    return parsed is not None and (parsed in entry.listed or public in entry.listed)


def _range_slice(range_: VersionRange, keys: list[Version]) -> list[int]:
    """The indexes of the sorted ``keys`` that :func:`_in_range` puts inside ``range_``.

    :func:`_in_range` walks the timeline and the last event that applies to a version decides (an event
    applies at or above its bound; above it, for ``last_affected``). Each event starts applying at one index of
    the sorted keys, found by bisection; sweeping those indexes in order, the deciding event between two of
    them is the latest in the timeline among those started so far.
    """
    end = len(keys)
    if range_.limits and all(limit is not None for limit in range_.limits):
        end = bisect.bisect_left(keys, max(limit for limit in range_.limits if limit is not None))
    points = []
    for i, (kind, bound) in enumerate(range_.timeline):
        if bound is None:
            if kind is not EventKind.INTRODUCED:
                continue  # as in _in_range: only "introduced" can be "0"
            at = 0
        elif kind is EventKind.LAST_AFFECTED:
            at = bisect.bisect_right(keys, bound)
        else:
            at = bisect.bisect_left(keys, bound)
        points.append((at, i, kind))
    points.sort(key=lambda p: (p[0], p[1]))
    inside: list[int] = []
    latest, deciding = -1, None
    k = 0
    while k < len(points):
        at = points[k][0]
        while k < len(points) and points[k][0] == at:
            if points[k][1] > latest:
                latest, deciding = points[k][1], points[k][2]
            k += 1
        following = points[k][0] if k < len(points) else len(keys)
        if deciding is EventKind.INTRODUCED:
            inside.extend(range(min(at, end), min(following, end)))
    return inside


def _in_range(version: Version, range_: VersionRange) -> bool:
    """The OSV evaluation of one range (``IncludedInRanges`` for a single range)."""
    if range_.problem is not None:
        return False
    if range_.limits and not any(limit is None or version < limit for limit in range_.limits):
        return False
    affected = False
    for kind, bound in range_.timeline:
        if kind is EventKind.INTRODUCED:
            if bound is None or version >= bound:
                affected = True
        elif bound is None:
            continue  # only "introduced" can be "0"; parsing keeps other events' bounds set
        elif kind is EventKind.FIXED:
            if version >= bound:
                affected = False
        elif kind is EventKind.LAST_AFFECTED and version > bound:
            affected = False
    return affected
