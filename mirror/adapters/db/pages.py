"""Persistent store of upstream index pages and of metadata the mirror extracted."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.engine import queries
from mirror.adapters.db.tables import extracted_metadata, pages
from mirror.adapters.db.upsert import replace_all

#: Key of the project list in the ``pages`` table (not a valid project name, so no clash).
INDEX_KEY = "/"
#: Values per IN (...) query: well under every database's limit on bound parameters.
_IN_BATCH = 2000


@dataclass(frozen=True, slots=True)
class PageRecord:
    """An upstream page as stored: raw bytes plus what is needed to revalidate and re-parse it."""

    key: str
    body: bytes
    content_type: str
    page_url: str
    etag: str | None
    serial: int | None
    revision: str
    fetched_at: float


@queries("database")
class PageStore:
    """Async queries on a table of stored upstream answers (``pages`` by default; ``provenance_documents``
    has the same columns) and on the ``extracted_metadata`` table."""

    def __init__(self, engine: AsyncEngine, table: Table = pages) -> None:
        self._engine = engine
        self._table = table

    async def load(self, key: str) -> PageRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(self._table).where(self._table.c.key == key))).mappings().first()
        return PageRecord(**row) if row else None

    async def save(self, record: PageRecord) -> None:
        """Insert or replace the page (one row per key)."""
        values = {f: getattr(record, f) for f in PageRecord.__dataclass_fields__}
        async with self._engine.begin() as conn:
            await conn.execute(replace_all(self._engine.dialect.name, self._table, [self._table.c.key]), values)

    async def touch(self, key: str, fetched_at: float) -> None:
        """Record that upstream confirmed the stored page is still current."""
        async with self._engine.begin() as conn:
            await conn.execute(self._table.update().where(self._table.c.key == key).values(fetched_at=fetched_at))

    async def delete(self, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(self._table).where(self._table.c.key == key))

    async def extracted_metadata_for(self, file_sha256s: list[str]) -> dict[str, str]:
        """file sha256 → metadata sha256, for the given files that have extracted metadata."""
        found: dict[str, str] = {}
        if not file_sha256s:
            return found
        async with self._engine.connect() as conn:
            for start in range(0, len(file_sha256s), _IN_BATCH):
                batch = file_sha256s[start:start + _IN_BATCH]
                rows = await conn.execute(
                    select(extracted_metadata).where(extracted_metadata.c.file_sha256.in_(batch)))
                found.update((r.file_sha256, r.metadata_sha256) for r in rows)
        return found

    async def record_extracted_metadata(self, file_sha256: str, metadata_sha256: str) -> None:
        """Record (or replace) what was extracted from the verified file ``file_sha256``: the latest
        extraction from the bytes wins, so a wrong row cannot outlive the next download of that file."""
        values = {"file_sha256": file_sha256, "metadata_sha256": metadata_sha256, "extracted_at": time.time()}
        stmt = replace_all(self._engine.dialect.name, extracted_metadata, [extracted_metadata.c.file_sha256])
        async with self._engine.begin() as conn:
            await conn.execute(stmt, values)
