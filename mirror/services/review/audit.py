"""What the reviewer commands keep in the configured database (opened on first use): the audit trail (every change
to a policy file is recorded, before the file changes: see :meth:`ReviewService._change`), the demand log, the
lock that serializes the commands of every node, and the signal that tells every node to re-read the policies."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from mirror.config import ClusterConfig, DatabaseConfig
from mirror.core.errors import DatabaseError, ReviewError
from mirror.services.leases import LeaseBusy, Leases, LeaseSettings, new_owner
from mirror.services.policies import PolicySignal

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("mirror.review")

#: The lease every node's reviewer commands take while they edit a policy file.
POLICY_LOCK = "policy-edit"
#: The ``cluster_state`` key of the policy signal.
POLICY_SIGNAL = "policy"
#: How long a command waits for another one holding the lock (as for the directory's own lock).
LOCK_WAIT = 60.0


class AuditUnavailable(ReviewError):
    """The audit records could not be written (or withdrawn); the message says what and why, in one line."""


class AuditTrail:
    """The database of ``settings`` (its URL filled in), as the reviewer commands use it. Call :meth:`close` when
    done.

    Writes create a database that does not exist yet (at the current schema); reads never create one: a missing
    database is reported (DatabaseMissing), an outdated schema too (SchemaOutdated naming ``mirror db upgrade``).
    """

    def __init__(self, settings: DatabaseConfig, cluster: ClusterConfig = ClusterConfig()) -> None:
        self._settings = settings
        self._cluster = cluster
        self._engine: AsyncEngine | None = None
        self._scratch: AsyncEngine | None = None
        #: Set when a read-only command could not use the database and used a scratch one (see cache_engine).
        self.missing: str | None = None

    async def close(self) -> None:
        for engine in (self._engine, self._scratch):
            if engine is not None:
                await engine.dispose()
        self._engine = self._scratch = None

    async def _database(self, *, create: bool) -> AsyncEngine:
        if self._engine is None:
            from mirror.adapters.db import open_database

            self._engine = await open_database(self._settings, create=create)
        return self._engine

    async def cache_engine(self) -> AsyncEngine:
        """The database, for the provenance cache the server shares, if it can be used as it is; otherwise (none
        yet, an outdated schema, unreachable) an empty scratch database in memory, so that the read-only commands
        that verify provenance (``explain``, ``check``) still work and create or change nothing; :attr:`missing`
        then says why."""
        try:
            return await self._database(create=False)
        except DatabaseError as exc:
            if self._scratch is None:
                from mirror.adapters.db import open_database

                self.missing = (f"{exc}: provenance was fetched without the shared cache, nothing was cached, and "
                                "no stored advisory or licence was read")
                self._scratch = await open_database(DatabaseConfig(url="sqlite+aiosqlite://"))
            return self._scratch

    def _unavailable(self, what: str, exc: BaseException) -> AuditUnavailable:
        from mirror.adapters.db.engine import database_problem, describe_database

        return AuditUnavailable(f"{what} the audit log in {describe_database(self._settings.url)} "
                                f"({database_problem(exc)})")

    async def append_all(self, records: Sequence[AuditRecord]) -> list[int]:
        """Store ``records`` together (all or none); AuditUnavailable when the database refuses."""
        try:
            return await AuditLog(await self._database(create=True)).append_all(records)
        except Exception as exc:  # any driver, any failure: the command must stop before changing a file
            raise self._unavailable("cannot write to", exc) from exc

    async def withdraw(self, ids: Sequence[int]) -> None:
        """Delete records just appended for a change that could not be made; AuditUnavailable if it fails."""
        try:
            await AuditLog(await self._database(create=True)).withdraw(ids)
        except Exception as exc:
            raise self._unavailable("cannot withdraw records from", exc) from exc

    async def records(self, name: str | None = None) -> list[AuditRecord]:
        """The audit records (of project ``name``); DatabaseMissing when there is no database."""
        return await AuditLog(await self._database(create=False)).records(name)

    async def demand_entries(self, tier: str | None = None) -> list[DemandEntry]:
        """The demand counters (of ``tier``); DatabaseMissing when there is no database."""
        return await DemandLog(await self._database(create=False)).entries(tier)

    @contextlib.asynccontextmanager
    async def shared_lock(self) -> AsyncIterator[None]:
        """Hold the policy lock of every node (a lease in the database, lost within ``[cluster] lease_ttl`` by a
        command that dies) for the block; AuditUnavailable when the database cannot be used, ReviewError when
        another command holds it for more than :data:`LOCK_WAIT` seconds. Creates no database."""
        from mirror.adapters.db.leases import LeaseTable
        from mirror.core.errors import DatabaseMissing

        try:
            table = LeaseTable(await self._database(create=False))
        except DatabaseMissing:
            # No database yet: no server has started on it, so there is no other node to keep in step with (the
            # directory's lock still serializes this machine's commands); the edit's audit record creates it.
            yield
            return
        except Exception as exc:
            raise AuditUnavailable(f"nothing changed: {self._unavailable('cannot write to', exc)}") from exc
        settings = LeaseSettings(ttl=self._cluster.lease_ttl, poll=self._cluster.lease_poll)
        leases = Leases(table, new_owner(self._cluster.node_name or "cli"), settings)
        held = contextlib.AsyncExitStack()
        try:
            try:
                await held.enter_async_context(leases.hold(POLICY_LOCK, LOCK_WAIT))
            except LeaseBusy as exc:
                raise ReviewError(f"nothing changed: {exc} (the policy lock in the database)") from None
            except DatabaseError as exc:
                raise AuditUnavailable(f"nothing changed: {self._unavailable('cannot lock', exc)}") from exc
            yield
        finally:
            await held.aclose()
            await leases.close()

    async def signal(self, version: str | None, by: str, action: str) -> None:
        """Leave the policy signal (``version`` now in the directory) that makes every node re-read its policies at
        once; a failure is only logged (the nodes still see the change when they next look at the directory)."""
        from mirror.adapters.db.leases import LeaseTable

        try:
            table = LeaseTable(await self._database(create=True))
            await table.set_value(POLICY_SIGNAL, PolicySignal(version, by, action).encode())
        except Exception as exc:  # the change is made; the signal only speeds up its spreading
            log.warning("could not signal the policy change to the other nodes (they see it within "
                        "[policies] reload_interval of their directory showing it): %s", exc)
