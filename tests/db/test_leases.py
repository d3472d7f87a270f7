"""The lease table on SQLite and PostgreSQL: one owner at a time however many race, expiry on the database's clock,
release with an outcome, renewal, pruning, and the small shared values."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from mirror.adapters.db import open_database
from mirror.adapters.db.engine import create_engine
from mirror.adapters.db.leases import MAX_DETAIL, LeaseTable
from mirror.core.errors import DatabaseError

from ..support.databases import settings


@pytest.fixture
async def table(database_url):
    engine = await open_database(settings(database_url))
    yield LeaseTable(engine)
    await engine.dispose()


async def test_one_owner_at_a_time_and_the_row_says_who(table):
    assert await table.take("file:a", "node-1", ttl=30)
    assert not await table.take("file:a", "node-2", ttl=30)
    assert not await table.take("file:a", "node-1", ttl=30)  # not re-entrant: the holder waits like anyone
    row = await table.read("file:a")
    assert row is not None and row.owner == "node-1" and row.held
    assert 29 < row.expires_at - row.now <= 30
    assert await table.take("file:b", "node-2", ttl=30)  # another key is another lease
    assert await table.read("file:c") is None


async def test_many_processes_racing_for_one_key_one_wins(database_url):
    # Each contender has its own engine (its own connections), as separate processes and nodes do.
    engines = [await open_database(settings(database_url)) for _ in range(6)]
    try:
        for round_ in range(5):
            key = f"page:race-{round_}"
            won = await asyncio.gather(*(LeaseTable(e).take(key, f"owner-{i}", ttl=30)
                                         for i, e in enumerate(engines)))
            assert sum(won) == 1
            row = await LeaseTable(engines[0]).read(key)
            assert row is not None and row.owner == f"owner-{won.index(True)}"
    finally:
        for engine in engines:
            await engine.dispose()


async def test_an_expired_lease_is_taken_over_and_its_holder_can_no_longer_renew_or_release_it(table):
    assert await table.take("file:a", "dead-node", ttl=1)
    assert not await table.take("file:a", "node-2", ttl=30)
    await asyncio.sleep(1.1)
    row = await table.read("file:a")
    assert row is not None and row.owner == "dead-node" and not row.held  # expired on the database's clock
    assert await table.take("file:a", "node-2", ttl=30)
    assert await table.renew("dead-node", {"file:a"}, ttl=30) == set()
    assert not await table.release("file:a", "dead-node", "ok")
    row = await table.read("file:a")
    assert row is not None and row.owner == "node-2" and row.held


async def test_release_leaves_the_outcome_and_frees_the_key(table):
    assert await table.take("page:x", "node-1", ttl=30)
    assert await table.release("page:x", "node-1", "failed", "upstream said 503 " + "x" * 2000)
    row = await table.read("page:x")
    assert row is not None and row.owner is None and not row.held
    assert row.outcome == "failed" and row.detail is not None and len(row.detail) == MAX_DETAIL
    assert row.changed_at <= row.now
    assert await table.take("page:x", "node-2", ttl=30)
    row = await table.read("page:x")
    assert row is not None and row.outcome is None and row.detail is None  # a new lease forgets the old ending


async def test_renew_extends_only_the_owners_leases(table):
    assert await table.take("a", "node-1", ttl=2)
    assert await table.take("b", "node-1", ttl=2)
    assert await table.take("c", "node-2", ttl=2)
    assert await table.renew("node-1", {"a", "b", "c", "missing"}, ttl=60) == {"a", "b"}
    await asyncio.sleep(2.1)
    assert (await table.read("a")).held and (await table.read("b")).held  # type: ignore[union-attr]
    assert not (await table.read("c")).held  # type: ignore[union-attr]
    assert await table.renew("node-1", set(), ttl=60) == set()


async def test_prune_deletes_rows_released_or_expired_long_ago(table):
    assert await table.take("released", "n", ttl=30)
    assert await table.release("released", "n", "ok")
    assert await table.take("expired", "n", ttl=1)
    assert await table.take("held", "n", ttl=60)
    await asyncio.sleep(2.2)  # "expired" expired a second ago, "released" was released two seconds ago
    assert await table.prune(keep=60) == 0  # recent: nodes may still be waiting to read the outcome
    assert await table.prune(keep=1) == 2
    assert await table.read("released") is None and await table.read("expired") is None
    assert (await table.read("held")) is not None


async def test_shared_values_are_stamped_with_the_database_clock(table):
    assert await table.get_value("policy") is None
    first = await table.set_value("policy", '{"version": "a"}')
    await asyncio.sleep(0.01)
    second = await table.set_value("policy", '{"version": "b"}')
    assert second > first
    assert await table.get_value("policy") == ('{"version": "b"}', second)


async def test_a_failing_database_is_a_one_line_database_error(table, database_url):
    engine = create_engine(settings(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE leases"))
    finally:
        await engine.dispose()
    with pytest.raises(DatabaseError, match=r"^leases: \w+: .*leases") as caught:
        await table.take("k", "n", ttl=1)
    assert "\n" not in str(caught.value)
