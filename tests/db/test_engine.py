"""The engine's settings from ``[database]``: statement timeouts and the pool, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.engine import create_engine
from mirror.core.errors import DatabaseUnavailable

from ..support.databases import settings
from .test_pages import page


async def test_postgres_statement_timeout_cancels_a_long_statement(postgres_url):
    engine = create_engine(settings(postgres_url, statement_timeout=0.5))
    try:
        started = time.monotonic()
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="statement timeout"):
                await conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 4
    finally:
        await engine.dispose()


async def test_sqlite_statement_timeout_bounds_the_wait_for_another_writer(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'mirror.db'}"
    engine = await open_database(settings(url, statement_timeout=0.5))
    other = sqlite3.connect(tmp_path / "mirror.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="OperationalError: database is locked") as caught:
            await PageStore(engine).save(page())
        assert isinstance(caught.value.__cause__, OperationalError)  # one line for callers, the cause kept
        assert 0.4 < time.monotonic() - started < 4
        other.execute("ROLLBACK")
        await PageStore(engine).save(page())  # and works once the lock is released
    finally:
        other.close()
        await engine.dispose()


async def test_the_pool_is_bounded(database_url):
    engine = await open_database(settings(database_url, pool_size=1, max_overflow=0, pool_timeout=0.5))
    try:
        async with engine.connect():
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                async with engine.connect():
                    pass
            assert time.monotonic() - started < 4
        async with engine.connect() as conn:  # the connection went back to the pool
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_connection_the_server_dropped_is_replaced(postgres_url):
    engine = await open_database(settings(postgres_url, pool_size=1, max_overflow=0))
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        killer = create_engine(settings(postgres_url))
        async with killer.connect() as conn:  # e.g. a database restart or an idle timeout on the way
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await killer.dispose()
        await asyncio.sleep(0.2)
        assert await PageStore(engine).load("absent") is None  # pool_pre_ping: a fresh connection, no error
    finally:
        await engine.dispose()
