"""The page cache and the downloader of several "nodes" in one process, sharing a real database (SQLite and
PostgreSQL) and one store directory, each with its own engine, leases and memory: one upstream request per cold
page or file, whichever node is asked, and what the others then serve is what the one stored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.engine import create_engine
from mirror.adapters.db.leases import LeaseTable
from mirror.adapters.storage import LocalFileStore
from mirror.core.errors import UpstreamError
from mirror.services.cache import CachePolicy, Fresh, Gone, KeyGone, NotModified, Record, RevalidatingCache
from mirror.services.downloads import Downloader, DownloadLimits, Wanted
from mirror.services.leases import Leases, LeaseSettings

from ..support.databases import settings

FAST = LeaseSettings(ttl=2.0, poll=0.05)
DATA = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(DATA).hexdigest()


class Upstream:
    """Counts requests; answers after ``delay`` seconds with a body, a 404 or a failure."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay
        self.calls: list[str] = []
        self.answer: object = "body"

    async def fetch(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        self.calls.append(key)
        await asyncio.sleep(self.delay)
        if self.answer == "gone":
            return Gone()
        if isinstance(self.answer, Exception):
            raise self.answer
        return Fresh(body=f"{self.answer} of {key}".encode(), content_type="text/plain", url=f"http://up/{key}")


async def decode(record: Record) -> str:
    return record.body.decode()


@pytest.fixture
async def nodes(database_url) -> AsyncIterator[list[tuple[Leases, AsyncEngine]]]:
    """Three nodes: each one's leases and engine of the shared database."""
    await (await open_database(settings(database_url))).dispose()
    engines = [create_engine(settings(database_url)) for _ in range(3)]
    made = [(Leases(LeaseTable(e), f"node-{i}", FAST), e) for i, e in enumerate(engines)]
    yield made
    for leases, engine in made:
        await leases.close()
        await engine.dispose()


def caches(nodes: list[tuple[Leases, AsyncEngine]], upstream: Upstream,
           ttl: float = 600) -> list[RevalidatingCache[str]]:
    return [RevalidatingCache("page", upstream.fetch, PageStore(engine), decode, CachePolicy(ttl=ttl, wait=10),
                              leases=leases) for leases, engine in nodes]


async def test_a_cold_page_asked_of_every_node_at_once_is_fetched_once(nodes):
    upstream = Upstream()
    spread = caches(nodes, upstream)
    entries = await asyncio.gather(*(spread[i % 3].get("demo") for i in range(60)))
    assert upstream.calls == ["demo"]
    assert {e.value for e in entries} == {"body of demo"}
    assert len({e.revision for e in entries}) == 1


async def test_an_expired_page_is_revalidated_once_across_nodes(nodes):
    upstream = Upstream(delay=0.2)
    spread = caches(nodes, upstream, ttl=1.0)
    await asyncio.gather(*(c.get("demo") for c in spread))
    assert upstream.calls == ["demo"]
    await asyncio.sleep(1.1)
    upstream.answer = "new body"
    entries = await asyncio.gather(*(spread[i % 3].get("demo") for i in range(30)))
    assert upstream.calls == ["demo", "demo"]
    assert {e.value for e in entries} == {"new body of demo"}


async def test_a_404_and_a_failure_reach_the_waiting_nodes_without_more_requests(nodes):
    upstream = Upstream()
    upstream.answer = "gone"
    spread = caches(nodes, upstream)
    results = await asyncio.gather(*(c.get("missing") for c in spread), return_exceptions=True)
    assert all(isinstance(r, KeyGone) for r in results) and upstream.calls == ["missing"]
    upstream.answer = UpstreamError("http://up/broken", "503")
    results = await asyncio.gather(*(c.get("broken") for c in spread), return_exceptions=True)
    assert all(isinstance(r, UpstreamError) for r in results) and upstream.calls == ["missing", "broken"]


class Source:
    """A file upstream streams in 64 KiB chunks, one every ``pause`` seconds; counts requests."""

    def __init__(self, pause: float = 0.01) -> None:
        self.pause = pause
        self.requests: list[str] = []

    @contextlib.asynccontextmanager
    async def stream_file(self, url: str) -> AsyncIterator[Source]:
        self.requests.append(url)
        yield self

    @property
    def content_length(self) -> int:
        return len(DATA)

    @property
    def content(self) -> Source:
        return self

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        for start in range(0, len(DATA), 64 * 1024):
            await asyncio.sleep(self.pause)
            yield DATA[start:start + 64 * 1024]


async def read_all(download) -> bytes:  # noqa: ANN001 - a Download
    await download.started
    return b"".join([chunk async for chunk in download.tail()])


async def test_a_cold_file_asked_of_every_node_is_downloaded_once_and_served_by_all(nodes, tmp_path: Path):
    source = Source()
    stores = [LocalFileStore(tmp_path / "shared") for _ in nodes]
    for store in stores:
        await store.prepare()
    downloaders = [Downloader(store, source, DownloadLimits(deadline=30), leases=leases)
                   for store, (leases, _) in zip(stores, nodes)]
    wanted = Wanted("http://up/files/demo-1.0.tar.gz", {"sha256": SHA}, len(DATA), "demo/demo-1.0.tar.gz")
    downloads = [downloaders[i % 3].get(wanted) for i in range(30)]
    for d in downloads:
        d.attach()
    bodies = await asyncio.gather(*(read_all(d) for d in downloads))
    assert source.requests == ["http://up/files/demo-1.0.tar.gz"]
    assert {hashlib.sha256(b).hexdigest() for b in bodies} == {SHA}
    assert sum(1 for d in {id(d): d for d in downloads}.values() if d.landed) == 2  # two nodes took it from the store
    for downloader in downloaders:
        await downloader.close()
