"""Core metadata (``METADATA`` / ``PKG-INFO``, metadata versions 1.0–2.5) as an immutable model.

Only what dependency work needs is modelled: identity, ``Requires-Dist``, ``Requires-Python``,
``Provides-Extra`` and the licence fields. The text comes from upstream and is hostile until proven
otherwise: it is size-capped, only its header block is parsed (the description body is never needed),
and whatever is wrong with it either lands in ``problems`` / ``invalid_requires_dist`` or raises the
one narrow :class:`MetadataError`. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import MirrorError

#: Largest metadata file accepted (a long description can make real ones a few hundred KiB).
MAX_METADATA_BYTES = 4 * 1024 * 1024
#: Most ``Requires-Dist`` entries accepted: real projects stay in the hundreds; each one costs a parse.
MAX_REQUIREMENTS = 5000
#: Metadata versions of the core metadata specification; a newer minor is read with a note.
KNOWN_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5"})

_DIGITS = re.compile(r"[0-9]{1,4}")
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
#: The end of the header block: the first empty line (either line ending).
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class MetadataError(MirrorError):
    """Bytes that cannot be read as core metadata at all (too big, no name or version, unknown major)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"core metadata: {problem}")


@dataclass(frozen=True, slots=True)
class BadRequirement:
    """A ``Requires-Dist`` value that is not a PEP 508 requirement, and why."""

    text: str
    problem: str


