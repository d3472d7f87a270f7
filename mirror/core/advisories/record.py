"""An ``Advisory`` as plain JSON values and back: how advisories are stored (``to_record``/``from_record``).

The record keeps what matching and explaining need: source, id, aliases, summary, the modified, published and
withdrawn times, references, and every affected entry with its ranges (type, repo, events as stated), explicit
versions and fixed versions. ``database_specific`` is not kept. ``from_record`` rebuilds the precomputed
matching data with ``make_range``/``make_affected``, so a stored advisory matches exactly as the parsed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name

from mirror.core.advisories.model import (
    Advisory,
    AdvisoryError,
    AdvisorySource,
    Event,
    EventKind,
    make_affected,
    make_range,
)


def _time(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _from_time(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]


def to_record(advisory: Advisory) -> dict[str, Any]:
    """The advisory as JSON values (see the module docstring)."""
    return {
        "source": advisory.source.value,
        "id": advisory.id,
        "aliases": list(advisory.aliases),
        "summary": advisory.summary,
        "modified": _time(advisory.modified),
        "published": _time(advisory.published),
        "withdrawn": _time(advisory.withdrawn),
        "references": list(advisory.references),
        "affected": [{
            "name": entry.name,
            "versions": list(entry.versions),
            "fixed_in": list(entry.fixed_in),
            "ranges": [{"type": r.type, "repo": r.repo, "events": [[e.kind.value, e.version] for e in r.events]}
                       for r in entry.ranges],
        } for entry in advisory.affected],
    }


def from_record(record: Mapping[str, Any]) -> Advisory:
    """The advisory a record made by :func:`to_record` describes; raises AdvisoryError when it is not one."""
    try:
        return Advisory(
            source=AdvisorySource(record["source"]),
            id=str(record["id"]),
            modified=_from_time(record.get("modified")),
            affected=tuple(
                make_affected(canonicalize_name(entry["name"]),
                              (make_range(r["type"], (Event(EventKind(k), str(v)) for k, v in r["events"]),
                                          r.get("repo")) for r in entry.get("ranges", ())),
                              tuple(map(str, entry.get("versions", ()))), tuple(map(str, entry.get("fixed_in", ()))))
                for entry in record.get("affected", ())),
            aliases=tuple(map(str, record.get("aliases", ()))),
            summary=str(record.get("summary") or ""),
            published=_from_time(record.get("published")),
            withdrawn=_from_time(record.get("withdrawn")),
            references=tuple(map(str, record.get("references", ()))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AdvisoryError(record.get("id") if isinstance(record, Mapping) else None, "record",
                            f"is not a stored advisory ({type(exc).__name__}: {exc})") from None
