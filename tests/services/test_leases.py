"""One fetch per key across processes: SharedFlight and Leases on a real database (SQLite and PostgreSQL), each
"process" with its own engine and owner name, as separate workers and nodes have."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import open_database
from mirror.adapters.db.engine import create_engine
from mirror.adapters.db.leases import LeaseTable
from mirror.core.errors import IntegrityError, StorageError, UpstreamError, UpstreamTimeout
from mirror.services.cache import KeyGone
from mirror.services.leases import LeaseBusy, Leases, LeaseSettings, SharedFlight
from mirror.services.telemetry import NullTelemetry

from ..support.databases import settings

FAST = LeaseSettings(ttl=1.0, poll=0.05)


class Recorder(NullTelemetry):
    def __init__(self) -> None:
        self.waits: list[tuple[str, str]] = []
        self.uncoordinated = 0
        self.lost: list[str] = []

    def lease_wait(self, kind: str, seconds: float, how: str) -> None:
        self.waits.append((kind, how))

    def coordination_failed(self) -> None:
        self.uncoordinated += 1

    def lease_lost(self, kind: str) -> None:
        self.lost.append(kind)


@pytest.fixture
async def processes(database_url) -> AsyncIterator[Callable[[], Leases]]:
    """``processes()`` → the Leases of a new "process" (its own engine and owner) on the shared database."""
    await (await open_database(settings(database_url))).dispose()  # the schema, created once
    made: list[tuple[Leases, AsyncEngine]] = []

    def make(lease_settings: LeaseSettings = FAST) -> Leases:
        engine = create_engine(settings(database_url))
        leases = Leases(LeaseTable(engine), f"node-{len(made) + 1}", lease_settings, telemetry=Recorder())
        made.append((leases, engine))
        return leases

    yield make
    for leases, engine in made:
        await leases.close()
        await engine.dispose()


class Origin:
    """A stand-in for upstream plus the shared store: ``lead`` fetches (slowly) and stores, ``follow`` reads."""

    def __init__(self, delay: float = 0.3, failure: BaseException | None = None) -> None:
        self.delay, self.failure = delay, failure
        self.fetches = 0
        self.stored: dict[str, str] = {}

    def lead(self, key: str) -> Callable[[], asyncio.Future]:
        async def fetch() -> str:
            self.fetches += 1
            await asyncio.sleep(self.delay)
            if self.failure is not None:
                raise self.failure
            self.stored[key] = f"value of {key}"
            return self.stored[key]
        return fetch  # type: ignore[return-value]

    def follow(self, key: str) -> Callable[[], asyncio.Future]:
        async def read() -> str | None:
            return self.stored.get(key)
        return read  # type: ignore[return-value]


def flight(leases: Leases, kind: str = "page") -> SharedFlight:
    return SharedFlight(leases, kind, leases._telemetry)


async def test_one_process_fetches_the_others_wait_and_read_what_landed(processes):
    origin = Origin()
    nodes = [processes() for _ in range(5)]
    results = await asyncio.gather(*(flight(n).run("demo", origin.lead("demo"), origin.follow("demo"), wait=10)
                                     for n in nodes))
    assert origin.fetches == 1 and results == ["value of demo"] * 5
    waits = [w for n in nodes for w in n._telemetry.waits]  # type: ignore[attr-defined]
    assert waits == [("page", "landed")] * 4
    row = await nodes[0].read("page:demo")
    assert row is not None and row.owner is None and row.outcome == "ok"


@pytest.mark.parametrize(("failure", "raised", "outcome"), [
    (UpstreamError("u", "503 from upstream"), UpstreamError, "failed"),
    (UpstreamTimeout("u", "read timeout", public="upstream took too long"), UpstreamTimeout, "timeout"),
    (IntegrityError("u", "sha256=aa", "sha256=bb"), IntegrityError, "refused"),
    (KeyGone("demo"), KeyGone, "gone"),
])
async def test_the_waiting_processes_take_the_leaders_upstream_failure(processes, failure, raised, outcome):
    origin = Origin(failure=failure)
    nodes = [processes() for _ in range(3)]
    results = await asyncio.gather(*(flight(n).run("demo", origin.lead("demo"), origin.follow("demo"), wait=10,
                                                   absent=KeyGone) for n in nodes), return_exceptions=True)
    assert origin.fetches == 1
    assert all(isinstance(r, raised) for r in results), results
    row = await nodes[0].read("page:demo")
    assert row is not None and row.outcome == outcome


async def test_a_leader_failing_for_a_reason_of_its_own_is_replaced_at_once(processes):
    origin = Origin(failure=StorageError("disk full"))
    first, second = processes(), processes()
    leader = asyncio.ensure_future(flight(first).run("demo", origin.lead("demo"), origin.follow("demo"), wait=10))
    await asyncio.sleep(0.1)
    origin_ok = Origin(delay=0)
    follower = asyncio.ensure_future(flight(second).run("demo", origin_ok.lead("demo"), origin_ok.follow("demo"),
                                                        wait=10))
    with pytest.raises(StorageError):
        await leader
    assert await follower == "value of demo"
    assert origin_ok.fetches == 1
    assert second._telemetry.waits == [("page", "took_over")]  # type: ignore[attr-defined]


async def test_a_dead_leader_is_taken_over_once_its_lease_expires(processes):
    dead, alive = processes(), processes()
    # A process that took the lease and died: nobody renews it.
    assert await dead.store.take("file:sha256=aa", "crashed-node/1/x", dead.settings.ttl)
    origin = Origin(delay=0)
    began = time.monotonic()
    result = await flight(alive, "file").run("sha256=aa", origin.lead("k"), origin.follow("k"), wait=30)
    waited = time.monotonic() - began
    assert result == "value of k" and origin.fetches == 1
    assert 0.8 <= waited < 3.0, waited  # about one lease_ttl (1 s)


async def test_a_live_leader_keeps_its_lease_and_a_follower_gives_up_after_its_wait(processes):
    holder, waiter = processes(), processes()
    async with holder.hold("page:slow", wait=5):
        await asyncio.sleep(2.5)  # more than two lease periods: renewed by the heartbeat
        row = await holder.read("page:slow")
        assert row is not None and row.held and row.owner == holder.owner
        origin = Origin()
        with pytest.raises(UpstreamTimeout, match="another node's fetch took too long|longer than this node waits"):
            await flight(waiter).run("slow", origin.lead("slow"), origin.follow("slow"), wait=0.5)
        assert origin.fetches == 0
    assert waiter._telemetry.waits == [("page", "timeout")]  # type: ignore[attr-defined]


async def test_hold_serializes_and_a_busy_lock_is_reported(processes):
    first, second = processes(), processes()
    order: list[str] = []

    async def critical(leases: Leases, name: str) -> None:
        async with leases.hold("policy-edit", wait=10):
            order.append(f"{name} in")
            await asyncio.sleep(0.3)
            order.append(f"{name} out")

    await asyncio.gather(critical(first, "a"), critical(second, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    async with first.hold("policy-edit", wait=1):
        with pytest.raises(LeaseBusy, match="more than 0.2 s"):
            async with second.hold("policy-edit", wait=0.2):
                pass


async def test_without_a_usable_lease_table_each_process_fetches_on_its_own(processes, database_url):
    first, second = processes(), processes()
    engine = await open_database(settings(database_url))
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE leases"))
    await engine.dispose()
    origin = Origin(delay=0.1)
    results = await asyncio.gather(*(flight(n).run("demo", origin.lead("demo"), origin.follow("demo"), wait=5)
                                     for n in (first, second)))
    assert results == ["value of demo"] * 2 and origin.fetches == 2
    assert first._telemetry.uncoordinated == 1  # type: ignore[attr-defined]


async def test_a_lease_that_expired_under_its_holder_is_reported_lost(processes):
    slow = processes(LeaseSettings(ttl=1.0, poll=0.05))
    other = processes()
    assert await slow.take("file:x")
    assert slow._heartbeat is not None
    slow._heartbeat.cancel()  # a heartbeat that could not run (a blocked loop, a paused VM)
    await asyncio.sleep(1.1)
    assert await other.take("file:x")
    slow._heartbeat = asyncio.ensure_future(slow._renew_while_held())
    await asyncio.sleep(0.5)
    assert "file:x" not in slow.held and slow._telemetry.lost == ["file"]  # type: ignore[attr-defined]
