"""Typed, immutable models of the Simple Repository API (PEP 503/691/700/592/658/740/792).

Upstream pages in either format are parsed into these once; every rendering and every tier view is
computed from them. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mirror.core.hashes import checked_hashes, primary

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

#: The Simple API version this index speaks (PEP 833 freezes HTML at 1.4).
API_VERSION = "1.4"


class Tier(enum.StrEnum):
    """A view of the cache that clients point an installer at."""

    ALL = "all"
    REVIEWED = "reviewed"
    VETTED = "vetted"


class Format(enum.StrEnum):
    """A representation of a Simple API page, by the media type the client gets."""

    JSON = "application/vnd.pypi.simple.v1+json"
    HTML = "application/vnd.pypi.simple.v1+html"
    TEXT_HTML = "text/html"


# The models are frozen msgspec structs: slotted, cheap to build by the thousand (a big project page
# has 15,000+ files), and untracked by the garbage collector (gc=False: they hold only strings,
# numbers, datetimes, str→str mappings and other such models, so they can never form a cycle).
# Mappings are typed read-only and never copied: a model owns the dicts it is built from.


class DistFile(msgspec.Struct, frozen=True, gc=False):
    """One distribution file as upstream lists it.

    ``url`` is the absolute upstream URL (the only place the mirror fetches the file from); ``hashes``
    holds upstream's digests verbatim; ``core_metadata`` holds the digests of the PEP 658 ``.metadata``
    file, or None when upstream serves none; ``yanked`` is False, True, or the non-empty reason.
    ``local_metadata`` is set only in the mirror's servable view (:func:`mirror.core.tiers.servable_file`):
    the sha256 of the METADATA the mirror extracted itself from this file's verified bytes.
    A naive ``upload_time`` is taken as UTC.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = {}
    requires_python: str | None = None
    size: int | None = None
    upload_time: datetime | None = None
    yanked: bool | str = False
    core_metadata: Mapping[str, str] | None = None
    provenance: str | None = None
    local_metadata: str | None = None

    def __hash__(self) -> int:  # the mappings are not hashable; equal files share filename and url
        return hash((self.filename, self.url))

    def __post_init__(self) -> None:
        if self.upload_time is not None and self.upload_time.tzinfo is None:
            msgspec.structs.force_setattr(self, "upload_time", self.upload_time.replace(tzinfo=UTC))

    @property
    def sha256(self) -> str | None:
        """The lowercase hex sha256 upstream advertised, if any and well-formed."""
        return _sha256_of(self.hashes)

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not False

    @property
    def yanked_reason(self) -> str | None:
        return self.yanked if isinstance(self.yanked, str) else None

    def checked_hashes(self) -> dict[str, str] | None:
        """Every advertised hash the mirror checks, or None when the file is unverifiable
        (see :func:`mirror.core.hashes.checked_hashes`)."""
        return checked_hashes(self.hashes)

    def checked_metadata(self) -> dict[str, str] | None:
        """The same for the ``.metadata`` file: its checked hashes, or None (none, or unverifiable)."""
        return checked_hashes(self.core_metadata) if self.core_metadata is not None else None

    def verifiable_hash(self) -> tuple[str, str] | None:
        """The (algorithm, lowercase hex) naming the file, sha256 preferred; None when it is unverifiable."""
        checked = self.checked_hashes()
        return primary(checked) if checked else None

    def metadata_hash(self) -> tuple[str, str] | None:
        """The (algorithm, hex) naming the ``.metadata`` file, sha256 preferred; None when none is verifiable."""
        checked = self.checked_metadata()
        return primary(checked) if checked else None

    @property
    def version(self) -> str | None:
        """The release version, from the filename (wheel or sdist naming rules), or None if unparseable."""
        return version_from_filename(self.filename)


def _sha256_of(hashes: Mapping[str, str]) -> str | None:
    value = hashes.get("sha256")
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return value.lower()
    return None


_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!~-]{0,254}")


def is_safe_filename(name: str) -> bool:
    """True for a distribution filename that is one plain path segment (no separators, no ``..``).

    Anything else is never listed or served: a name such as ``../../x`` on an upstream page would
    otherwise make a relative link point outside its tier.
    """
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    return bool(_SAFE_FILENAME.fullmatch(name)) and ".." not in name


def _wheel_part_ok(stand_in: str) -> bool:
    """Whether packaging accepts the wheel filename ``stand_in`` (built to test one part of a real one)."""
    try:
        parse_wheel_filename(stand_in)
    except InvalidWheelFilename:
        return False
    return True


def _normal_version(text: str) -> str | None:
    """``text`` as a normalized PEP 440 version, or None when it is none."""
    try:
        return str(Version(text))
    except InvalidVersion:
        return None


