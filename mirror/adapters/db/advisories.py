"""Advisories in the database: OSV imports (deduplicated by the latest ``modified``), upstream's JSON API entries
per release, the projects each names, and a change log running servers follow (the ``advisories``,
``advisory_projects`` and ``advisory_changes`` tables)."""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mirror.adapters.db.tables import advisories, advisory_changes, advisory_projects
from mirror.adapters.db.upsert import upsert
from mirror.core.advisories import Advisory, AdvisorySource, is_malware
from mirror.core.advisories.record import from_record, to_record

#: Rows per statement: well under every database's limit on bound parameters.
_BATCH = 200
#: Change-log rows older than this are pruned (a server that has not looked for a day reads everything again).
CHANGES_KEPT = 24 * 3600.0


class Outcome(enum.StrEnum):
    """What storing one imported advisory did."""

    NEW = "new"
    UPDATED = "updated"  #: a later ``modified`` replaced the stored record
    UNCHANGED = "unchanged"  #: the same ``modified`` (or the same JSON API entry) was already stored
    OLDER = "older"  #: the stored record is newer: kept


@dataclass(frozen=True, slots=True)
class Stored:
    """One advisory after an import: what happened, and the record it replaced (None when new)."""

    advisory: Advisory
    outcome: Outcome
    previous: Advisory | None = None

    @property
    def projects(self) -> frozenset[str]:
        """The projects whose evidence changed: those named now and those named before."""
        names = {a.name for a in self.advisory.affected}
        if self.previous is not None:
            names |= {a.name for a in self.previous.affected}
        return frozenset(names)


def osv_key(advisory_id: str) -> str:
    return f"osv:{advisory_id}"


def json_api_key(advisory_id: str, project: str, version: str) -> str:
    return f"json-api:{advisory_id}:{project}=={version}"


def _row(key: str, advisory: Advisory, now: float) -> dict[str, Any]:
    record = to_record(advisory)
    return {"key": key, "source": advisory.source.value, "id": advisory.id, "aliases": json.dumps(record["aliases"]),
            "summary": advisory.summary, "modified": record["modified"], "published": record["published"],
            "withdrawn": record["withdrawn"], "affected": json.dumps(record["affected"], separators=(",", ":")),
            "refs": json.dumps(record["references"]), "malware": is_malware(advisory), "stored_at": now}


def _advisory(row: Any) -> Advisory:
    return from_record({"source": row.source, "id": row.id, "aliases": json.loads(row.aliases),
                        "summary": row.summary, "modified": row.modified, "published": row.published,
                        "withdrawn": row.withdrawn, "affected": json.loads(row.affected),
                        "references": json.loads(row.refs)})


