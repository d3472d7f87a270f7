"""When the mirror first saw each file of a project (the ``file_sightings`` table)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.engine import queries
from mirror.adapters.db.tables import file_sightings
from mirror.adapters.db.upsert import insert_new

#: Rows per INSERT statement: well under every database's limit on bound parameters.
_BATCH = 500
#: The columns of an inserted row, in the order its tuple gives them.
_COLUMNS = ("project", "filename", "sha256", "first_seen", "initial")


class SightingRow(msgspec.Struct, frozen=True, gc=False):
    """One file of one project as first seen: its name, sha256 (None when upstream gave none), when (epoch
    seconds), and whether it was listed when the mirror first fetched the project."""

    filename: str
    sha256: str | None
    first_seen: float
    initial: bool


@queries("database")
class SightingStore:
    """Async queries on ``file_sightings``; the first sighting of a file is kept, later ones are ignored."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert_sql: str | None = None

    def _insert(self) -> str:
        """The dialect's SQL of the insert (compiled once): rows are then handed to the driver as tuples, in
        the column order below, without SQLAlchemy's per-row work (a first page of 15,000 files is 15,000 rows)."""
        if self._insert_sql is None:
            stmt = insert_new(self._engine.dialect.name, file_sightings,
                              [file_sightings.c.project, file_sightings.c.filename])
            compiled = stmt.compile(dialect=self._engine.dialect, column_keys=list(_COLUMNS))
            assert compiled.positiontup == list(_COLUMNS), compiled.positiontup
            self._insert_sql = str(compiled)
        return self._insert_sql

    async def load(self, project: str) -> list[SightingRow]:
        """Every recorded file of ``project`` (normalized name)."""
        query = select(file_sightings.c.filename, file_sightings.c.sha256, file_sightings.c.first_seen,
                       file_sightings.c.initial).where(file_sightings.c.project == project)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [SightingRow(r.filename, r.sha256, r.first_seen, bool(r.initial)) for r in rows]

    async def record(self, project: str, rows: Sequence[SightingRow]) -> None:
        """Add first sightings; a file already recorded (by this process or another node) keeps its row."""
        if not rows:
            return
        sql = self._insert()
        async with self._engine.begin() as conn:
            # Batch by batch: a page of 15,000 files never holds the event loop for all of its rows at once.
            for start in range(0, len(rows), _BATCH):
                await conn.exec_driver_sql(sql, [(project, r.filename, r.sha256, float(r.first_seen), bool(r.initial))
                                                 for r in rows[start:start + _BATCH]])
