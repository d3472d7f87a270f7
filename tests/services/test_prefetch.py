"""The prefetcher: which names it takes from metadata, and every bound on what it may do. No sockets."""

from __future__ import annotations

import asyncio

import pytest

from mirror.core.errors import UpstreamError
from mirror.core.models import Tier
from mirror.services.prefetch import Prefetcher, PrefetchLimits, dependencies


def metadata(*requires: str, name: str = "app") -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
    return ("\n".join(lines) + "\n\nA long description that is never read.\n").encode()


def test_dependencies_skip_extras_keep_markers_normalize_and_dedupe():
    data = metadata("Requests>=2", "idna; python_version >= '3.8'", "pytest; extra == 'test'",
                    "requests[socks]", "Typing_Extensions; sys_platform == 'win32'")
    assert dependencies(data, 16) == ["requests", "idna", "typing-extensions"]
    assert dependencies(data, 1) == ["requests"]
    assert dependencies(b"not metadata at all", 16) == []


class Recorder:
    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.prepared: list[tuple[Tier, str]] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def prepare(self, tier: Tier, name: str) -> None:
        await self.gate.wait()
        if name in self.fail:
            raise UpstreamError(name, "HTTP 500")
        self.prepared.append((tier, name))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def drain(prefetcher: Prefetcher) -> None:
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.fixture
async def setup():
    recorder, clock = Recorder(), Clock()
    warm: set[str] = {"already-warm"}
    listed = {"a", "b", "c", "already-warm", "failing"}
    prefetcher = Prefetcher(lambda tier, name: name in listed, warm.__contains__, recorder.prepare,
                            PrefetchLimits(per_release=3, concurrency=2, queue=8, remember=60), clock)
    prefetcher.start()
    yield prefetcher, recorder, clock
    await prefetcher.close()


async def test_only_listed_cold_names_are_fetched_once(setup):
    prefetcher, recorder, clock = setup
    queued = prefetcher.after_metadata(Tier.REVIEWED, "app", metadata("a", "unlisted", "already-warm", "app"))
    assert queued == 1
    await drain(prefetcher)
    assert recorder.prepared == [(Tier.REVIEWED, "a")]
    assert prefetcher.after_metadata(Tier.REVIEWED, "app", metadata("a")) == 0  # remembered
    clock.now += 61
    assert prefetcher.after_metadata(Tier.REVIEWED, "app", metadata("a")) == 1  # forgotten after `remember`


async def test_the_queue_is_bounded_and_overflow_is_dropped():
    recorder = Recorder()
    recorder.gate.clear()  # workers stuck: the queue fills up
    prefetcher = Prefetcher(lambda tier, name: True, lambda name: False, recorder.prepare,
                            PrefetchLimits(per_release=3, concurrency=1, queue=2), Clock())
    prefetcher.start()
    try:
        prefetcher.after_metadata(Tier.ALL, "x", metadata("a", "b", "c"))
        await asyncio.sleep(0)  # the worker takes one name and waits
        prefetcher.after_metadata(Tier.REVIEWED, "y", metadata("a", "b", "c"))
        assert prefetcher.dropped >= 2 and prefetcher.queued + prefetcher.dropped == 6
        recorder.gate.set()
        await drain(prefetcher)
        assert len(recorder.prepared) == prefetcher.queued
    finally:
        await prefetcher.close()


async def test_per_release_limit_and_failures_are_counted_not_raised(setup):
    prefetcher, recorder, _ = setup
    recorder.fail = {"failing"}
    prefetcher.after_metadata(Tier.ALL, "app", metadata("failing", "b", "c", "a"))  # the 4th name is beyond
    await drain(prefetcher)
    assert {n for _, n in recorder.prepared} == {"b", "c"} and prefetcher.failed == 1


async def test_after_read_reads_in_the_background(setup):
    prefetcher, recorder, _ = setup

    async def read() -> bytes:
        return metadata("b")

    prefetcher.after_read(Tier.ALL, "app", read)
    await drain(prefetcher)
    assert recorder.prepared == [(Tier.ALL, "b")]
