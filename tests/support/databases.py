"""The databases tests run on: a SQLite file under the test's directory, and a fresh database of a real
PostgreSQL server per test.

PostgreSQL is named by ``MIRROR_TEST_DATABASE_URL`` (``postgresql+asyncpg://USER:PASSWORD@HOST[:PORT]/DB``, a
role that may create databases); each test gets a database of its own, created from that connection and
dropped afterwards. Without it (or without asyncpg) the PostgreSQL variants skip, saying how to provide it,
except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

from mirror.config import Config, DatabaseConfig, StorageConfig

from .mirror_server import MirrorServer, make_config

ENV = "MIRROR_TEST_DATABASE_URL"
HOW_TO_PROVIDE = (f"the PostgreSQL tests need a server: set {ENV}=postgresql+asyncpg://USER:PASSWORD@HOST/DB "
                  "(a role allowed to CREATE DATABASE) and pip install '.[postgres]'; .ci/run starts Debian's "
                  "PostgreSQL 15 and sets it")
#: The databases a test parametrized with ``database_url`` runs on.
DATABASES = ("sqlite", "postgresql")
T = TypeVar("T")


def unavailable(reason: str) -> None:
    """Skip (or fail under CI=true) a test that needs PostgreSQL."""
    message = f"{HOW_TO_PROVIDE} ({reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a loop of its own (callable from sync fixtures, whatever loop is set)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def admin_url() -> str:
    """The URL from the environment; skips (fails under CI) when PostgreSQL cannot be used."""
    url = os.environ.get(ENV, "")
    if not url:
        unavailable(f"{ENV} is not set")
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        unavailable("asyncpg is not installed")
    return url


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_postgres_database() -> str:
    """A new, empty database on the test server; its SQLAlchemy URL (drop it with drop_postgres_database)."""
    url = admin_url()
    name = f"mirror_test_{uuid.uuid4().hex[:12]}"
    try:
        _in_thread(_admin(url, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError) as exc:
        unavailable(f"cannot reach it: {exc}")
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a test database, ending the sessions still connected to it.

    A session another role opened (a server's pool being torn down as the test ends) may not be ours to end
    yet: a few tries, then the database is left behind with a warning rather than failing a test that passed.
    """
    import asyncpg

    name = make_url(url).database
    for attempt in range(5):
        try:
            _in_thread(_admin(admin_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except (asyncpg.exceptions.InsufficientPrivilegeError, asyncpg.exceptions.ObjectInUseError) as exc:
            last = exc
            time.sleep(0.5 * (attempt + 1))
    warnings.warn(f"test database {name} left behind: {last}", stacklevel=2)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL, once per database (SQLite: a file under ``tmp_path`` not created yet)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'mirror.db'}"
    return str(request.getfixturevalue("postgres_url"))


def with_database(config: Config, url: str) -> Config:
    """``config`` using the database at ``url``."""
    return replace(config, database=replace(config.database, url=url))


@pytest.fixture(name="mirror")
async def mirror_on_each_database(tmp_path: Path, upstream: Any, database_url: str) -> AsyncIterator[MirrorServer]:
    """The ``mirror`` fixture, once per database (import it into a test module to run its tests on both)."""
    server = MirrorServer(with_database(make_config(tmp_path, upstream.url), database_url))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(name="revalidating")
async def revalidating_on_each_database(tmp_path: Path, upstream: Any, database_url: str
                                        ) -> AsyncIterator[MirrorServer]:
    """The ``revalidating`` fixture (pages never fresh), once per database."""
    config = make_config(tmp_path, upstream.url, index_ttl=0, project_list_ttl=0)
    server = MirrorServer(with_database(config, database_url))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(name="any_mirror")
async def any_mirror_on_each_database(tmp_path: Path, upstream: Any, storage_config: StorageConfig,
                                      database_url: str) -> AsyncIterator[MirrorServer]:
    """The ``any_mirror`` fixture (files in each storage backend), on each database too."""
    server = MirrorServer(with_database(make_config(tmp_path, upstream.url, storage=storage_config), database_url))
    await server.start()
    yield server
    await server.stop()


def settings(url: str, **fields: Any) -> DatabaseConfig:
    """``[database]`` for ``url`` with short waits."""
    return DatabaseConfig(url=url, **{"statement_timeout": 30.0, "connect_timeout": 5.0, **fields})
