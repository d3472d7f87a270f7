"""Typed, bounded readers for the JSON fields of advisory records.

Each reader takes the advisory id (None until known) and the field's path, and raises ``AdvisoryError``
naming both when the value has the wrong type, is too long or too many. Shared by the OSV and JSON API
parsers so both hold the same limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from mirror.core.advisories.model import AdvisoryError

#: Advisory ids and aliases: ``<DB>-<ENTRYID>`` (PYSEC-2023-74, GHSA-j8r2-6x86-q33q, MAL-2024-4720, CVE-...).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+\-]{0,127}")
#: Longest string accepted in a version, name, URL or timestamp field.
MAX_SHORT = 256
MAX_URL = 2048
#: Summaries longer than this are cut (they are shown in one line of ``explain``).
MAX_SUMMARY = 500
#: Nesting depth of a frozen ``database_specific`` block.
MAX_DEPTH = 32


def advisory_id(value: object, known: str | None, where: str) -> str:
    """A well-formed advisory id or alias."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise AdvisoryError(known, where, f"{_show(value)} is not an advisory id")
    return value


def array(value: object, aid: str | None, where: str, limit: int, *, required: bool = False) -> Sequence[Any]:
    """A JSON array of at most ``limit`` items; absent or null is empty unless ``required``."""
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        raise AdvisoryError(aid, where, "is not a list" if value is not None else "is missing")
    if len(value) > limit:
        raise AdvisoryError(aid, where, f"has {len(value)} items, more than {limit}")
    return value


def obj(value: object, aid: str | None, where: str) -> Mapping[str, Any]:
    """A JSON object."""
    if not isinstance(value, Mapping):
        raise AdvisoryError(aid, where, "is not an object" if value is not None else "is missing")
    return value


def text(value: object, aid: str | None, where: str, *, limit: int = MAX_SHORT, required: bool = False) -> str | None:
    """A non-empty string of at most ``limit`` characters, or None when absent (null or missing)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise AdvisoryError(aid, where, "is missing" if value is None else "is not a non-empty string")
    if len(value) > limit:
        raise AdvisoryError(aid, where, f"is longer than {limit} characters")
    return value


def texts(value: object, aid: str | None, where: str, limit: int) -> tuple[str, ...]:
    """A list of at most ``limit`` non-empty short strings."""
    return tuple(text(item, aid, f"{where}[{i}]", required=True) or ""
                 for i, item in enumerate(array(value, aid, where, limit)))


def ids(value: object, aid: str | None, where: str, limit: int) -> tuple[str, ...]:
    """A list of advisory ids (aliases), duplicates dropped, order kept."""
    found = (advisory_id(item, aid, f"{where}[{i}]") for i, item in enumerate(array(value, aid, where, limit)))
    return tuple(dict.fromkeys(found))


def project_name(value: object, aid: str | None, where: str) -> NormalizedName:
    """A valid project name, normalized (PEP 503)."""
    if not isinstance(value, str) or len(value) > MAX_SHORT:
        raise AdvisoryError(aid, where, f"{_show(value)} is not a project name")
    try:
        return canonicalize_name(value, validate=True)
    except InvalidName:
        raise AdvisoryError(aid, where, f"{_show(value)} is not a project name") from None


def timestamp(value: object, aid: str | None, where: str, *, required: bool = False) -> datetime | None:
    """An RFC 3339 timestamp, timezone-aware (a timestamp without an offset is read as UTC)."""
    raw = text(value, aid, where, limit=64, required=required)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise AdvisoryError(aid, where, f"{raw!r} is not an RFC 3339 timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def summary(summary_value: object, details_value: object, aid: str, where: str) -> str:
    """The summary, else the first non-blank line of the details; cut to ``MAX_SUMMARY`` characters."""
    for name, value in (("summary", summary_value), ("details", details_value)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise AdvisoryError(aid, f"{where}{name}", "is not a string")
        line = next((part.strip() for part in value.splitlines() if part.strip()), "")
        if line:
            return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1] + "…"
    return ""


def web_url(value: object, aid: str | None, where: str) -> str | None:
    """An http(s) URL, or None for any other scheme (nothing else is worth a link on an explain page)."""
    raw = text(value, aid, where, limit=MAX_URL, required=True) or ""
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    return raw if parts.scheme in ("http", "https") and parts.netloc else None


def frozen(value: object, aid: str | None, where: str, depth: int = 0) -> Any:
    """A JSON value made immutable: objects become read-only mappings, lists become tuples."""
    if depth > MAX_DEPTH:
        raise AdvisoryError(aid, where, f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): frozen(v, aid, where, depth + 1) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v, aid, where, depth + 1) for v in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise AdvisoryError(aid, where, f"holds a {type(value).__name__}, not a JSON value")


def _show(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