# A page lists thousands of wheels made of few distinct names, versions, build tags and tag sets: each
# part is checked once (by packaging itself, on a stand-in filename varying only that part) and remembered.
_wheel_part = functools.lru_cache(maxsize=1 << 14)(_wheel_part_ok)
_version_of = functools.lru_cache(maxsize=1 << 14)(_normal_version)


def _wheel_version(filename: str) -> str | None:
    """The normalized version of a wheel filename, or None when packaging's ``parse_wheel_filename`` rejects
    it; the same answer, part by part (see :data:`_wheel_part`)."""
    stem = filename[:-4]
    dashes = stem.count("-")
    if dashes not in (4, 5):
        return None
    parts = stem.split("-", dashes - 2)
    version = _version_of(parts[1])
    if version is None or not _wheel_part(f"{parts[0]}-0-py3-none-any.whl"):
        return None
    if dashes == 5 and not _wheel_part(f"x-0-{parts[2]}-py3-none-any.whl"):
        return None
    return version if _wheel_part(f"x-0-{parts[-1]}.whl") else None


def _version_from_filename(filename: str) -> str | None:
    """Return the normalized version named by a wheel or sdist filename, or None when it names none."""
    if filename.endswith(".whl"):
        return _wheel_version(filename)
    try:
        return str(parse_sdist_filename(filename)[1])
    except (InvalidSdistFilename, InvalidVersion):
        pass
    # Legacy formats (.egg, .exe, .tar.bz2, ...): "<name>-<version>[-...].<ext>".
    stem = filename
    for ext in (".tar.bz2", ".tar.xz", ".tgz", ".egg", ".exe", ".msi", ".rpm", ".dmg", ".zip"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    else:
        return None
    parts = stem.split("-")
    for candidate in parts[1:]:
        try:
            return str(Version(candidate))
        except InvalidVersion:
            continue
    return None


# Cached by wrapping, not by decorating: mutation testing skips decorated functions (docs/testing.md).
version_from_filename = functools.lru_cache(maxsize=1 << 16)(_version_from_filename)


class ProjectStatus(msgspec.Struct, frozen=True, gc=False):
    """PEP 792 project status; ``status`` is active, archived, quarantined or deprecated."""

    status: str = "active"
    reason: str | None = None


class ProjectDetail(msgspec.Struct, frozen=True, gc=False):
    """A project page: its files in upstream order, the versions upstream listed, and its serial.

    ``name`` is always the normalized name the page was requested under: every rule is keyed by it.
    ``upstream_name`` is the name upstream's page states (PEP 691 ``name``), kept only to report a
    mismatch; nothing decides by it.
    """

    name: NormalizedName
    files: tuple[DistFile, ...] = ()
    versions: tuple[str, ...] = ()
    last_serial: int | None = None
    status: ProjectStatus = ProjectStatus()
    upstream_name: str | None = None

    def file_named(self, filename: str) -> DistFile | None:
        """The file with exactly this filename, or None."""
        for f in self.files:
            if f.filename == filename:
                return f
        return None

    def computed_versions(self) -> tuple[str, ...]:
        """Versions of the files present, plus upstream-listed ones when no file contradicts them.

        PEP 700 lets ``versions`` hold releases without files; a filtered view must only list versions
        whose files survived, so views call this instead of reusing ``versions``.
        """
        seen: dict[str, None] = {}
        for f in self.files:
            v = f.version
            if v is not None:
                seen.setdefault(v, None)
        return tuple(sorted(seen, key=_version_key))


def _sort_key(v: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(v))
    except InvalidVersion:
        return (0, v)


_version_key = functools.lru_cache(maxsize=1 << 16)(_sort_key)


class ProjectEntry(msgspec.Struct, frozen=True, gc=False):
    """One line of the project list."""

    name: str
    last_serial: int | None = None

    @property
    def normalized(self) -> NormalizedName:
        return canonicalize_name(self.name)


class ProjectList(msgspec.Struct, frozen=True, gc=False):
    """The index page: every project name upstream lists."""

    projects: tuple[ProjectEntry, ...] = ()
    last_serial: int | None = None


def format_upload_time(value: datetime) -> str:
    """Render a UTC datetime as PEP 700 wants it: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat writes the fraction only when there is one, as PEP 700 wants, and is several times faster
    # than strftime (pages carry thousands of timestamps); its UTC offset is always "+00:00" here.
    return value.isoformat()[:-6] + "Z"


def parse_upload_time(text: str) -> datetime:
    """Parse a PEP 700 timestamp (``Z`` or an explicit offset); raises ValueError when malformed."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
