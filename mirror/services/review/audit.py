"""The audit trail of the reviewer commands, and the demand log, in the configured database (opened on first
use): every change to a policy file is recorded, before the file changes (see :meth:`ReviewService._change`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from mirror.core.errors import ReviewError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class AuditUnavailable(ReviewError):
    """The audit records could not be written (or withdrawn); the message says what and why, in one line."""


class AuditTrail:
    """The database at ``database_url``, as the reviewer commands use it. Call :meth:`close` when done.

    ``read_only``: never create the database. Reading a SQLite database that does not exist yet gives no
    records, and :meth:`engine` is then an in-memory one (nothing is left on disk).
    """

    def __init__(self, database_url: str, *, read_only: bool = False) -> None:
        self._database_url = database_url
        self._read_only = read_only
        self._engine: AsyncEngine | None = None

    def exists(self) -> bool:
        """False for a SQLite database whose file does not exist yet (any other database counts as existing)."""
        from sqlalchemy.engine import make_url

        url = make_url(self._database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return True
        return Path(url.database).is_file()

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

            url = self._database_url
            if self._read_only and not self.exists():
                url = "sqlite+aiosqlite:///:memory:"
            self._engine = await open_database(url)
        return self._engine

    def _unavailable(self, what: str, exc: BaseException) -> AuditUnavailable:
        from mirror.adapters.db.engine import database_problem, describe_database

        return AuditUnavailable(f"{what} the audit log in {describe_database(self._database_url)} "
                                f"({database_problem(exc)})")

    async def append_all(self, records: Sequence[AuditRecord]) -> list[int]:
        """Store ``records`` together (all or none); AuditUnavailable when the database refuses."""
        try:
            return await AuditLog(await self._database()).append_all(records)
        except Exception as exc:  # any driver, any failure: the command must stop before changing a file
            raise self._unavailable("cannot write to", exc) from exc

    async def withdraw(self, ids: Sequence[int]) -> None:
        """Delete records just appended for a change that could not be made; AuditUnavailable if it fails."""
        try:
            await AuditLog(await self._database()).withdraw(ids)
        except Exception as exc:
            raise self._unavailable("cannot withdraw records from", exc) from exc

    async def records(self, name: str | None = None) -> list[AuditRecord]:
        if self._read_only and not self.exists():
            return []
        return await AuditLog(await self._database()).records(name)

    async def demand_entries(self, tier: str | None = None) -> list[DemandEntry]:
        if self._read_only and not self.exists():
            return []
        return await DemandLog(await self._database()).entries(tier)