class AdvisoryStore:
    """Async queries on the advisory tables."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def import_osv(self, items: Iterable[Advisory]) -> list[Stored]:
        """Store OSV advisories: one record per id, the latest ``modified`` wins (a record without one never
        replaces a stored one). Returns what happened to each distinct id, in the order first seen; one
        transaction per batch of ids."""
        latest: dict[str, Advisory] = {}
        for advisory in items:
            known = latest.get(advisory.id)
            if known is None or _newer(advisory, known):
                latest[advisory.id] = advisory
        results: list[Stored] = []
        batch = list(latest.values())
        for start in range(0, len(batch), _BATCH):
            async with self._engine.begin() as conn:
                results += await self._import_batch(conn, batch[start:start + _BATCH])
        return results

    async def _import_batch(self, conn: AsyncConnection, batch: Sequence[Advisory]) -> list[Stored]:
        keys = [osv_key(a.id) for a in batch]
        rows = (await conn.execute(select(advisories).where(advisories.c.key.in_(keys)))).all()
        stored = {r.key: _advisory(r) for r in rows}
        now = self._clock()
        results: list[Stored] = []
        writes: list[tuple[str, Advisory, Advisory | None]] = []
        for advisory, key in zip(batch, keys):
            previous = stored.get(key)
            if previous is None:
                results.append(Stored(advisory, Outcome.NEW))
            elif _newer(advisory, previous):
                results.append(Stored(advisory, Outcome.UPDATED, previous))
            else:
                results.append(Stored(advisory, Outcome.UNCHANGED if advisory.modified == previous.modified
                                      else Outcome.OLDER, previous))
                continue
            writes.append((key, advisory, previous))
        if writes:
            await self._write(conn, writes, now, osv=True)
        return results

    async def _write(self, conn: AsyncConnection, writes: Sequence[tuple[str, Advisory, Advisory | None]], now: float,
                     *, osv: bool) -> None:
        def later(excluded: Any) -> Any:  # two importers at once: a record never replaces a later one
            return advisories.c.modified.is_(None) | (advisories.c.modified < excluded.modified)

        stmt = upsert(self._engine.dialect.name, advisories, [advisories.c.key],
                      lambda excluded: {c.name: excluded[c.name] for c in advisories.columns if c.name != "key"},
                      later if osv else None)
        await conn.execute(stmt, [_row(key, advisory, now) for key, advisory, _ in writes])
        keys = [key for key, _, _ in writes]
        await conn.execute(delete(advisory_projects).where(advisory_projects.c.key.in_(keys)))
        links = [{"project": name, "key": key} for key, advisory, _ in writes
                 for name in dict.fromkeys(a.name for a in advisory.affected)]
        if links:
            await conn.execute(advisory_projects.insert(), links)
        changed = sorted({name for key, advisory, previous in writes
                          for name in Stored(advisory, Outcome.NEW, previous).projects})
        if changed:
            await conn.execute(advisory_changes.insert(), [{"project": name, "at": now} for name in changed])

    async def sync_json_api(self, project: str, version: str, found: Sequence[Advisory]) -> bool:
        """Make the stored JSON API entries of release ``version`` of ``project`` those of its document now
        (``found``, as :func:`~mirror.core.advisories.from_json_api` reads them); True when anything changed."""
        prefix_rows = select(advisories).join(advisory_projects, advisory_projects.c.key == advisories.c.key).where(
            (advisory_projects.c.project == project) & (advisories.c.source == AdvisorySource.JSON_API.value))
        wanted = {json_api_key(a.id, project, version): a for a in found}
        async with self._engine.begin() as conn:
            rows = (await conn.execute(prefix_rows)).all()
            mine = {r.key: r for r in rows if r.key.endswith(f":{project}=={version}")}
            gone = [key for key in mine if key not in wanted]
            writes = [(key, a, None) for key, a in wanted.items()
                      if key not in mine or to_record(_advisory(mine[key])) != to_record(a)]
            now = self._clock()
            if gone:
                await conn.execute(delete(advisories).where(advisories.c.key.in_(gone)))
                await conn.execute(delete(advisory_projects).where(advisory_projects.c.key.in_(gone)))
            if writes:
                await self._write(conn, writes, now, osv=False)
            elif gone:
                await conn.execute(advisory_changes.insert(), [{"project": project, "at": now}])
        return bool(gone or writes)

    async def for_project(self, project: str) -> list[Advisory]:
        """Every stored advisory naming ``project`` (normalized), withdrawn ones included."""
        query = select(advisories).join(advisory_projects, advisory_projects.c.key == advisories.c.key).where(
            advisory_projects.c.project == project)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_advisory(r) for r in rows]

    async def malware(self, projects: Iterable[str] | None = None) -> list[Advisory]:
        """The stored malware reports that are not withdrawn: all of them, or those naming one of ``projects``."""
        query = select(advisories).where(advisories.c.malware.is_(True) & advisories.c.withdrawn.is_(None))
        names = sorted(set(projects)) if projects is not None else None
        async with self._engine.connect() as conn:
            if names is None:
                rows = (await conn.execute(query)).all()
            else:
                rows = []
                for start in range(0, len(names), _BATCH):
                    keys = select(advisory_projects.c.key).where(
                        advisory_projects.c.project.in_(names[start:start + _BATCH]))
                    rows += (await conn.execute(query.where(advisories.c.key.in_(keys)))).all()
        return list({r.key: _advisory(r) for r in rows}.values())

    async def last_change(self) -> int:
        """The sequence number of the latest change (0 when none)."""
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.max(advisory_changes.c.seq)))).scalar() or 0)

    async def changes_since(self, seq: int, limit: int = 10_000) -> tuple[int, set[str]]:
        """The projects whose advisories changed after change ``seq``, and the latest change's number."""
        query = (select(advisory_changes.c.seq, advisory_changes.c.project)
                 .where(advisory_changes.c.seq > seq).order_by(advisory_changes.c.seq).limit(limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return (rows[-1].seq if rows else seq), {r.project for r in rows}

    async def prune_changes(self) -> None:
        """Forget changes older than ``CHANGES_KEPT`` seconds."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(advisory_changes).where(advisory_changes.c.at < self._clock() - CHANGES_KEPT))


def _newer(candidate: Advisory, than: Advisory) -> bool:
    if candidate.modified is None:
        return False
    return than.modified is None or candidate.modified > than.modified
