"""The schema's revision: the Alembic migrations shipped in ``migrations/``, what a database needs before the
code may use it, and the lock that makes processes starting at once (workers, nodes, CLI runs) agree.

Every command opens the database through :func:`open_database`:

- at the newest revision (the code's *head*): used as it is, without taking any lock;
- empty (none of the mirror's tables): created at head, unless the command only reads (DatabaseMissing);
- older (an older revision, or the tables a mirror from before migrations made, with no version table):
  upgraded only when asked (``mirror db upgrade``, or ``[database] auto_upgrade``), else SchemaOutdated
  naming the command;
- at a revision this code does not know (a newer mirror wrote it): SchemaUnknown, always.

Creating or upgrading happens under a lock (PostgreSQL: an advisory lock; SQLite: an exclusive transaction)
and re-reads the state under it, so concurrent starts migrate once; the migration and its version stamp
commit together (both databases have transactional DDL).

To change the schema: add ``migrations/versions/NNNN_what.py`` (revision "NNNN", down_revision the previous
one) and change :mod:`.tables` to match; ``tests/db/test_migrations.py`` checks that they agree. A revision
must keep the previous release working on the new schema (add tables, columns with defaults and indexes,
widen types; never drop or rename what that release reads): nodes are upgraded one by one after
``mirror db upgrade``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mirror.adapters.db.engine import (
    create_engine,
    database_problem,
    describe_database,
    failure,
    parse_database_url,
    sqlite_path,
)
from mirror.adapters.db.tables import VERSION_TABLE
from mirror.config import DatabaseConfig
from mirror.core.errors import DatabaseError, DatabaseMissing, SchemaOutdated, SchemaUnknown

#: Tables of the mirror before it had migrations: a database with any of them and no version table was made
#: by ``create_all`` and is at the initial revision.
LEGACY_TABLES = frozenset({"pages", "verified_wheel_metadata", "audit", "demand", "extracted_metadata",
                           "provenance_documents", "file_sightings"})
#: Seconds a process waits for another one's migration before giving up.
LOCK_WAIT = 600.0
#: The advisory lock (a 64-bit key) PostgreSQL sessions take to migrate the mirror's schema.
_PG_LOCK_KEY = 0x6D6972726F72  # "mirror"
_POLL = 0.2


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """What a database holds: its revision (None: no version table), whether it has the tables of a mirror
    from before migrations, and the code's head. ``exists`` is False for a SQLite file that is not there."""

    where: str
    head: str
    revision: str | None = None
    legacy: bool = False
    exists: bool = True

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.legacy

    @property
    def current(self) -> bool:
        return self.revision == self.head

    def describe(self) -> str:
        """One line: where, and at which revision relative to the code."""
        if not self.exists or self.empty:
            return f"{self.where}: no mirror tables yet (`mirror db upgrade` or `mirror serve` creates them)"
        if self.current:
            return f"{self.where}: schema revision {self.revision} (current)"
        if self.revision is None:
            return (f"{self.where}: schema from before migrations, older than this mirror's {self.head}: "
                    "run `mirror db upgrade`")
        if self.revision not in known_revisions():
            return (f"{self.where}: schema revision {self.revision}, unknown to this mirror (newest {self.head}): "
                    "a newer mirror wrote it")
        return f"{self.where}: schema revision {self.revision}, older than this mirror's {self.head}: " \
               "run `mirror db upgrade`"


def needs_migration(status: SchemaStatus, *, create: bool, upgrade: bool) -> bool:
    """Whether ``status`` must be migrated to head before use; raises when it must not be used.

    Raises SchemaUnknown for a revision the code does not know, DatabaseMissing for an empty database when
    ``create`` is false, SchemaOutdated for an older schema when ``upgrade`` is false.
    """
    if status.current:
        return False
    if status.revision is not None and status.revision not in known_revisions():
        raise SchemaUnknown(f"database {status.describe()}; upgrade mirror, or point it at another database")
    if status.empty:
        if not create:
            raise DatabaseMissing(f"database {status.describe()}")
        return True
    if not upgrade:
        raise SchemaOutdated(f"database {status.describe()} (or set [database] auto_upgrade = true)")
    return True


# --- the migration scripts -------------------------------------------------------------------------

def migrations_dir() -> Path:
    """The ``migrations/`` directory inside the installed package; DatabaseError if it is not a directory on
    disk (e.g. the package imported from a zip file)."""
    location = resources.files("mirror.adapters.db") / "migrations"
    path = Path(str(location))
    if not (path / "env.py").is_file():
        raise DatabaseError(f"the schema migrations are not on disk ({location}): install mirror as a directory")
    return path


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The newest revision of the migrations shipped with this code."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations have a single head"
    return head


def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def history() -> list[tuple[str, str]]:
    """Every revision with the first line of its description, oldest first."""
    return [(script.revision, (script.doc or "").strip().splitlines()[0] if script.doc else "")
            for script in reversed(list(_scripts().walk_revisions()))]


