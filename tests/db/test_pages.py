"""The page store (upstream pages, extracted metadata), file sightings and concurrent demand batches, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import PageRecord, PageStore, open_database
from mirror.adapters.db.audit import DemandLog
from mirror.adapters.db.sightings import SightingRow, SightingStore

from ..support.databases import settings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await open_database(settings(database_url, pool_size=4, max_overflow=4))
    yield engine
    await engine.dispose()


def page(key: str = "demo-app", **fields) -> PageRecord:
    values = {"body": b"\x00\xffbytes", "content_type": "application/vnd.pypi.simple.v1+json",
              "page_url": f"http://up.example/simple/{key}/", "etag": '"v1"', "serial": 7, "revision": "r1",
              "fetched_at": 100.0}
    values.update(fields)
    return PageRecord(key=key, **values)


async def test_save_replaces_load_touch_delete(engine):
    store = PageStore(engine)
    assert await store.load("demo-app") is None
    await store.save(page())
    assert await store.load("demo-app") == page()
    await store.save(page(body=b"new", etag=None, serial=None, revision="r2", fetched_at=200.0))
    assert await store.load("demo-app") == page(body=b"new", etag=None, serial=None, revision="r2", fetched_at=200.0)
    await store.touch("demo-app", 300.0)
    loaded = await store.load("demo-app")
    assert loaded is not None and loaded.fetched_at == 300.0
    await store.delete("demo-app")
    assert await store.load("demo-app") is None


async def test_upstream_headers_of_any_length_are_stored(engine):
    # Content-Type and ETag are upstream's headers: PostgreSQL refused them beyond VARCHAR(255)/(512) before 0002.
    long = page(content_type="application/vnd.pypi.simple.v1+json; " + "x" * 3000, etag='"' + "e" * 4000 + '"')
    await PageStore(engine).save(long)
    assert await PageStore(engine).load("demo-app") == long


async def test_concurrent_saves_of_one_page_keep_one_row(engine):
    store = PageStore(engine)
    await asyncio.gather(*(store.save(page(revision=f"r{i}", fetched_at=float(i))) for i in range(20)))
    loaded = await store.load("demo-app")
    assert loaded is not None and loaded.revision == f"r{int(loaded.fetched_at)}"


async def test_extracted_metadata_is_replaced_by_the_latest_extraction(engine):
    store = PageStore(engine)
    await store.record_extracted_metadata("a" * 64, "b" * 64)
    await store.record_extracted_metadata("a" * 64, "c" * 64)
    await store.record_extracted_metadata("d" * 64, "e" * 64)
    assert await store.extracted_metadata_for(["a" * 64, "d" * 64, "f" * 64]) == {"a" * 64: "c" * 64,
                                                                                  "d" * 64: "e" * 64}
    assert await store.extracted_metadata_for([]) == {}
    many = [f"{i:064x}" for i in range(5000)]  # more than one IN (...) batch
    assert await store.extracted_metadata_for(many + ["a" * 64]) == {"a" * 64: "c" * 64}


BATCHES = [{("reviewed", f"p{(i * 7 + j) % 80}", ""): (1, float(i)) for j in range(30)} for i in range(16)]


async def test_concurrent_overlapping_demand_batches_all_count(engine):
    log = DemandLog(engine)
    await asyncio.gather(*(log.add(batch) for batch in BATCHES))
    entries = await log.entries()
    assert sum(e.count for e in entries) == 16 * 30
    assert {e.project for e in entries} == {f"p{i}" for i in range(80)}


async def test_concurrent_demand_batches_while_pruning_do_not_deadlock(engine):
    # One writer's upserts and another's pruning would lock rows in opposite orders (PostgreSQL aborted one of
    # them with "deadlock detected"): every batch must land.
    log = DemandLog(engine, max_rows=50)
    await asyncio.gather(*(log.add(batch) for batch in BATCHES))
    entries = await log.entries()
    assert len(entries) == 50  # (a pruned counter starts again at its next request: no exact total here)
    assert 50 <= sum(e.count for e in entries) <= 16 * 30


async def test_first_sightings_are_kept_whoever_records_later(engine):
    store = SightingStore(engine)
    first = [SightingRow(f"demo_app-{i}.0-py3-none-any.whl", f"{i:064x}", 10.0, True) for i in range(1200)]
    await store.record("demo-app", first)  # more rows than one INSERT holds
    later = SightingRow("demo_app-0.0-py3-none-any.whl", "f" * 64, 99.0, False)  # the same name, other bytes
    await asyncio.gather(*(store.record("demo-app", [later, SightingRow(f"new-{i}.tar.gz", None, 50.0, False)])
                           for i in range(5)))
    rows = {r.filename: r for r in await store.load("demo-app")}
    assert len(rows) == 1205
    assert rows["demo_app-0.0-py3-none-any.whl"] == first[0]
    assert rows["new-3.tar.gz"] == SightingRow("new-3.tar.gz", None, 50.0, False)
    assert await store.load("other") == []
