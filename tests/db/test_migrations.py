"""Schema migrations on SQLite and PostgreSQL: from empty, from the database of a mirror from before migrations,
refusals (older, newer, missing), and processes starting at once."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import PageStore, database_status, open_database, upgrade_database
from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from mirror.adapters.db.engine import create_engine
from mirror.adapters.db.schema import _alembic_config, head_revision, history, known_revisions
from mirror.adapters.db.sightings import SightingStore
from mirror.adapters.db.tables import VERSION_TABLE, metadata, provenance_documents
from mirror.core.errors import DatabaseMissing, SchemaOutdated, SchemaUnknown

from ..support.databases import settings

LEGACY_FILE = Path(__file__).resolve().parent.parent / "data" / "db" / "legacy-main.sqlite"
#: What tests/data/db/make_legacy.py wrote into the legacy file (and what legacy() writes on PostgreSQL).
LEGACY_AUDIT = [
    AuditRecord(at=1700000100.0, actor="alice", action="promote", target="demo-app", before=None,
                after='[review]\nby = "alice"\n', note="core dependency", id=1),
    AuditRecord(at=1700000200.0, actor="bob", action="vet", target="demo-app==1.0", before=None,
                after='[vetted."1.0"]\n', note="", id=2),
]
LEGACY_DEMAND = [DemandEntry("reviewed", "flask", "", 3, 1700000300.0, 1700000300.0),
                 DemandEntry("vetted", "demo-app", "2.0", 1, 1700000400.0, 1700000400.0)]
#: The provenance document the legacy database keeps in `pages` (under "provenance:<key>"); 0003 moves it.
PROVENANCE_URL = "http://up.example/integrity/demo-app/1.0/demo_app-1.0-py3-none-any.whl/provenance"
PROVENANCE = b'{"version": 1, "attestation_bundles": []}'
PROVENANCE_KEY = hashlib.sha256(PROVENANCE_URL.encode()).hexdigest()


async def schema_differences(url: str) -> list:
    """What differs between the database's tables and mirror/adapters/db/tables.py (empty when they agree)."""
    engine = create_engine(settings(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "version_table": VERSION_TABLE}),
                metadata))
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_engine(settings(url))
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def legacy(url: str, tmp_path: Path) -> str:
    """A database as a mirror from before migrations left it, rows in every table; its URL.

    SQLite: a copy of the file that mirror wrote (tests/data/db/make_legacy.py). PostgreSQL: the same tables
    (the initial revision creates exactly what ``create_all`` did), the version table removed, the same rows.
    """
    if url.startswith("sqlite"):
        path = tmp_path / "legacy" / "mirror.db"
        path.parent.mkdir()
        shutil.copy(LEGACY_FILE, path)
        return f"sqlite+aiosqlite:///{path}"
    engine = create_engine(settings(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0001"))
            await conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
            await conn.execute(text("CREATE TABLE extracted_metadata (file_sha256 VARCHAR(64) PRIMARY KEY, "
                                    "metadata_sha256 VARCHAR(64) NOT NULL)"))
            await conn.execute(text("INSERT INTO extracted_metadata VALUES (:a, :b)"), {"a": "c" * 64, "b": "d" * 64})
            await conn.execute(text(
                "INSERT INTO pages VALUES ('demo-app', :body, 'application/vnd.pypi.simple.v1+json', "
                "'http://up.example/simple/demo-app/', '\"abc\"', 42, 'r1', 1700000000.0), "
                "('/', '<html>index</html>'::bytea, 'text/html', 'http://up.example/simple/', NULL, NULL, 'r2', "
                "1700000001.0)"), {"body": b'{"meta": {"api-version": "1.1"}, "files": []}'})
            await conn.execute(text(
                "INSERT INTO pages VALUES (:key, :body, 'application/vnd.pypi.integrity.v1+json', :url, '\"p1\"', "
                "NULL, :revision, 1700000002.0)"), {"key": f"provenance:{PROVENANCE_KEY}", "body": PROVENANCE,
                                                    "url": PROVENANCE_URL, "revision": "r3"})
            await conn.execute(text("INSERT INTO verified_wheel_metadata VALUES (:a, :b, 1.0)"),
                               {"a": "a" * 64, "b": "b" * 64})
            for r in LEGACY_AUDIT:
                await conn.execute(text("INSERT INTO audit (at, actor, action, target, before, after, note) "
                                        "VALUES (:at, :actor, :action, :target, :before, :after, :note)"),
                                   {k: getattr(r, k) for k in ("at", "actor", "action", "target", "before", "after",
                                                               "note")})
            for d in LEGACY_DEMAND:
                await conn.execute(text("INSERT INTO demand VALUES (:tier, :project, :version, :count, :first_at, "
                                        ":last_at)"), {k: getattr(d, k) for k in
                                                       ("tier", "project", "version", "count", "first_at", "last_at")})
    finally:
        await engine.dispose()
    return url


async def assert_legacy_rows_kept(engine: AsyncEngine) -> None:
    store = PageStore(engine)
    page = await store.load("demo-app")
    assert page is not None
    assert (page.body, page.etag, page.serial, page.fetched_at) == (
        b'{"meta": {"api-version": "1.1"}, "files": []}', '"abc"', 42, 1700000000.0)
    index = await store.load("/")
    assert index is not None and index.body == b"<html>index</html>" and index.etag is None
    assert await store.extracted_metadata_for(["a" * 64, "c" * 64]) == {"a" * 64: "b" * 64}
    # The provenance document moved to its own table, its age kept.
    assert await store.load(f"provenance:{PROVENANCE_KEY}") is None
    document = await PageStore(engine, provenance_documents).load(PROVENANCE_KEY)
    assert document is not None
    assert (document.body, document.page_url, document.etag, document.fetched_at) == (
        PROVENANCE, PROVENANCE_URL, '"p1"', 1700000002.0)
    assert await AuditLog(engine).records() == LEGACY_AUDIT
    assert await DemandLog(engine).entries() == LEGACY_DEMAND


# -- from empty -------------------------------------------------------------------------------------

async def test_an_empty_database_is_created_at_head_and_matches_the_tables(database_url):
    assert (await database_status(settings(database_url))).describe().endswith(
        "no mirror tables yet (`mirror db upgrade` or `mirror serve` creates them)")
    engine = await open_database(settings(database_url))
    await engine.dispose()
    status = await database_status(settings(database_url))
    assert status.current and status.revision == head_revision() == "0006"
    assert await schema_differences(database_url) == []
    assert await table_names(database_url) == {"pages", "provenance_documents", "file_sightings",
                                               "verified_wheel_metadata", "audit", "demand", "advisories",
                                               "advisory_projects", "advisory_changes", "json_api_documents",
                                               "metadata_licenses", "api_tokens", "web_sessions", "leases",
                                               "cluster_state", VERSION_TABLE}


def test_history_lists_every_revision_oldest_first():
    assert [revision for revision, _ in history()] == ["0001", "0002", "0003", "0004", "0005", "0006"] \
        == sorted(known_revisions())
    assert all(description for _, description in history())


# -- from a mirror before migrations ------------------------------------------------------------------

async def test_legacy_database_is_refused_then_upgraded_keeping_every_row(database_url, tmp_path):
    url = await legacy(database_url, tmp_path)
    status = await database_status(settings(url))
    assert status.legacy and status.revision is None and not status.current
    with pytest.raises(SchemaOutdated, match=r"schema from before migrations, older than this mirror's 0006: "
                                             r"run `mirror db upgrade` \(or set \[database\] auto_upgrade = true\)"):
        await open_database(settings(url))
    with pytest.raises(SchemaOutdated):  # a read-only command does not upgrade either
        await open_database(settings(url), create=False)

    before, after = await upgrade_database(settings(url))
    assert before.legacy and after.current
    assert "extracted_metadata" not in await table_names(url)
    assert await schema_differences(url) == []
    engine = await open_database(settings(url))
    try:
        await assert_legacy_rows_kept(engine)
        new_id = await AuditLog(engine).append(AuditRecord(1.0, "carol", "demote", "demo-app", None, None, "x"))
        assert new_id == 3  # the sequence continues after the adopted rows
        await DemandLog(engine).add({("reviewed", "flask", ""): (1, 1700000500.0)})
        assert (await DemandLog(engine).entries())[0] == DemandEntry("reviewed", "flask", "", 4, 1700000300.0,
                                                                     1700000500.0)
    finally:
        await engine.dispose()
    before, after = await upgrade_database(settings(url))  # again: nothing to do
    assert before.current and after.current


async def test_legacy_database_with_the_later_tables_is_adopted(database_url, tmp_path):
    # A database that create_all made after provenance_documents and file_sightings existed (before migrations):
    # those tables are kept with their rows, their header columns widened.
    url = await legacy(database_url, tmp_path)
    engine = create_engine(settings(url))
    async with engine.begin() as conn:
        await conn.execute(text(
            "CREATE TABLE provenance_documents (key VARCHAR(255) NOT NULL, body BYTEA NOT NULL, "
            "content_type VARCHAR(255) NOT NULL, page_url TEXT NOT NULL, etag VARCHAR(512), serial INTEGER, "
            "revision VARCHAR(64) NOT NULL, fetched_at FLOAT NOT NULL, PRIMARY KEY (key))"
            .replace("BYTEA", "BLOB" if url.startswith("sqlite") else "BYTEA")))
        await conn.execute(text(
            "CREATE TABLE file_sightings (project VARCHAR(255) NOT NULL, filename VARCHAR(512) NOT NULL, "
            "sha256 VARCHAR(64), first_seen FLOAT NOT NULL, initial BOOLEAN NOT NULL, "
            "PRIMARY KEY (project, filename))"))
        await conn.execute(text("INSERT INTO provenance_documents VALUES ('k1', :body, 't', 'u', NULL, NULL, 'r', "
                                "5.0)"), {"body": b"doc"})
        await conn.execute(text("INSERT INTO file_sightings VALUES ('demo-app', 'demo_app-1.0.tar.gz', :sha, 6.0, "
                                ":initial)"), {"sha": "e" * 64, "initial": True})
    await engine.dispose()
    before, after = await upgrade_database(settings(url))
    assert before.legacy and after.current
    assert await schema_differences(url) == []
    engine = await open_database(settings(url))
    try:
        await assert_legacy_rows_kept(engine)
        assert (await PageStore(engine, provenance_documents).load("k1")).body == b"doc"  # type: ignore[union-attr]
        [sighting] = await SightingStore(engine).load("demo-app")
        assert (sighting.filename, sighting.sha256, sighting.first_seen, sighting.initial) == (
            "demo_app-1.0.tar.gz", "e" * 64, 6.0, True)
    finally:
        await engine.dispose()


async def test_auto_upgrade_upgrades_at_start_up(database_url, tmp_path):
    url = await legacy(database_url, tmp_path)
    engine = await open_database(settings(url, auto_upgrade=True))
    try:
        await assert_legacy_rows_kept(engine)
    finally:
        await engine.dispose()
    assert (await database_status(settings(url))).current


async def test_an_older_revision_is_refused_and_upgraded(database_url, tmp_path):
    (tmp_path / "db").mkdir()  # (where the SQLite variant's file goes)
    engine = create_engine(settings(database_url))
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0001"))
    await engine.dispose()
    with pytest.raises(SchemaOutdated, match="revision 0001, older than this mirror's 0006: run `mirror db upgrade`"):
        await open_database(settings(database_url))
    before, after = await upgrade_database(settings(database_url))
    assert (before.revision, after.revision) == ("0001", "0006")


async def test_a_newer_schema_is_refused_even_with_auto_upgrade(database_url):
    engine = await open_database(settings(database_url))
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    await engine.dispose()
    for attempt in (open_database(settings(database_url, auto_upgrade=True)),
                    upgrade_database(settings(database_url))):
        with pytest.raises(SchemaUnknown, match="revision 9999, unknown to this mirror .newest 0006.: a newer mirror"):
            await attempt


# -- read-only commands create nothing ----------------------------------------------------------------

async def test_reading_a_missing_sqlite_database_creates_no_file(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'mirror.db'}"
    with pytest.raises(DatabaseMissing, match="no mirror tables yet"):
        await open_database(settings(url), create=False)
    assert not (tmp_path / "nowhere").exists()
    assert not (await database_status(settings(url))).exists
    assert not (tmp_path / "nowhere").exists()


async def test_reading_an_empty_postgres_database_creates_no_table(postgres_url):
    with pytest.raises(DatabaseMissing, match="no mirror tables yet"):
        await open_database(settings(postgres_url), create=False)
    assert await table_names(postgres_url) == set()


# -- processes starting at once -------------------------------------------------------------------

STARTER = textwrap.dedent("""
    import asyncio, sys, time
    from mirror.adapters.db import open_database
    from mirror.config import DatabaseConfig

    async def main(url, start_at):
        await asyncio.sleep(max(0.0, start_at - time.time()))
        engine = await open_database(DatabaseConfig(url=url, auto_upgrade=True))
        await engine.dispose()

    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
""")


async def start_together(url: str, count: int) -> None:
    import time

    start_at = time.time() + 2.0
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", STARTER, url, str(start_at),
                                                  stderr=asyncio.subprocess.PIPE) for _ in range(count)]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()


async def test_processes_creating_a_new_database_at_once_all_start(database_url):
    await start_together(database_url, 5)
    assert (await database_status(settings(database_url))).current
    assert await schema_differences(database_url) == []


async def test_processes_upgrading_a_legacy_database_at_once_migrate_it_once(database_url, tmp_path):
    url = await legacy(database_url, tmp_path)
    await start_together(url, 5)
    engine = await open_database(settings(url))
    try:
        await assert_legacy_rows_kept(engine)  # (a second run of the initial revision would have failed)
    finally:
        await engine.dispose()


def test_the_legacy_file_is_as_the_old_mirror_wrote_it():
    db = sqlite3.connect(f"file:{LEGACY_FILE}?mode=ro", uri=True)
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables}
    finally:
        db.close()
    assert counts == {"pages": 3, "verified_wheel_metadata": 1, "audit": 2, "demand": 2, "extracted_metadata": 1}
