"""OSV records (schema: https://ossf.github.io/osv-schema/) → ``Advisory``, keeping only the PyPI entries.

Strict about structure, lenient about versions: a record whose fields have the wrong type or shape, or that
exceeds a bound, raises ``AdvisoryError`` naming the advisory id and the field; a range bound that is not a
PEP 440 version only makes that range unevaluable (``VersionRange.problem``), because dropping the whole
advisory over one odd bound would lose its explicit ``versions`` list as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mirror.core.advisories import fields
from mirror.core.advisories.model import (
    Advisory,
    AdvisoryError,
    AdvisorySource,
    Affected,
    Event,
    EventKind,
    RangeType,
    VersionRange,
    make_affected,
    make_range,
)

#: The OSV ecosystem name of the Python package index (exact, as the schema defines it).
PYPI_ECOSYSTEM = "PyPI"

MAX_ALIASES = 256
MAX_AFFECTED = 1024
MAX_RANGES = 256
MAX_EVENTS = 1024
MAX_VERSIONS = 50_000
MAX_REFERENCES = 1024


def parse_osv(record: object) -> Advisory:
    """The advisory an OSV record describes, with only its ``PyPI`` entries (names normalized).

    Required: ``id`` and ``modified``. Kept: ``aliases``, ``summary`` (or the first line of ``details``),
    ``published``, ``withdrawn``, the http(s) ``references`` URLs and the top-level ``database_specific``.
    Entries of other ecosystems, or without a ``package``, are skipped; an advisory with no PyPI entry comes
    back with ``affected == ()`` (the caller decides whether to keep it).

    Raises ``AdvisoryError`` for a malformed record: wrong types, an event object without exactly one of
    ``introduced``/``fixed``/``last_affected``/``limit``, a range without an ``introduced`` event, a GIT range
    without ``repo``, an invalid PyPI project name, or more items than the module's bounds.
    """
    doc = fields.obj(record, None, "record")
    aid = fields.advisory_id(doc.get("id"), None, "id")
    references = tuple(
        url for i, ref in enumerate(fields.array(doc.get("references"), aid, "references", MAX_REFERENCES))
        if (url := fields.web_url(fields.obj(ref, aid, f"references[{i}]").get("url"), aid,
                                  f"references[{i}].url")) is not None
    )
    specific = doc.get("database_specific")
    if specific is not None:
        fields.obj(specific, aid, "database_specific")
    return Advisory(
        source=AdvisorySource.OSV,
        id=aid,
        modified=fields.timestamp(doc.get("modified"), aid, "modified", required=True),
        affected=_pypi_entries(doc.get("affected"), aid),
        aliases=fields.ids(doc.get("aliases"), aid, "aliases", MAX_ALIASES),
        summary=fields.summary(doc.get("summary"), doc.get("details"), aid, ""),
        published=fields.timestamp(doc.get("published"), aid, "published"),
        withdrawn=fields.timestamp(doc.get("withdrawn"), aid, "withdrawn"),
        references=references,
        database_specific=fields.frozen(specific, aid, "database_specific"),
    )


def _pypi_entries(value: object, aid: str) -> tuple[Affected, ...]:
    entries = []
    for i, item in enumerate(fields.array(value, aid, "affected", MAX_AFFECTED)):
        where = f"affected[{i}]"
        entry = fields.obj(item, aid, where)
        package = entry.get("package")
        if package is None:
            continue  # a GIT-only entry naming no package
        package = fields.obj(package, aid, f"{where}.package")
        if package.get("ecosystem") != PYPI_ECOSYSTEM:
            continue
        name = fields.project_name(package.get("name"), aid, f"{where}.package.name")
        ranges = tuple(_range(r, aid, f"{where}.ranges[{j}]")
                       for j, r in enumerate(fields.array(entry.get("ranges"), aid, f"{where}.ranges", MAX_RANGES)))
        versions = fields.texts(entry.get("versions"), aid, f"{where}.versions", MAX_VERSIONS)
        entries.append(make_affected(name, ranges, versions))
    return tuple(entries)


def _range(value: object, aid: str, where: str) -> VersionRange:
    item = fields.obj(value, aid, where)
    range_type = fields.text(item.get("type"), aid, f"{where}.type", required=True) or ""
    repo = fields.text(item.get("repo"), aid, f"{where}.repo", limit=fields.MAX_URL)
    raw_events = fields.array(item.get("events"), aid, f"{where}.events", MAX_EVENTS, required=True)
    events = tuple(_event(e, aid, f"{where}.events[{k}]") for k, e in enumerate(raw_events))
    if not any(e.kind is EventKind.INTRODUCED for e in events):
        raise AdvisoryError(aid, f"{where}.events", "has no 'introduced' event")
    if range_type == RangeType.GIT and repo is None:
        raise AdvisoryError(aid, f"{where}.repo", "is required for a GIT range")
    return make_range(range_type, events, repo)


def _event(value: object, aid: str, where: str) -> Event:
    item: Mapping[str, Any] = fields.obj(value, aid, where)
    known = [(kind, item[kind.value]) for kind in EventKind if kind.value in item]
    if len(known) != 1:
        raise AdvisoryError(aid, where, "must hold exactly one of introduced, fixed, last_affected, limit")
    kind, version = known[0]
    return Event(kind, fields.text(version, aid, f"{where}.{kind.value}", required=True) or "")
