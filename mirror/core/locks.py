"""Lock files — PEP 751 ``pylock.toml`` and uv's ``uv.lock`` — read into one model, :class:`LockedSet`.

A lock file names exact releases and the hashes of their files; the reviewer tooling promotes and vets
exactly those. ``pylock.toml`` is validated by packaging's reference reader (``packaging.pylock``);
``uv.lock`` (a tool format, version 1) is validated here. Both come from users' repositories, so every
value is checked for type and shape, and errors name the file, the line of the package's table and the
key. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.pylock import Package, Pylock, PylockValidationError
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .depfiles import DependencyFileError, digest_problem, load_toml

#: Largest lock file read (a large application's uv.lock is a few MiB).
MAX_LOCK_BYTES = 32 * 1024 * 1024
#: uv.lock format versions this reader understands (uv bumps it on incompatible changes).
UV_LOCK_VERSIONS = (1,)

_CONTEXT_INDEX = re.compile(r"^packages\[(\d+)\]")
_UV_SOURCES = ("registry", "editable", "virtual", "git", "path", "directory", "url")

Hashes = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LockedDependency:
    """An edge a lock file records: ``name`` (normalized), its marker and extras, and the optional
    dependency group or extra it belongs to (``"extra:<name>"`` / ``"group:<name>"``)."""

    name: NormalizedName
    marker: Marker | None = None
    extras: tuple[NormalizedName, ...] = ()
    group: str | None = None


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One locked release.

    ``files`` maps each filename to its hashes (algorithm → lowercase hex); ``source`` is ``"registry"``
    for releases from an index and otherwise says where the package comes from (``"editable"``,
    ``"virtual"``, ``"directory"``, ``"path"``, ``"vcs"``, ``"url"``…), which a curated index cannot
    serve; ``marker`` says where the lock installs this entry (None: everywhere); ``line`` is the line
    of the package's table in the lock file when it could be found.
    """

    name: NormalizedName
    version: Version | None
    source: str
    files: Mapping[str, Hashes]
    marker: Marker | None = None
    index: str | None = None
    requires_python: SpecifierSet | None = None
    dependencies: tuple[LockedDependency, ...] = ()
    line: int | None = None

    @property
    def promotable(self) -> bool:
        """True for a release an index serves: a registry source and a known version."""
        return self.source == "registry" and self.version is not None

    @property
    def pin(self) -> Requirement | None:
        """``name==version`` with the package's marker — a closure root for exactly this release — or
        None for a package no index serves."""
        if not self.promotable:
            return None
        return Requirement(f"{self.name}=={self.version}" + (f"; {self.marker}" if self.marker else ""))