# --- reading and migrating a database ----------------------------------------------------------------

def _read_status(connection: Connection, where: str) -> SchemaStatus:
    tables = set(inspect(connection).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        heads = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads()
        revision = heads[0] if heads else None
    return SchemaStatus(where=where, head=head_revision(), revision=revision,
                        legacy=revision is None and bool(tables & LEGACY_TABLES))


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a migration may rewrite a big table
    command.upgrade(_alembic_config(connection), "head")


@asynccontextmanager
async def _locked(conn: AsyncConnection, where: str) -> AsyncIterator[None]:
    """Hold the schema lock on ``conn`` (and an open transaction) inside the block; waits up to LOCK_WAIT."""
    deadline = time.monotonic() + LOCK_WAIT
    if conn.dialect.name == "postgresql":
        while not (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})).scalar():
            await conn.rollback()
            if time.monotonic() > deadline:
                raise DatabaseError(f"database {where}: another process held the schema lock for {LOCK_WAIT:.0f} s")
            await asyncio.sleep(_POLL)
        await conn.commit()  # the advisory lock belongs to the session: it outlives this transaction
        try:
            yield
        finally:
            await conn.rollback()  # (a no-op after the block committed)
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            await conn.commit()
        return
    while True:
        try:
            # SQLite: one writer at a time; EXCLUSIVE takes the write lock now (waiting the busy timeout).
            await conn.exec_driver_sql("BEGIN EXCLUSIVE")
            break
        except OperationalError as exc:
            await conn.rollback()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(_POLL)
    try:
        yield
    finally:
        await conn.rollback()


async def _status(engine: AsyncEngine, where: str) -> SchemaStatus:
    async with engine.connect() as conn:
        return await conn.run_sync(_read_status, where)


async def _ensure(engine: AsyncEngine, where: str, *, create: bool, upgrade: bool) -> SchemaStatus:
    """Migrate the database to head if it needs it (and may); return its status before."""
    before = await _status(engine, where)
    if not needs_migration(before, create=create, upgrade=upgrade):
        return before
    async with engine.connect() as conn, _locked(conn, where):
        before = await conn.run_sync(_read_status, where)  # another process may have migrated meanwhile
        if needs_migration(before, create=create, upgrade=upgrade):
            await conn.run_sync(_upgrade)
        await conn.commit()
    return before


def _wrap(where: str, exc: Exception) -> DatabaseError:
    return failure(f"cannot use database {where}: {database_problem(exc)}", exc)


async def open_database(settings: DatabaseConfig, *, create: bool = True, upgrade: bool | None = None
                        ) -> AsyncEngine:
    """An engine on ``settings.url`` whose schema is at head; dispose of it when done.

    ``create``: an empty database (a SQLite file that does not exist yet, with its directory) is created at
    head; when false, DatabaseMissing instead, and nothing is created. ``upgrade`` (default
    ``settings.auto_upgrade``): an older schema is upgraded; when false, SchemaOutdated naming
    ``mirror db upgrade``. SchemaUnknown for a newer schema; DatabaseError (one line, no password) when the
    database cannot be reached or used.
    """
    where = describe_database(settings.url)
    url = parse_database_url(settings.url)
    path = sqlite_path(url)
    if path is not None:
        if not create and not path.exists():
            raise DatabaseMissing(f"database {SchemaStatus(where, head_revision(), exists=False).describe()}")
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _wrap(where, exc) from None
    engine = create_engine(settings)
    try:
        await _ensure(engine, where, create=create,
                      upgrade=settings.auto_upgrade if upgrade is None else upgrade)
    except BaseException as exc:
        await engine.dispose()
        if isinstance(exc, (SQLAlchemyError, OSError, TimeoutError)):
            raise _wrap(where, exc) from exc
        raise
    return engine


async def database_status(settings: DatabaseConfig) -> SchemaStatus:
    """The revision of the database at ``settings.url`` relative to the code; creates nothing. DatabaseError
    when it cannot be reached."""
    where = describe_database(settings.url)
    path = sqlite_path(parse_database_url(settings.url))
    if path is not None and not path.exists():
        return SchemaStatus(where, head_revision(), exists=False)
    engine = create_engine(settings)
    try:
        return await _status(engine, where)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise _wrap(where, exc) from exc
    finally:
        await engine.dispose()


async def upgrade_database(settings: DatabaseConfig) -> tuple[SchemaStatus, SchemaStatus]:
    """Create or upgrade the database at ``settings.url`` to head (``mirror db upgrade``); its status before
    and after. SchemaUnknown for a newer schema, DatabaseError when it cannot be used."""
    before = await database_status(settings)
    engine = await open_database(settings, create=True, upgrade=True)
    where = describe_database(settings.url)
    try:
        return before, await _status(engine, where)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise _wrap(where, exc) from exc
    finally:
        await engine.dispose()
