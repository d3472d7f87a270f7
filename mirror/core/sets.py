"""Which release of a project a dependency set follows in a tier, decided from the tier's view. Pure.

A closure (:mod:`mirror.core.closure`) asks, per project, for "the" release to follow; in a curated tier
that is the release an installer would pick there: the newest one the tier admits that satisfies every
requirement seen so far, skipping pre-releases unless asked for (or unless nothing else is admitted),
yanked releases unless pinned with ``==``, and files whose ``Requires-Python`` no target meets. When no
admitted release satisfies the requirements the newest admitted one is followed anyway, so that the
walk reports the mismatch (an :class:`~mirror.core.closure_model.Unsatisfied` edge) instead of a hole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from .closure_model import Missing
from .locks import LockedSet
from .models import DistFile, Tier
from .policy.model import Location, PolicySet, ProjectPolicy, Review, Signature
from .requirements import RequirementsSet
from .targets import Target
from .tiers import ReleaseVerdict, TierView
from .wheels import needs_build, wheel_fits


@dataclass(frozen=True, slots=True)
class Chosen:
    """The release followed: its version and the files the tier serves of it (as served)."""

    version: str
    files: tuple[DistFile, ...]
    #: False when no admitted release satisfies every requirement (the newest admitted one was taken)
    satisfies: bool = True

    @property
    def wheels(self) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if f.filename.endswith(".whl"))

    @property
    def sdists(self) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if not f.filename.endswith(".whl"))

    def built_on(self, targets: Sequence[Target]) -> tuple[Target, ...]:
        """The targets that install this release from its sdist (no wheel fits them)."""
        names = [f.filename for f in self.files]
        return tuple(t for t in targets if needs_build(names, t))

    def needed(self, targets: Sequence[Target]) -> tuple[DistFile, ...]:
        """The files installers take on ``targets``: every wheel that fits one, and the sdists when some
        target has no fitting wheel (it builds from source)."""
        wheels = tuple(f for f in self.wheels if any(wheel_fits(f.filename, t) for t in targets))
        return wheels + (self.sdists if self.built_on(targets) else ())


#: Where the review of a project not yet promoted is "written" while a promotion is being planned.
PLANNED = Location("(planned promotion)")


def as_reviewed(policies: PolicySet, name: str) -> PolicySet:
    """``policies`` with ``name`` promoted if it is not (its blocks, vettings and every tier rule kept): what
    ``reviewed`` would serve of it once promoted, to plan a promotion. Unchanged when already reviewed."""
    policy = policies.of(name)
    if policy is not None and policy.review is not None:
        return policies
    review = Review(Signature("(planned)"), PLANNED)
    base = policy if policy is not None else ProjectPolicy(name=name, file=str(PLANNED))  # type: ignore[arg-type]
    promoted = ProjectPolicy(base.name, base.file, review, base.blocks, base.vettings, base.uploaders, base.provenance)
    return PolicySet(policies.rules, {**policies.projects, promoted.name: promoted}, policies.version + "+planned")


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text is not None else None
    except InvalidVersion:
        return None


def _python_ok(f: DistFile, targets: Sequence[Target]) -> bool:
    """Whether some target meets the file's ``Requires-Python`` (an unreadable one does not exclude it)."""
    if not f.requires_python:
        return True
    try:
        spec = SpecifierSet(f.requires_python)
    except InvalidSpecifier:
        return True
    return any(spec.contains(t.full_version, prereleases=True) for t in targets)


def _pinned(requirements: Sequence[Requirement], version: Version) -> bool:
    """Whether a requirement pins exactly ``version`` (``==``/``===``): the only way a yanked release is used."""
    return any(s.operator in ("==", "===") and "*" not in s.version and s.contains(version, prereleases=True)
               for r in requirements for s in r.specifier)


def admitted_releases(view: TierView, targets: Sequence[Target]) -> list[tuple[Version, ReleaseVerdict,
                                                                              tuple[DistFile, ...]]]:
    """The releases of ``view`` with at least one admitted file some target can use, newest first."""
    found = []
    for release in view.releases:
        version = _version(release.version)
        if version is None:
            continue
        files = tuple(v.file for v in release.files if v.decision.admitted and _python_ok(v.file, targets))
        if files:
            found.append((version, release, files))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def choose_release(view: TierView, requirements: Sequence[Requirement], targets: Sequence[Target], *,
                   prefer: str | None = None) -> Chosen | Missing:
    """The release of ``view``'s project to follow for ``requirements`` (all those seen on it), or why none.

    ``prefer`` (a version a lock file names) is taken when the tier admits it, whatever the requirements.
    """
    tier = view.tier.value
    spec = SpecifierSet()
    for requirement in requirements:
        spec &= requirement.specifier
    if not view.project.admitted:
        return Missing(f"is not in '{tier}': {view.project.rule}", view.project.change)
    candidates = admitted_releases(view, targets)
    if not candidates:
        return Missing(f"has no release '{tier}' serves{_why_none(view, targets)}", _fix(view, spec))
    if prefer is not None:
        wanted = _version(prefer)
        for version, _release, files in candidates:
            if version == wanted:
                return Chosen(str(version), files)
        found = view.release(prefer)
        return Missing(f"{prefer} is not served by '{tier}'{_why_release(view, prefer)}",
                       found.decision.change if found is not None else None)
    explicit_pre = any(s.prereleases for r in requirements for s in r.specifier if s.prereleases)
    finals = [c for c in candidates if not c[0].is_prerelease]
    pool = candidates if explicit_pre or not finals else finals
    usable = [c for c in pool if not all(f.is_yanked for f in c[2]) or _pinned(requirements, c[0])]
    for version, _release, files in usable:
        if spec.contains(version, prereleases=True):
            return Chosen(str(version), tuple(f for f in files if not f.is_yanked) or files)
    version, _release, files = (usable or pool)[0]
    return Chosen(str(version), files, satisfies=False)