@dataclass(frozen=True, slots=True)
class LockedSet:
    """A lock file's packages. ``kind`` is ``"pylock"`` or ``"uv.lock"``; ``notes`` lists what was read
    leniently (a newer minor lock version, files without hashes…)."""

    kind: str
    file: str
    packages: tuple[LockedPackage, ...]
    requires_python: SpecifierSet | None = None
    environments: tuple[Marker, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def promotable(self) -> tuple[LockedPackage, ...]:
        return tuple(p for p in self.packages if p.promotable)

    @property
    def not_promotable(self) -> tuple[LockedPackage, ...]:
        return tuple(p for p in self.packages if not p.promotable)


def parse_lock(text: str, file: str) -> LockedSet:
    """Read a lock file of either kind, told apart by its name (``uv.lock``, ``pylock[.NAME].toml``) or,
    failing that, by its top-level keys. Raises :class:`DependencyFileError`."""
    data = _toml(text, file)
    base = file.replace("\\", "/").rsplit("/", 1)[-1]
    if base == "uv.lock" or (not _is_pylock_name(base) and "lock-version" not in data and "package" in data):
        return _uv_lock(data, text, file)
    return _pylock(data, text, file)


def parse_pylock(text: str, file: str = "pylock.toml") -> LockedSet:
    """Read a PEP 751 lock file; ``lock-version`` must be 1.x. Raises :class:`DependencyFileError`."""
    return _pylock(_toml(text, file), text, file)


def parse_uv_lock(text: str, file: str = "uv.lock") -> LockedSet:
    """Read uv's lock file (format version 1). Raises :class:`DependencyFileError`."""
    return _uv_lock(_toml(text, file), text, file)


def _is_pylock_name(base: str) -> bool:
    return base == "pylock.toml" or (base.startswith("pylock.") and base.endswith(".toml") and base.count(".") == 2)


def _toml(text: str, file: str) -> dict[str, Any]:
    return load_toml(text, file, MAX_LOCK_BYTES)


def _table_lines(text: str, table: str) -> list[int]:
    """Line numbers of each ``[[table]]`` header, in order (the n-th is the n-th array element)."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]\s*(#.*)?$")
    return [number for number, line in enumerate(text.split("\n"), start=1) if header.match(line)]


def _hashes(raw: Mapping[str, Any], file: str, line: int | None, key: str) -> Hashes:
    """Validated hashes (algorithm → lowercase hex) or DependencyFileError."""
    out: dict[str, str] = {}
    for algorithm, digest in raw.items():
        problem = digest_problem(str(algorithm).lower(), digest if isinstance(digest, str) else "")
        if problem:
            raise DependencyFileError(file, problem, line=line, key=key)
        out[str(algorithm).lower()] = digest.lower()
    return MappingProxyType(out)


# --- PEP 751 ---------------------------------------------------------------------------------------------

def _pylock(data: Mapping[str, Any], text: str, file: str) -> LockedSet:
    lines = _table_lines(text, "packages")
    try:
        lock = Pylock.from_dict(data)
    except (PylockValidationError, TypeError, ValueError) as exc:
        context = getattr(exc, "context", None)
        match = _CONTEXT_INDEX.match(context or "")
        line = lines[int(match[1])] if match and int(match[1]) < len(lines) else None
        problem = getattr(exc, "message", str(exc))
        raise DependencyFileError(file, problem, line=line, key=context) from exc
    notes = [f"lock-version {lock.lock_version} is newer than 1.0; read as 1.0"] if lock.lock_version > Version(
        "1.0") else []
    packages = tuple(_pylock_package(p, i, lines[i] if i < len(lines) else None, file)
                     for i, p in enumerate(lock.packages))
    return LockedSet("pylock", file, packages, lock.requires_python, tuple(lock.environments or ()), tuple(notes))


def _pylock_package(package: Package, index: int, line: int | None, file: str) -> LockedPackage:
    key = f"packages[{index}]"
    files: dict[str, Hashes] = {}
    for position, wheel in enumerate(package.wheels or ()):
        files[wheel.filename] = _hashes(wheel.hashes, file, line, f"{key}.wheels[{position}].hashes")
    if package.sdist is not None:
        files[package.sdist.filename] = _hashes(package.sdist.hashes, file, line, f"{key}.sdist.hashes")
    version = package.version or _version_from_files(files)
    if files:
        remote = package.index is not None or any(
            w.url for w in (package.wheels or ())) or bool(package.sdist and package.sdist.url)
        source = "registry" if remote else "path"
    else:
        source = "vcs" if package.vcs else "directory" if package.directory else "archive"
    dependencies = tuple(LockedDependency(canonicalize_name(str(d.get("name", "")))) for d in package.dependencies or ()
                         if isinstance(d.get("name"), str))
    return LockedPackage(package.name, version, source, MappingProxyType(files), package.marker, package.index,
                         package.requires_python, dependencies, line)


def _version_from_files(files: Mapping[str, Hashes]) -> Version | None:
    for filename in files:
        try:
            if filename.endswith(".whl"):
                return parse_wheel_filename(filename)[1]
            return parse_sdist_filename(filename)[1]
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
    return None


# --- uv.lock ---------------------------------------------------------------------------------------------

class _UvReader:
    """Reads one uv.lock's data; ``fail`` raises with the file, line and key."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = _table_lines(text, "package")
        self.notes: list[str] = []

    def line(self, index: int | None) -> int | None:
        """The line of the ``index``-th ``[[package]]`` header, when it was written as one."""
        return self.lines[index] if index is not None and index < len(self.lines) else None

    def fail(self, problem: str, index: int | None, key: str) -> DependencyFileError:
        return DependencyFileError(self.file, problem, line=self.line(index), key=key)

    def get(self, table: Mapping[str, Any], name: str, kind: type | tuple[type, ...], index: int | None,
            key: str, *, required: bool = False) -> Any:
        value = table.get(name)
        if value is None:
            if required:
                raise self.fail("missing", index, key)
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise self.fail(f"expected {getattr(kind, '__name__', 'another type')}, found {type(value).__name__}",
                            index, key)
        return value

    def package(self, raw: Any, index: int) -> LockedPackage:
        key = f"package[{index}]"
        if not isinstance(raw, Mapping):
            raise self.fail("a package entry is not a table", index, key)
        name = self.get(raw, "name", str, index, f"{key}.name", required=True)
        version = self.get(raw, "version", str, index, f"{key}.version")
        try:
            parsed = Version(version) if version is not None else None
        except InvalidVersion as exc:
            raise self.fail(f"{version!r} is not a PEP 440 version", index, f"{key}.version") from exc
        source = self.get(raw, "source", Mapping, index, f"{key}.source", required=True)
        kinds = [k for k in _UV_SOURCES if k in source]
        if len(kinds) != 1:
            raise self.fail(f"source must name exactly one of {', '.join(_UV_SOURCES)}", index, f"{key}.source")
        location = source[kinds[0]]
        files: dict[str, Hashes] = {}
        sdist = self.get(raw, "sdist", Mapping, index, f"{key}.sdist")
        if sdist is not None:
            files.update([self.dist_file(sdist, index, f"{key}.sdist")])
        for position, wheel in enumerate(self.get(raw, "wheels", list, index, f"{key}.wheels") or ()):
            if not isinstance(wheel, Mapping):
                raise self.fail("a wheel entry is not a table", index, f"{key}.wheels[{position}]")
            files.update([self.dist_file(wheel, index, f"{key}.wheels[{position}]")])
        markers = self.get(raw, "resolution-markers", list, index, f"{key}.resolution-markers") or []
        return LockedPackage(
            canonicalize_name(name), parsed, kinds[0], MappingProxyType(files),
            marker=self.either(markers, index, f"{key}.resolution-markers"),
            index=location if kinds[0] == "registry" and isinstance(location, str) else None,
            dependencies=self.dependencies(raw, index, key), line=self.line(index))

    def dist_file(self, raw: Mapping[str, Any], index: int, key: str) -> tuple[str, Hashes]:
        """(filename, hashes) of an sdist or wheel entry (``url``, ``path`` or ``filename`` names it)."""
        filename = self.get(raw, "filename", str, index, f"{key}.filename")
        url = self.get(raw, "url", str, index, f"{key}.url")
        path = self.get(raw, "path", str, index, f"{key}.path")
        if filename is None and url is not None:
            filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if filename is None and path is not None:
            filename = path.replace("\\", "/").rsplit("/", 1)[-1]
        if not filename or "/" in filename:
            raise self.fail("names no file (no url, path or filename)", index, key)
        value = self.get(raw, "hash", str, index, f"{key}.hash")
        if value is None:
            self.notes.append(f"{key}: {filename} has no hash")
            return filename, MappingProxyType({})
        algorithm, _, digest = value.partition(":")
        return filename, _hashes({algorithm: digest}, self.file, self.line(index), f"{key}.hash")

    def dependencies(self, raw: Mapping[str, Any], index: int, key: str) -> tuple[LockedDependency, ...]:
        groups: list[tuple[str | None, str, Any]] = [(None, f"{key}.dependencies", raw.get("dependencies"))]
        for table, prefix in (("optional-dependencies", "extra"), ("dev-dependencies", "group")):
            for group, entries in (self.get(raw, table, Mapping, index, f"{key}.{table}") or {}).items():
                groups.append((f"{prefix}:{group}", f"{key}.{table}.{group}", entries))
        out: list[LockedDependency] = []
        for group, where, entries in groups:
            for position, entry in enumerate(entries or ()):
                here = f"{where}[{position}]"
                if not isinstance(entry, Mapping):
                    raise self.fail("a dependency is not a table", index, here)
                name = self.get(entry, "name", str, index, f"{here}.name", required=True)
                extras = self.get(entry, "extra", list, index, f"{here}.extra") or []
                if not all(isinstance(e, str) for e in extras):
                    raise self.fail("extras must be strings", index, f"{here}.extra")
                marker = self.marker(self.get(entry, "marker", str, index, f"{here}.marker"), index, f"{here}.marker")
                out.append(LockedDependency(canonicalize_name(name), marker,
                                            tuple(canonicalize_name(e) for e in extras), group))
        return tuple(out)

    def marker(self, text: str | None, index: int | None, key: str) -> Marker | None:
        if text is None:
            return None
        try:
            return Marker(text)
        except InvalidMarker as exc:
            raise self.fail(f"{text!r} is not an environment marker", index, key) from exc

    def either(self, texts: Sequence[Any], index: int | None, key: str) -> Marker | None:
        """One marker true where any of ``texts`` is (uv's resolution markers name the forks a package is in)."""
        if not texts:
            return None
        if not all(isinstance(t, str) for t in texts):
            raise self.fail("markers must be strings", index, key)
        for text in texts:
            self.marker(text, index, key)
        return Marker(" or ".join(f"({text})" for text in texts))


def _uv_lock(data: Mapping[str, Any], text: str, file: str) -> LockedSet:
    reader = _UvReader(text, file)
    version = reader.get(data, "version", int, None, "version", required=True)
    if version not in UV_LOCK_VERSIONS:
        raise reader.fail(f"uv.lock version {version} is not supported (this reader knows version "
                          f"{', '.join(map(str, UV_LOCK_VERSIONS))})", None, "version")
    requires = reader.get(data, "requires-python", str, None, "requires-python")
    try:
        requires_python = SpecifierSet(requires) if requires is not None else None
    except InvalidSpecifier as exc:
        raise reader.fail(f"{requires!r} is not a version specifier", None, "requires-python") from exc
    packages = reader.get(data, "package", list, None, "package") or []
    locked = tuple(reader.package(raw, index) for index, raw in enumerate(packages))
    supported = reader.get(data, "supported-markers", list, None, "supported-markers") or []
    if not all(isinstance(text, str) for text in supported):
        raise reader.fail("markers must be strings", None, "supported-markers")
    environments = tuple(m for text in supported if (m := reader.marker(text, None, "supported-markers")))
    return LockedSet("uv.lock", file, locked, requires_python, environments, tuple(reader.notes))
