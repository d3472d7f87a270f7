"""The audit log of reviewer commands and the demand queue of what clients asked for and did not get."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mirror.adapters.db.engine import queries
from mirror.adapters.db.tables import audit, demand
from mirror.adapters.db.upsert import larger, smaller, upsert

#: The PostgreSQL advisory lock (a 64-bit key) a demand batch holds for its transaction.
_DEMAND_LOCK_KEY = 0x6D69_7272_6F72_0001


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One policy change: who (``actor``) did what (``action``) to which ``target``, when and why.

    ``target`` is a normalized project name or ``project==version``; ``before`` and ``after`` are
    the affected policy text (None when there was none). ``id`` is None until the record is stored.
    """

    at: float
    actor: str
    action: str
    target: str
    before: str | None
    after: str | None
    note: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class DemandEntry:
    """How often a tier was asked for a project (``version`` "") or a release it did not hold."""

    tier: str
    project: str
    version: str
    count: int
    first_at: float
    last_at: float


@queries("database")
class AuditLog:
    """Append-only queries on the ``audit`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, record: AuditRecord) -> int:
        """Store ``record`` (its ``id`` is ignored) and return the id it was given; see :meth:`append_all`."""
        return (await self.append_all([record]))[0]

    async def append_all(self, records: Sequence[AuditRecord]) -> list[int]:
        """Store ``records`` (their ``id`` is ignored) in one transaction: all of them or none; return their ids.

        With SQLite the write lock is taken by the first INSERT, so concurrent writers (workers, CLI runs)
        wait on the engine's busy timeout instead of failing, and no record is lost. Raises
        DatabaseUnavailable if the database is read-only, unreachable or stays locked past that timeout.
        """
        ids: list[int] = []
        async with self._engine.begin() as conn:
            for record in records:
                values = asdict(record)
                del values["id"]
                result = await conn.execute(audit.insert().values(**values))
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
        return ids

    async def withdraw(self, ids: Sequence[int]) -> None:
        """Delete the records ``ids`` just appended for a change that then could not be made (the only
        deletion the log allows: a record must never describe a change that did not happen)."""
        if ids:
            async with self._engine.begin() as conn:
                await conn.execute(audit.delete().where(audit.c.id.in_(list(ids))))

    async def records(self, project: str | None = None, limit: int = 1000) -> list[AuditRecord]:
        """The latest ``limit`` records, oldest first (newest last), in the order they were appended.

        With ``project``, only the records whose target is that project or one of its releases
        (``project==version``); pass the normalized name, as stored.
        """
        query = select(audit)
        if project is not None:
            # autoescape: ``_`` and ``%`` in a (non-normalized) argument must not act as wildcards.
            query = query.where((audit.c.target == project)
                                | audit.c.target.startswith(project + "==", autoescape=True))
        query = query.order_by(audit.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditRecord(**row) for row in reversed(rows)]


    async def page(self, *, project: str | None = None, actor: str | None = None, before: int | None = None,
                   limit: int = 50) -> list[AuditRecord]:
        """Up to ``limit`` records, newest first, with an id below ``before`` (keyset pagination: pass the last
        id of a page to get the next), of ``project`` (and its releases) and by ``actor`` when given."""
        query = select(audit)
        if project is not None:
            query = query.where((audit.c.target == project)
                                | audit.c.target.startswith(project + "==", autoescape=True))
        if actor is not None:
            query = query.where(audit.c.actor == actor)
        if before is not None:
            query = query.where(audit.c.id < before)
        query = query.order_by(audit.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditRecord(**row) for row in rows]

    async def actors(self, limit: int = 500) -> list[str]:
        """The distinct actors of the log (at most ``limit``, alphabetical)."""
        query = select(audit.c.actor).distinct().order_by(audit.c.actor).limit(limit)
        async with self._engine.connect() as conn:
            return [row[0] for row in await conn.execute(query)]


@queries("database")
class DemandLog:
    """Counters on the ``demand`` table, fed in batches by the server and read by ``mirror demand``.

    With ``max_rows``, the table never keeps more rows than that: after each batch the least requested
    counters (the longest unrequested first among equals) are deleted.
    """

    def __init__(self, engine: AsyncEngine, max_rows: int | None = None) -> None:
        self._engine = engine
        self._max_rows = max_rows

    async def add(self, counts: Mapping[tuple[str, str, str], tuple[int, float]]) -> None:
        """Add a batch: for each ``(tier, project, version)``, ``(requests, time of the latest)``.

        An existing counter grows by the count and keeps its earliest ``first_at`` and latest
        ``last_at`` (batches from several workers may arrive out of order); a new one starts with
        both times set to the given time. One transaction for the whole batch and the pruning to
        ``max_rows``; on PostgreSQL batches of several processes or nodes take turns (an advisory lock).
        """
        if not counts:
            return
        rows = [{"tier": tier, "project": project, "version": version, "count": count,
                 "first_at": at, "last_at": at}
                for (tier, project, version), (count, at) in counts.items()]
        dialect = self._engine.dialect.name
        stmt = upsert(dialect, demand, [demand.c.tier, demand.c.project, demand.c.version], lambda new: {
            "count": demand.c.count + new.count,
            "first_at": smaller(dialect, demand.c.first_at, new.first_at),
            "last_at": larger(dialect, demand.c.last_at, new.last_at),
        })
        async with self._engine.begin() as conn:
            if dialect == "postgresql":
                # One batch at a time across processes and nodes (SQLite has a single writer anyway): one writer's
                # upserts and another's pruning would lock the same rows in opposite orders and deadlock.
                await conn.execute(select(func.pg_advisory_xact_lock(_DEMAND_LOCK_KEY)))
            await conn.execute(stmt, rows)
            await self._prune(conn)

    async def _prune(self, conn: AsyncConnection) -> None:
        """Delete the least requested, longest unrequested rows beyond ``max_rows``."""
        if self._max_rows is None:
            return
        total = (await conn.execute(select(func.count()).select_from(demand))).scalar_one()
        excess = total - self._max_rows
        if excess <= 0:
            return
        victims = (select(demand.c.tier, demand.c.project, demand.c.version)
                   .order_by(demand.c.count.asc(), demand.c.last_at.asc()).limit(excess))
        await conn.execute(delete(demand).where(tuple_(demand.c.tier, demand.c.project, demand.c.version)
                                                .in_(victims)))

    async def entries(self, tier: str | None = None) -> list[DemandEntry]:
        """All counters (or one tier's), most requested first, then most recently requested."""
        query = select(demand)
        if tier is not None:
            query = query.where(demand.c.tier == tier)
        query = query.order_by(demand.c.count.desc(), demand.c.last_at.desc(),
                               demand.c.tier, demand.c.project, demand.c.version)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [DemandEntry(**row) for row in rows]

    async def page(self, tier: str | None = None, *, offset: int = 0,
                   limit: int = 50) -> tuple[list[DemandEntry], int]:
        """One page of :meth:`entries` (same order) and how many counters there are in all."""
        query = select(demand)
        count = select(func.count()).select_from(demand)
        if tier is not None:
            query = query.where(demand.c.tier == tier)
            count = count.where(demand.c.tier == tier)
        query = query.order_by(demand.c.count.desc(), demand.c.last_at.desc(),
                               demand.c.tier, demand.c.project, demand.c.version).offset(offset).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [DemandEntry(**row) for row in rows], int(total)
