"""The audit trail of the reviewer commands, and the demand log, in the configured database (opened on first
use): every change to a policy file is appended as one record."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from mirror.core.errors import ReviewError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class AuditTrail:
    """The database at ``database_url``, as the reviewer commands use it. Call :meth:`close` when done."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._engine: AsyncEngine | None = None

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def engine(self) -> AsyncEngine:
        """The database engine (opened on first use), also for the provenance cache the server shares."""
        return await self._database()

    async def _database(self) -> AsyncEngine:
        if self._engine is None:
            from mirror.adapters.db.engine import open_database

            self._engine = await open_database(self._database_url)
        return self._engine

    async def append(self, at: datetime, actor: str, action: str, target: str, before: str | None,
                     after: str | None, note: str | None) -> int:
        try:
            return await AuditLog(await self._database()).append(AuditRecord(
                at=at.timestamp(), actor=actor, action=action, target=target, before=before, after=after,
                note=note or ""))
        except Exception as exc:  # the file is already changed: say so instead of failing silently
            raise ReviewError(f"the policy file was changed but the audit record could not be written: "
                              f"{type(exc).__name__}: {exc}") from exc

    async def records(self, name: str | None = None) -> list[AuditRecord]:
        return await AuditLog(await self._database()).records(name)

    async def demand_entries(self, tier: str | None = None) -> list[DemandEntry]:
        return await DemandLog(await self._database()).entries(tier)
