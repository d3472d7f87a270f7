"""The async engine for a configured database: the driver, pool and timeouts of ``[database]``; SQLite tuned for
concurrent readers and writers. Nothing here creates tables: :mod:`mirror.adapters.db.schema` does."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mirror.config import DatabaseConfig, database_url_problem, mask_database_url, normalize_database_url
from mirror.core.errors import DatabaseError, DatabaseUnavailable

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=type)

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
    engine = create_async_engine(url, **pool, connect_args={
        "timeout": settings.connect_timeout,
        # The client gives up a little after the server would have cancelled the statement.
        "command_timeout": settings.statement_timeout + 5,
        "server_settings": {"statement_timeout": str(statement_ms), "application_name": "mirror"},
    })
    _bound_pre_ping(engine, settings.connect_timeout)
    return engine


def _bound_pre_ping(engine: AsyncEngine, timeout: float) -> None:
    """Bound the check of a pooled connection before use (``pool_pre_ping``) by ``timeout`` seconds.

    The driver's own check waits as long as a statement may (``statement_timeout`` + 5 s): a database that stops
    answering (a cut network, a frozen server) would hold every request needing it that long before the pool
    even tries a new connection. A check that fails or times out closes the connection and reports it dead; the
    pool then replaces it (and the connections opened before it), each attempt bounded by ``connect_timeout``.
    """
    def do_ping(dbapi_connection: Any) -> bool:
        try:
            dbapi_connection.run_async(lambda conn: conn.fetchval("SELECT 1", timeout=timeout))
        except Exception:  # noqa: BLE001 - any failure means: do not use this connection
            with contextlib.suppress(Exception):
                dbapi_connection.driver_connection.terminate()
            return False
        return True

    # This engine's dialect object only (each engine has its own).
    setattr(engine.sync_engine.dialect, "do_ping", do_ping)  # noqa: B010 - a method replaced on an instance


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


#: What a failing database raises through SQLAlchemy and the drivers: SQLAlchemy's errors, and the OSError or
#: TimeoutError of a connection attempt the driver raises unwrapped (asyncpg's connection refused, for one).
FAILURES = (SQLAlchemyError, OSError, TimeoutError)


#: SQLSTATE classes and codes that will not pass by themselves: wrong credentials or no such role (class 28), no
#: such database (3D000). Any other failure (refused, reset, timed out, starting up, shutting down) may pass.
_PERMANENT = ("28", "3D000")


def failure(message: str, exc: BaseException) -> DatabaseError:
    """The error for a failed database operation: DatabaseUnavailable (wait and try again) unless the database
    refused this client for good (credentials, no such database): then DatabaseError, a configuration problem."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if isinstance(state, str) and any(state.startswith(p) for p in _PERMANENT):
                return DatabaseError(message)
        seen = seen.__cause__
    return DatabaseUnavailable(message)


def one_line(label: str) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """A decorator for a coroutine that queries the database: any failure of the database becomes
    DatabaseUnavailable (``label: ...``, one line, no statement dump), so callers above the adapters handle one
    exception and never see a driver's."""
    def decorate(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await method(*args, **kwargs)
            except FAILURES as exc:
                raise failure(f"{label}: {database_problem(exc)}", exc) from exc

        return wrapper

    return decorate


def queries(label: str) -> Callable[[C], C]:
    """A class decorator: :func:`one_line` on every public coroutine method of the class."""
    def decorate(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(member):
                setattr(cls, name, one_line(label)(member))
        return cls

    return decorate


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (``SELECT 1``); raises DatabaseUnavailable (one line) when it fails, or
    DatabaseError when it refuses this client for good (see :func:`failure`)."""
    from sqlalchemy import text

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except FAILURES as exc:
        raise failure(f"database {describe_database(engine.url.render_as_string())}: {database_problem(exc)}",
                      exc) from exc
