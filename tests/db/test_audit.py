"""The audit log and the demand queue, against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog

from ..support.databases import settings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await open_database(settings(database_url))
    yield engine
    await engine.dispose()


def record(target: str, action: str = "promote", at: float = 1000.0, **fields) -> AuditRecord:
    values = {"actor": "alice", "before": None, "after": "[review]\nby = \"alice\"\n", "note": ""}
    values.update(fields)
    return AuditRecord(at=at, action=action, target=target, **values)


# -- audit log ----------------------------------------------------------------------------------

async def test_append_returns_increasing_ids_and_records_read_back_oldest_first(engine):
    log = AuditLog(engine)
    first = await log.append(record("requests", at=1.0, note="core dependency"))
    second = await log.append(record("requests==2.32.3", action="vet", at=2.0, before="old", after=None))
    assert second > first

    got = await log.records()
    assert got == [
        record("requests", at=1.0, note="core dependency", id=first),
        record("requests==2.32.3", action="vet", at=2.0, before="old", after=None, id=second),
    ]


async def test_a_given_id_is_ignored(engine):
    log = AuditLog(engine)
    new_id = await log.append(record("requests", id=999))
    assert new_id != 999
    assert [r.id for r in await log.records()] == [new_id]


async def test_records_filter_by_project_and_its_releases_only(engine):
    log = AuditLog(engine)
    for target in ["requests", "requests==2.32.3", "requests-mock", "requests-mock==1.0",
                   "requestsx==1", "urllib3", "requests==2.31.0"]:
        await log.append(record(target))

    assert [r.target for r in await log.records("requests")] == [
        "requests", "requests==2.32.3", "requests==2.31.0"]
    assert [r.target for r in await log.records("requests-mock")] == ["requests-mock", "requests-mock==1.0"]
    assert await log.records("nothing") == []
    assert len(await log.records()) == 7


async def test_like_wildcards_in_the_filter_are_literal(engine):
    log = AuditLog(engine)
    await log.append(record("foo-bar==1.0"))
    await log.append(record("foo_bar==1.0"))  # not normalized, but must not match "foo-bar" either way
    assert [r.target for r in await log.records("foo_bar")] == ["foo_bar==1.0"]
    assert [r.target for r in await log.records("foo%")] == []


async def test_limit_keeps_the_newest_records_newest_last(engine):
    log = AuditLog(engine)
    for i in range(10):
        await log.append(record(f"p{i}", at=float(i)))
    assert [r.target for r in await log.records(limit=3)] == ["p7", "p8", "p9"]
    assert [r.target for r in await log.records("p2", limit=3)] == ["p2"]


async def test_records_survive_reopening_the_database(database_url):
    engine = await open_database(settings(database_url))
    await AuditLog(engine).append(record("requests", note="kept"))
    await engine.dispose()

    engine = await open_database(settings(database_url))
    try:
        assert [r.note for r in await AuditLog(engine).records()] == ["kept"]
    finally:
        await engine.dispose()


WRITER = textwrap.dedent("""
    import asyncio, sys, time
    from mirror.adapters.db import open_database
    from mirror.adapters.db.audit import AuditLog, AuditRecord
    from mirror.config import DatabaseConfig

    async def main(url, who, start_at, n):
        engine = await open_database(DatabaseConfig(url=url))
        log = AuditLog(engine)
        await asyncio.sleep(max(0.0, start_at - time.time()))  # start together: maximal contention
        for i in range(n):
            await log.append(AuditRecord(at=time.time(), actor=who, action="promote",
                                         target=f"{who}-{i}", before=None, after="x", note=""))
            # Without a pause the writer holding the lock takes it again at once and the other waits
            # for the whole run (SQLite's busy handler backs off): pause so that they interleave.
            await asyncio.sleep(0.002)
        await engine.dispose()

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
""")


async def test_concurrent_writers_in_separate_processes_lose_no_record(database_url, engine):
    # The fixture created the database and its tables; two other processes now append 50 records each.
    url = database_url
    start_at = time.time() + 1.5
    procs = [await asyncio.create_subprocess_exec(
                 sys.executable, "-c", WRITER, url, who, str(start_at), "50",
                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
             for who in ("w1", "w2")]
    # The test process writes too, while the others do.
    await asyncio.sleep(max(0.0, start_at - time.time()))
    log = AuditLog(engine)
    for i in range(20):
        await log.append(record(f"main-{i}"))
        await asyncio.sleep(0.002)
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()

    got = await log.records(limit=10_000)
    assert len(got) == 120
    assert len({r.id for r in got}) == 120
    assert {r.target for r in got} == (
        {f"w1-{i}" for i in range(50)} | {f"w2-{i}" for i in range(50)} | {f"main-{i}" for i in range(20)})
    # Each writer's records keep their order.
    for who in ("w1", "w2", "main"):
        mine = [r.target for r in got if r.target.startswith(who + "-")]
        assert mine == sorted(mine, key=lambda t: int(t.rsplit("-", 1)[1]))


# -- demand -------------------------------------------------------------------------------------

@pytest.fixture
def demand_log(engine) -> DemandLog:
    return DemandLog(engine)


async def test_demand_upsert_accumulates_counts_and_keeps_first_and_last_times(demand_log):
    await demand_log.add({("reviewed", "requests", ""): (3, 100.0),
                          ("vetted", "requests", "2.32.3"): (1, 110.0)})
    await demand_log.add({("reviewed", "requests", ""): (2, 200.0),
                          ("reviewed", "flask", ""): (1, 150.0)})
    # A batch flushed late by another worker moves neither time the wrong way.
    await demand_log.add({("reviewed", "requests", ""): (1, 150.0)})
    await demand_log.add({})

    assert await demand_log.entries() == [
        DemandEntry("reviewed", "requests", "", 6, 100.0, 200.0),
        DemandEntry("reviewed", "flask", "", 1, 150.0, 150.0),
        DemandEntry("vetted", "requests", "2.32.3", 1, 110.0, 110.0),
    ]


async def test_demand_entries_filter_by_tier_and_sort_by_count_then_recency(demand_log):
    await demand_log.add({("reviewed", "a", ""): (1, 10.0), ("reviewed", "b", ""): (1, 30.0),
                          ("reviewed", "c", ""): (5, 5.0), ("vetted", "a", "1.0"): (9, 1.0)})
    assert [(e.project, e.count) for e in await demand_log.entries("reviewed")] == [
        ("c", 5), ("b", 1), ("a", 1)]
    assert [(e.tier, e.project) for e in await demand_log.entries("vetted")] == [("vetted", "a")]
    assert await demand_log.entries("all") == []


async def test_demand_batch_larger_than_sqlite_variable_limit(engine):
    # 6,000 keys × 6 columns is more bound values than one SQLite statement may hold (32,766).
    log = DemandLog(engine)
    batch = {("reviewed", f"p{i}", ""): (i + 1, float(i)) for i in range(6000)}
    await log.add(batch)
    await log.add(batch)
    entries = await log.entries()
    assert len(entries) == 6000
    assert entries[0] == DemandEntry("reviewed", "p5999", "", 12000, 5999.0, 5999.0)
