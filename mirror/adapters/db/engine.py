"""The async engine for a configured database: the driver, pool and timeouts of ``[database]``; SQLite tuned for
concurrent readers and writers. Nothing here creates tables: :mod:`mirror.adapters.db.schema` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mirror.config import DatabaseConfig, database_url_problem, mask_database_url, normalize_database_url
from mirror.core.errors import DatabaseError

#: Seconds a pooled connection is kept before it is replaced (below common server and proxy idle limits).
POOL_RECYCLE = 1800


def parse_database_url(url: str) -> URL:
    """The SQLAlchemy URL of ``url`` (normalized to the async driver); DatabaseError when it is not one the
    mirror can use, naming the extra that installs a missing driver. The message never shows the password."""
    problem = database_url_problem(url)
    if problem is not None:
        raise DatabaseError(f"database {describe_database(url)}: {problem}")
    try:
        return make_url(normalize_database_url(url))
    except ArgumentError as exc:  # (database_url_problem has parsed it already)
        raise DatabaseError(f"database {describe_database(url)}: not a database URL") from exc


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def create_engine(settings: DatabaseConfig) -> AsyncEngine:
    """An engine for ``settings.url`` with its pool and timeouts; connects lazily (nothing is created).

    PostgreSQL: pooled connections are checked before use (``pool_pre_ping``) and recycled; the connect timeout
    and the server-side ``statement_timeout`` come from ``settings``. SQLite: WAL journaling lets readers proceed
    during a write, and the busy timeout (``statement_timeout``) makes concurrent writers (several workers, the
    CLI) wait instead of failing. Raises DatabaseError for an unusable URL or a missing driver.
    """
    url = parse_database_url(settings.url)
    pool: dict[str, Any] = {"pool_size": settings.pool_size, "max_overflow": settings.max_overflow,
                            "pool_timeout": settings.pool_timeout, "pool_recycle": POOL_RECYCLE,
                            "pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        if sqlite_path(url) is None:
            # One connection shared by everything (StaticPool): an in-memory database lives in it.
            return create_async_engine(url)
        busy_ms = int(settings.statement_timeout * 1000)
        engine = create_async_engine(url, connect_args={"timeout": settings.statement_timeout}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # The busy timeout first: switching to WAL needs a lock another new process may hold.
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    statement_ms = int(settings.statement_timeout * 1000)
    return create_async_engine(url, **pool, connect_args={
        "timeout": settings.connect_timeout,
        # The client gives up a little after the server would have cancelled the statement.
        "command_timeout": settings.statement_timeout + 5,
        "server_settings": {"statement_timeout": str(statement_ms), "application_name": "mirror"},
    })


def describe_database(url: str) -> str:
    """``url`` as it may be shown to a user: the password hidden."""
    return mask_database_url(url)


def database_problem(exc: BaseException) -> str:
    """One line saying why a database operation failed (the driver's own message, without SQLAlchemy's
    statement dump and links)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__



async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (``SELECT 1``); raises DatabaseError (one line) when it fails."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise DatabaseError(f"database {describe_database(engine.url.render_as_string())}: "
                            f"{database_problem(exc)}") from exc