@dataclass(frozen=True, slots=True)
class CoreMetadata:
    """One release's core metadata.

    ``name`` and ``version`` are as written (``canonical_name`` / ``parsed_version`` normalize them);
    ``provides_extra`` holds PEP 685-normalized extra names; ``license_expression`` is the PEP 639
    SPDX expression, canonicalized when valid. ``problems`` lists every non-fatal defect found.
    """

    metadata_version: str | None
    name: str
    version: str
    requires_dist: tuple[Requirement, ...] = ()
    invalid_requires_dist: tuple[BadRequirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extra: tuple[NormalizedName, ...] = ()
    license_expression: str | None = None
    license: str | None = None
    classifiers: tuple[str, ...] = ()
    summary: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def canonical_name(self) -> NormalizedName:
        return canonicalize_name(self.name)

    @property
    def parsed_version(self) -> Version | None:
        """The PEP 440 version, or None when ``version`` is not one (a legacy release)."""
        try:
            return Version(self.version)
        except InvalidVersion:
            return None


def parse_metadata(data: bytes | str, *, max_bytes: int = MAX_METADATA_BYTES) -> CoreMetadata:
    """Parse a ``METADATA`` or ``PKG-INFO`` file.

    Raises :class:`MetadataError` (and nothing else) when ``data`` is larger than ``max_bytes``, has no
    usable single ``Name`` or ``Version``, or declares a metadata major version above 2. Every other
    defect (an invalid requirement, ``Requires-Python``, licence expression, undecodable field) is
    reported on the returned model.
    """
    try:
        raw_bytes = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError as exc:
        raise MetadataError("text holds characters that cannot be encoded") from exc
    if len(raw_bytes) > max_bytes:
        raise MetadataError(f"{len(raw_bytes)} bytes is more than the {max_bytes} accepted")
    end = _HEADER_END.search(raw_bytes)
    headers = raw_bytes[: end.start()] if end else raw_bytes
    try:
        raw, unparsed = parse_email(headers + b"\n")
    except Exception as exc:  # the email parser on hostile bytes: whatever it raises is one narrow error
        raise MetadataError(f"not readable as RFC 822 headers ({type(exc).__name__})") from exc
    problems: list[str] = []
    metadata_version = _metadata_version(raw.get("metadata_version"), unparsed, problems)
    name = _single(raw.get("name"), unparsed, "name")
    if not _NAME.match(name):
        raise MetadataError(f"Name {name!r} is not a valid project name")
    version = _single(raw.get("version"), unparsed, "version")
    try:
        Version(version)
    except InvalidVersion:
        problems.append(f"Version {version!r} is not a PEP 440 version")
    requires, invalid = _requirements(raw.get("requires_dist") or [], unparsed, problems)
    return CoreMetadata(
        metadata_version=metadata_version,
        name=name,
        version=version,
        requires_dist=requires,
        invalid_requires_dist=invalid,
        requires_python=_requires_python(raw.get("requires_python"), unparsed, problems),
        provides_extra=_extras(raw.get("provides_extra") or [], unparsed, problems),
        license_expression=_license_expression(raw.get("license_expression"), unparsed, problems),
        license=raw.get("license"),
        classifiers=tuple(raw.get("classifiers") or ()),
        summary=raw.get("summary"),
        problems=tuple(problems),
    )


def _single(value: str | None, unparsed: dict[str, list[str]], field: str) -> str:
    """A required single-use field (``name``/``version``), stripped; MetadataError when unusable."""
    if field in unparsed:
        count = len(unparsed[field])
        problem = f"appears {count} times" if count > 1 else "is not valid UTF-8"
        raise MetadataError(f"{field.capitalize()} {problem}")
    if value is None or not value.strip():
        raise MetadataError(f"no {field.capitalize()} field")
    return value.strip()


def _metadata_version(value: str | None, unparsed: dict[str, list[str]], problems: list[str]) -> str | None:
    if "metadata-version" in unparsed:
        problems.append("Metadata-Version appears more than once or is not valid UTF-8")
        return None
    if value is None:
        problems.append("no Metadata-Version field")
        return None
    value = value.strip()
    if value in KNOWN_VERSIONS:
        return value
    major, _, _minor = value.partition(".")
    if not _DIGITS.fullmatch(major):
        problems.append(f"Metadata-Version {value!r} is not a version")
        return value
    if int(major) > 2:
        raise MetadataError(f"Metadata-Version {value} is a major version this reader does not understand")
    problems.append(f"Metadata-Version {value} is newer than this reader knows; read as 2.x")
    return value


def _requirements(values: list[str], unparsed: dict[str, list[str]],
                  problems: list[str]) -> tuple[tuple[Requirement, ...], tuple[BadRequirement, ...]]:
    if "requires-dist" in unparsed:
        problems.append("Requires-Dist is not valid UTF-8; its entries are ignored")
        return (), tuple(BadRequirement(v, "not valid UTF-8") for v in unparsed["requires-dist"][:MAX_REQUIREMENTS])
    if len(values) > MAX_REQUIREMENTS:
        raise MetadataError(f"{len(values)} Requires-Dist entries is more than the {MAX_REQUIREMENTS} accepted")
    good: list[Requirement] = []
    bad: list[BadRequirement] = []
    for text in values:
        try:
            good.append(Requirement(text))
        except InvalidRequirement as exc:
            bad.append(BadRequirement(text, str(exc).splitlines()[0]))
    return tuple(good), tuple(bad)


def _requires_python(value: str | None, unparsed: dict[str, list[str]],
                     problems: list[str]) -> SpecifierSet | None:
    if "requires-python" in unparsed:
        problems.append("Requires-Python appears more than once or is not valid UTF-8; ignored")
        return None
    if value is None or not value.strip():
        return None
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        problems.append(f"Requires-Python {value!r} is not a version specifier; ignored")
        return None


def _extras(values: list[str], unparsed: dict[str, list[str]], problems: list[str]) -> tuple[NormalizedName, ...]:
    if "provides-extra" in unparsed:
        problems.append("Provides-Extra is not valid UTF-8; ignored")
        return ()
    found: dict[NormalizedName, None] = {}
    for value in values:
        if not _NAME.match(value.strip()):
            problems.append(f"Provides-Extra {value!r} is not a valid extra name; ignored")
            continue
        found[canonicalize_name(value.strip())] = None
    return tuple(found)


def _license_expression(value: str | None, unparsed: dict[str, list[str]], problems: list[str]) -> str | None:
    if "license-expression" in unparsed:
        problems.append("License-Expression appears more than once or is not valid UTF-8; ignored")
        return None
    if value is None:
        return None
    try:
        return str(canonicalize_license_expression(value))
    except InvalidLicenseExpression:
        problems.append(f"License-Expression {value!r} is not a valid SPDX expression; kept as written")
        return value