def _why_none(view: TierView, targets: Sequence[Target]) -> str:
    """`` (newest 2.0: <rule>)``: why the newest release is not served, for a project with none served."""
    newest = max(((v, r) for r in view.releases if (v := _version(r.version)) is not None),
                 key=lambda item: item[0], default=None)
    if newest is None:
        return " (upstream lists no release)" if not view.releases else ""
    version, release = newest
    admitted = [v.file for v in release.files if v.decision.admitted]
    if admitted and not any(_python_ok(f, targets) for f in admitted):
        return f" (newest {version}: Requires-Python {admitted[0].requires_python} excludes every target)"
    return f" (newest {version}: {release.decision.rule})"


def _fix(view: TierView, spec: SpecifierSet) -> str | None:
    """The command that would make the tier serve a release for ``spec``: the one that changes the decision on
    the newest release kept out that satisfies it (else on the newest kept out); None when every release is
    admitted (kept out by its Requires-Python or its yank, which no reviewer command changes)."""
    held = sorted(((v, r) for r in view.releases if (v := _version(r.version)) is not None and not r.admitted),
                  key=lambda item: item[0], reverse=True)
    fitting = [r for v, r in held if spec.contains(v, prereleases=True)] or [r for _, r in held]
    return fitting[0].decision.change if fitting else None


def _why_release(view: TierView, version: str) -> str:
    found = view.release(version)
    if found is None:
        return " (upstream lists no file of it)" if view.tier is Tier.ALL or view.releases else ""
    return f" ({found.decision.rule})"


# --------------------------------------------------------------------------- what a dependency file asks for


@dataclass(frozen=True, slots=True)
class Pinned:
    """One release a lock (or a hash-pinned requirements file) names: ``files`` maps each filename to its
    hashes (pylock.toml, uv.lock); a requirements file names no files, only ``hashes`` (algorithm, hex)
    any of the release's files may have. ``origin`` says where it is written (``file:line``)."""

    name: NormalizedName
    version: str
    origin: str
    files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    hashes: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class SetInput:
    """What a requirements or lock file asks for: closure ``roots``, exact ``pins`` (lock files and
    ``==`` requirements), and the lines a curated index cannot serve (URLs, paths, editables, VCS)."""

    file: str
    roots: tuple[Requirement, ...]
    pinned: tuple[Pinned, ...] = ()
    unservable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: normalized name → where the file names it first (``file:line``)
    origins: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[NormalizedName, ...]:
        return tuple(dict.fromkeys(canonicalize_name(r.name) for r in self.roots))

    @property
    def pins(self) -> dict[str, str]:
        return {p.name: p.version for p in self.pinned}


def _exact(requirement: Requirement) -> str | None:
    """The version ``requirement`` pins with a single ``==`` (no wildcard), else None."""
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def from_requirements(parsed: RequirementsSet, file: str) -> SetInput:
    """A requirements file as a set: every requirement is a root; ``==`` pins with ``--hash`` are pinned."""
    pinned = []
    for entry in parsed.requirements:
        version = _exact(entry.requirement)
        if version is not None:
            hashes = frozenset((alg, digest) for alg, digests in entry.hashes.items() for digest in digests)
            pinned.append(Pinned(entry.name, version, str(entry.origin), hashes=hashes))
    unservable = tuple(f"{u.origin}: {u.text} ({u.reason})" for u in parsed.unpromotable)
    notes = tuple(f"{i.origin}: {i.option} is decided by the mirror, ignored" for i in parsed.ignored)
    origins: dict[str, str] = {}
    for entry in parsed.requirements:
        origins.setdefault(entry.name, str(entry.origin))
    return SetInput(file, tuple(e.requirement for e in parsed.requirements), tuple(pinned), unservable, notes,
                    origins)


def from_lock(locked: LockedSet) -> SetInput:
    """A lock file as a set: each locked release is a root pinned to its version (with its marker)."""
    roots, pinned = [], []
    for package in locked.promotable:
        pin = package.pin
        assert pin is not None and package.version is not None
        roots.append(pin)
        where = f"{locked.file}:{package.line}" if package.line else locked.file
        pinned.append(Pinned(package.name, str(package.version), where, files=package.files))
    unservable = tuple(f"{locked.file}:{p.line or '?'}: {p.name} (source: {p.source}, not from an index)"
                       for p in locked.not_promotable)
    origins: dict[str, str] = {p.name: p.origin for p in reversed(pinned)}
    return SetInput(locked.file, tuple(roots), tuple(pinned), unservable, locked.notes, origins)
