"""Build requirements of a source distribution, from its ``pyproject.toml`` text (PEP 517/518).

Installing from an sdist (or a checkout in development mode) first installs the build backend —
hatchling, setuptools, flit-core, poetry-core… — so a curated set that must install from source has to
hold those too. Nothing here does I/O; the caller reads the file out of the sdist.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from .depfiles import DependencyFileError, load_toml

#: What pip and uv build with when a project has no ``[build-system]`` (PEP 517's fallback).
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
#: Largest ``pyproject.toml`` read.
MAX_PYPROJECT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BuildRequirements:
    """``requires`` of ``[build-system]`` and the backend; ``default`` is True when PEP 517's fallback
    applies (no ``pyproject.toml``, or one without a ``[build-system]`` table).

    Backends may ask for more while building (``get_requires_for_build_wheel``; setuptools adds
    ``wheel`` on old versions); that is only known by running them, so it is not here.
    """

    requires: tuple[Requirement, ...]
    backend: str
    default: bool = False


def build_requirements(pyproject: str | None, file: str = "pyproject.toml") -> BuildRequirements:
    """The build requirements an sdist declares; ``pyproject`` is the file's text, or None when the
    sdist has none. Raises :class:`DependencyFileError` (file, line, key) for invalid TOML, a
    ``[build-system]`` without ``requires`` (pip refuses those too), or an entry that is not PEP 508."""
    if pyproject is None:
        return _default()
    data = load_toml(pyproject, file, MAX_PYPROJECT_BYTES)
    system = data.get("build-system")
    if system is None:
        return _default()
    if not isinstance(system, dict):
        raise DependencyFileError(file, "is not a table", key="build-system")
    requires = system.get("requires")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise DependencyFileError(file, "must be a list of requirement strings", key="build-system.requires")
    parsed = []
    for position, text in enumerate(requires):
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise DependencyFileError(file, f"{text!r} is not a requirement: {str(exc).splitlines()[0]}",
                                      key=f"build-system.requires[{position}]") from exc
    backend = system.get("build-backend", DEFAULT_BACKEND)
    if not isinstance(backend, str):
        raise DependencyFileError(file, "must be a string", key="build-system.build-backend")
    return BuildRequirements(tuple(parsed), backend)


def _default() -> BuildRequirements:
    return BuildRequirements(tuple(Requirement(text) for text in DEFAULT_REQUIRES), DEFAULT_BACKEND, default=True)


@dataclass(frozen=True, slots=True)
class StaticDependencies:
    """``[project] dependencies`` and ``optional-dependencies`` as ``Requires-Dist`` entries (an extra's
    entries carry ``extra == "<name>"`` in their marker), when the file declares them statically."""

    requires: tuple[Requirement, ...]
    extras: tuple[str, ...]


def static_dependencies(pyproject: str, file: str = "pyproject.toml") -> StaticDependencies | None:
    """The dependencies a ``pyproject.toml`` declares in ``[project]`` (PEP 621), or None when it has no
    ``[project]`` table or lists ``dependencies`` in ``dynamic`` (the build backend computes them). Entries
    that are not PEP 508 requirements are skipped. Raises :class:`DependencyFileError` for invalid TOML."""
    data = load_toml(pyproject, file, MAX_PYPROJECT_BYTES)
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    raw_dynamic = project.get("dynamic")
    dynamic: list[object] = raw_dynamic if isinstance(raw_dynamic, list) else []
    if "dependencies" in dynamic:
        return None
    requires: list[Requirement] = []
    for text in project.get("dependencies") or ():
        if isinstance(text, str):
            try:
                requires.append(Requirement(text))
            except InvalidRequirement:
                continue
    extras: list[str] = []
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict) and "optional-dependencies" not in dynamic:
        for extra, entries in optional.items():
            extras.append(str(extra))
            for text in entries if isinstance(entries, list) else ():
                if not isinstance(text, str):
                    continue
                try:
                    base = Requirement(text)
                except InvalidRequirement:
                    continue
                marker = f"({base.marker}) and extra == {str(extra)!r}" if base.marker else f"extra == {str(extra)!r}"
                base.marker = None
                try:
                    requires.append(Requirement(f"{base}; {marker}"))
                except InvalidRequirement:
                    continue
    return StaticDependencies(tuple(requires), tuple(extras))
