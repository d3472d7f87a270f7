"""The licence each core metadata file declares, as the mirror read it (the ``metadata_licenses`` table)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.tables import metadata_licenses
from mirror.adapters.db.upsert import replace_all
from mirror.core.licenses import LicenseSource, ReleaseLicense

#: Values per IN (...) query: well under every database's limit on bound parameters.
_IN_BATCH = 2000


class LicenseRecords:
    """Async queries on ``metadata_licenses``: the metadata sha256 → the licence it declares."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def load(self, metadata_sha256s: list[str]) -> dict[str, ReleaseLicense]:
        found: dict[str, ReleaseLicense] = {}
        async with self._engine.connect() as conn:
            for start in range(0, len(metadata_sha256s), _IN_BATCH):
                batch = metadata_sha256s[start:start + _IN_BATCH]
                rows = await conn.execute(select(metadata_licenses).where(
                    metadata_licenses.c.metadata_sha256.in_(batch)))
                for r in rows:
                    try:
                        source = LicenseSource(r.source)
                    except ValueError:  # written by a newer version: read it again
                        continue
                    found[r.metadata_sha256] = ReleaseLicense(r.expression, source, r.detail)
        return found

    async def save(self, metadata_sha256: str, found: ReleaseLicense) -> None:
        """Record (or replace) what the metadata ``metadata_sha256`` declares."""
        values = {"metadata_sha256": metadata_sha256, "expression": found.expression, "source": found.source.value,
                  "detail": found.detail[:1000], "read_at": self._clock()}
        stmt = replace_all(self._engine.dialect.name, metadata_licenses, [metadata_licenses.c.metadata_sha256])
        async with self._engine.begin() as conn:
            await conn.execute(stmt, [values])
