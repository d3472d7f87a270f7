"""What a reviewer types on the command line, checked and normalized: project names, versions, targets of
``block``/``unblock``, and the text of ``--by``, ``--note`` and ``--reason``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
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


def until_time(raw: str, now: datetime) -> datetime:
    """``--until``: a date (``2026-03-01``, meaning 00:00 UTC that day) or an ISO 8601 date-time (UTC unless it
    says otherwise), in the future; ReviewError otherwise."""
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text or " " in text else \
            datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        raise ReviewError(f"--until {raw!r}: give a date (2026-03-01) or a date-time (2026-03-01T12:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC).replace(microsecond=0)
    if parsed <= now:
        raise ReviewError(f"--until {raw!r} is not in the future (now {now:%Y-%m-%d %H:%M} UTC): a waiver must "
                          "expire later")
    return parsed
