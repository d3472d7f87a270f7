"""What a reviewer types on the command line, checked and normalized: project names, versions, targets of
``block``/``unblock``, and the text of ``--by``, ``--note`` and ``--reason``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, overload

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mirror.core.errors import ReviewError

_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def project_name(raw: str) -> str:
    """The normalized name of a project given on the command line; ReviewError when it is no valid name."""
    raw = raw.strip()
    if not _NAME.match(raw):
        raise ReviewError(f"{raw!r} is not a valid project name (letters, digits, '.', '_' and '-')")
    return canonicalize_name(raw)


def release_version(raw: str) -> str:
    """The PEP 440 normalized form of a version given on the command line (``2.32.03`` → ``2.32.3``)."""
    try:
        return str(Version(raw.strip()))
    except InvalidVersion:
        raise ReviewError(f"{raw!r} is not a valid version (PEP 440, e.g. 2.32.3)") from None


def parse_target(raw: str) -> tuple[str, str | None]:
    """``PROJECT`` or ``PROJECT==VERSION`` → (normalized name, normalized version or None)."""
    name, sep, version = raw.partition("==")
    if not sep:
        if any(op in raw for op in "<>=!~"):
            raise ReviewError(f"{raw!r}: give PROJECT or PROJECT==VERSION (other specifiers are not supported here)")
        return project_name(raw), None
    return project_name(name), release_version(version)


@dataclass(frozen=True, slots=True)
class BlockTarget:
    """What ``block`` and ``unblock`` act on: a whole project, or one release of it."""

    name: str
    version: str | None

    @classmethod
    def parse(cls, raw: str) -> BlockTarget:
        return cls(*parse_target(raw))

    @property
    def spec(self) -> str | None:
        """The ``versions`` of the ``[[block]]`` (``==VERSION``); None for the whole project."""
        return f"=={self.version}" if self.version else None

    @property
    def shown(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


@overload
def option_text(value: str | None, option: str, *, required: Literal[True]) -> str: ...
@overload
def option_text(value: str | None, option: str, *, required: bool) -> str | None: ...
def option_text(value: str | None, option: str, *, required: bool) -> str | None:
    """The stripped text of a command-line option; None when empty (a ReviewError when ``required``)."""
    value = (value or "").strip() or None
    if required and value is None:
        raise ReviewError(f"{option} must not be empty")
    return value


def by_and_reason(by: str | None, reason: str | None) -> tuple[str, str]:
    """``--by`` and ``--reason`` of a command that takes something away: both required."""
    return option_text(by, "--by", required=True), option_text(reason, "--reason", required=True)
