"""Create the async engine for a configured URL, with SQLite tuned for concurrent readers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mirror.adapters.db.tables import metadata


async def open_database(url: str) -> AsyncEngine:
    """Open (and create if needed) the database at ``url``; tables are created when missing.

    For SQLite the parent directory is created, WAL journaling lets readers proceed during a write,
    and a busy timeout makes concurrent writers (several workers, the CLI) wait instead of failing.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30} if is_sqlite else {})
    if is_sqlite:
        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    for attempt in range(3):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            break
        except OperationalError:
            # Two processes creating a new database at once: one of them loses "table exists"; retry.
            if attempt == 2:
                raise
    return engine


def describe_database(url: str) -> str:
    """``url`` as it may be shown to a user: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials part
        return url.split("@")[-1]


def database_problem(exc: BaseException) -> str:
    """One line saying why a database operation failed (the driver's own message, without SQLAlchemy's
    statement dump and links)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
