"""Leases in the database: which process or node is fetching a key, until when, and how it ended.

A lease is one row of ``leases`` (see :mod:`.tables`). Every time in it is the *database's* clock (epoch seconds),
never a node's, so nodes whose clocks disagree still agree on when a lease expired. Taking a lease is one
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` (the row is free, released or expired) ``RETURNING``: atomic on
SQLite and PostgreSQL alike, so of any number of processes exactly one gets it. Why rows and not PostgreSQL's
advisory locks: they work on SQLite too (the processes of ``[server] workers`` share one SQLite file), they cost
no connection per lease held (an advisory lock lives in a session: a hundred cold files would pin a hundred
connections), and a released row tells the nodes that waited how the fetch ended.

Every query here is one short statement in its own transaction: no lock of the database is held while a node
fetches.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Float, and_, cast, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from mirror.adapters.db.engine import one_line
from mirror.adapters.db.tables import cluster_state, leases

#: Longest stored ``detail`` (why a fetch failed): enough for a message, bounded whatever an upstream said.
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A lease as stored; ``now`` is the database's clock when it was read. ``owner`` None: released."""

    key: str
    owner: str | None
    expires_at: float
    outcome: str | None
    detail: str | None
    changed_at: float
    now: float

    @property
    def held(self) -> bool:
        """Held by a live owner (not released, not expired)."""
        return self.owner is not None and self.expires_at > self.now


def database_now(dialect: str) -> ColumnElement[float]:
    """The database's clock in epoch seconds, as a SQL expression (sub-second precision on both databases)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return (func.julianday("now") - literal(2440587.5)) * literal(86400.0)


_one_line = one_line("leases")


class LeaseTable:
    """Queries on ``leases`` (and ``cluster_state``); every method is one statement and raises DatabaseError
    when the database fails: the caller decides what that means."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def _now(self) -> ColumnElement[float]:
        return database_now(self._dialect)

    @_one_line
    async def read(self, key: str) -> LeaseRow | None:
        """The lease of ``key`` as it is now, None when there is no row."""
        query = select(leases, self._now().label("now")).where(leases.c.key == key)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return LeaseRow(**row) if row is not None else None

    @_one_line
    async def take(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease of ``key`` for ``owner`` for ``ttl`` seconds if nobody holds it (no row, released,
        or expired); True when ``owner`` holds it now."""
        now = self._now()
        values = {"key": key, "owner": owner, "expires_at": now + ttl, "outcome": None, "detail": None,
                  "changed_at": now}
        insert = (postgresql.insert(leases) if self._dialect == "postgresql" else sqlite.insert(leases))
        new = insert.values(**values)
        stmt = new.on_conflict_do_update(
            index_elements=[leases.c.key],
            set_={"owner": new.excluded.owner, "expires_at": new.excluded.expires_at, "outcome": None,
                  "detail": None, "changed_at": new.excluded.changed_at},
            where=or_(leases.c.owner.is_(None), leases.c.expires_at < now),
        ).returning(leases.c.owner)
        async with self._engine.begin() as conn:
            won = (await conn.execute(stmt)).scalar_one_or_none()
        return won == owner

    @_one_line
    async def renew(self, owner: str, keys: Collection[str], ttl: float) -> set[str]:
        """Extend ``owner``'s leases of ``keys`` by ``ttl`` seconds from now; the keys it still held (a lease
        that expired and was taken by another owner is not among them)."""
        if not keys:
            return set()
        stmt = (update(leases).where(and_(leases.c.owner == owner, leases.c.key.in_(list(keys))))
                .values(expires_at=self._now() + ttl).returning(leases.c.key))
        async with self._engine.begin() as conn:
            return set((await conn.execute(stmt)).scalars().all())

    @_one_line
    async def release(self, key: str, owner: str, outcome: str | None, detail: str | None = None) -> bool:
        """Release ``owner``'s lease of ``key``, leaving ``outcome`` for the nodes that waited; False when
        ``owner`` no longer held it."""
        now = self._now()
        stmt = (update(leases).where(and_(leases.c.key == key, leases.c.owner == owner))
                .values(owner=None, expires_at=now, outcome=outcome,
                        detail=None if detail is None else detail[:MAX_DETAIL], changed_at=now))
        async with self._engine.begin() as conn:
            return ((await conn.execute(stmt)).rowcount or 0) > 0

    @_one_line
    async def prune(self, keep: float) -> int:
        """Delete the rows released, or expired, more than ``keep`` seconds ago; how many."""
        now = self._now()
        stmt = delete(leases).where(or_(and_(leases.c.owner.is_(None), leases.c.changed_at < now - keep),
                                        leases.c.expires_at < now - keep))
        async with self._engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount or 0

    # -- small shared values -----------------------------------------------------------------------------

    @_one_line
    async def get_value(self, key: str) -> tuple[str, float] | None:
        """The value of ``key`` in ``cluster_state`` and when it was set (database clock), or None."""
        query = select(cluster_state.c.value, cluster_state.c.updated_at).where(cluster_state.c.key == key)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row.value, row.updated_at) if row is not None else None

    @_one_line
    async def set_value(self, key: str, value: str) -> float:
        """Set ``key`` in ``cluster_state`` (stamped with the database's clock); returns that stamp."""
        insert = (postgresql.insert(cluster_state) if self._dialect == "postgresql"
                  else sqlite.insert(cluster_state))
        new = insert.values(key=key, value=value, updated_at=self._now())
        stmt = new.on_conflict_do_update(index_elements=[cluster_state.c.key],
                                         set_={"value": new.excluded.value, "updated_at": new.excluded.updated_at}
                                         ).returning(cluster_state.c.updated_at)
        async with self._engine.begin() as conn:
            return float((await conn.execute(stmt)).scalar_one())
