"""The downloader on a fake clock: grace period of abandoned downloads, deadlines, one fetch per file,
the last byte withheld until verified. No sockets: upstream is an in-memory source, the store a directory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable

import pytest

from mirror.adapters.storage import LocalFileStore
from mirror.core.errors import IntegrityError, StorageError, UpstreamError, UpstreamTimeout
from mirror.services.downloads import Downloader, DownloadLimits, Wanted

DATA = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(DATA).hexdigest()


class FakeTimers:
    """A clock that moves only when told to; timers fire in order as it passes them."""

    def __init__(self) -> None:
        self.time = 1000.0
        self._pending: list[list] = []  # [when, callback, cancelled]

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[[], None]):
        entry = [self.time + delay, callback, False]
        self._pending.append(entry)

        class Handle:
            def cancel(self_inner) -> None:
                entry[2] = True

        return Handle()

    def pending(self) -> list[float]:
        return sorted(e[0] - self.time for e in self._pending if not e[2])

    async def advance(self, seconds: float) -> None:
        self.time += seconds
        for entry in sorted(self._pending, key=lambda e: e[0]):
            if entry[0] <= self.time and not entry[2]:
                entry[2] = True
                entry[1]()
        self._pending = [e for e in self._pending if not e[2]]
        for _ in range(20):  # let the cancelled tasks run their cleanup
            await asyncio.sleep(0)


class Response:
    def __init__(self, queue: asyncio.Queue, length: int | None) -> None:
        self.content_length = length
        self.content = self
        self._queue = queue

    async def iter_chunked(self, _n: int) -> AsyncIterator[bytes]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item


class Source:
    """Upstream in memory: the test feeds each answer's chunks (None ends it)."""

    def __init__(self, length: int | None = len(DATA)) -> None:
        self.requests: list[str] = []
        self.queue: asyncio.Queue = asyncio.Queue()
        self.length = length
        self.answer = asyncio.Event()  # upstream sends its headers once set
        self.answer.set()

    @contextlib.asynccontextmanager
    async def stream_file(self, url: str) -> AsyncIterator[Response]:
        self.requests.append(url)
        await self.answer.wait()
        yield Response(self.queue, self.length)

    def feed(self, *chunks: bytes | Exception | None) -> None:
        for chunk in chunks:
            self.queue.put_nowait(chunk)


@pytest.fixture
async def store(tmp_path) -> LocalFileStore:
    s = LocalFileStore(tmp_path / "cache")
    await s.prepare()
    return s


@pytest.fixture
def timers() -> FakeTimers:
    return FakeTimers()


def wanted(size: int | None = len(DATA), sha: str = SHA) -> Wanted:
    return Wanted("https://up.example/files/f.whl", {"sha256": sha}, size, "demo/f.whl")


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def written(download, count: int) -> None:
    """Until ``count`` bytes reached the temp file (writes hop through a worker thread)."""
    async with asyncio.timeout(10):
        while download.temp.written < count:  # noqa: ASYNC110 - a counter, not an event, is what the test has
            await asyncio.sleep(0.005)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_one_fetch_and_the_last_byte_waits_for_verification(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(), timers)
    first, second = downloader.get(wanted()), downloader.get(wanted())
    assert first is second
    source.feed(DATA[:10_000], DATA[10_000:])
    await first.started
    tail = first.tail()
    received = b""
    while len(received) < len(DATA) - 1:
        received += await anext(tail)
    assert received == DATA[:-1]  # every byte but the last, while upstream has not finished
    source.feed(None)
    received += await collect(tail)
    assert received == DATA and (await first.finished).sha256 == SHA
    assert source.requests == ["https://up.example/files/f.whl"]
    assert await store.find(SHA) is not None
    assert timers.pending() == []  # the deadline timer is gone with the download
    await downloader.close()


async def test_abandoned_download_is_cancelled_after_the_grace_period(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(abandon_grace=5.0), timers)
    download = downloader.get(wanted())
    source.feed(DATA[:100])
    await download.started
    download.attach()
    download.detach()
    await timers.advance(4.9)
    assert not download.finished.done()
    await timers.advance(0.2)
    with pytest.raises(UpstreamError, match="abandoned"):
        await download.finished
    assert list(store.tmp_dir.iterdir()) == [] and await store.find(SHA) is None
    assert download.task is not None
    await asyncio.wait([download.task], timeout=5)
    assert download.task.done() and not download.task.cancelled()  # our own cancel ends the task cleanly
    # The next request starts a fresh download.
    again = downloader.get(wanted())
    assert again is not download
    source.feed(DATA, None)
    assert (await again.finished).sha256 == SHA
    await downloader.close()


async def test_a_client_back_within_the_grace_period_keeps_it(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(abandon_grace=5.0), timers)
    download = downloader.get(wanted())
    source.feed(DATA[:100])
    await download.started
    download.attach()
    download.detach()
    await timers.advance(3)
    download.attach()  # an installer retrying
    await timers.advance(10)
    assert not download.finished.done()
    source.feed(DATA[100:], None)
    assert (await download.finished).size == len(DATA)
    download.detach()
    await downloader.close()


async def test_half_arrived_is_finished_even_when_abandoned(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(abandon_grace=5.0), timers)
    download = downloader.get(wanted())
    source.feed(DATA[: len(DATA) // 2])
    await download.started
    await written(download, len(DATA) // 2)
    download.attach()
    download.detach()
    await timers.advance(60)
    assert not download.finished.done()
    source.feed(DATA[len(DATA) // 2:], None)
    assert (await download.finished).sha256 == SHA
    await downloader.close()


@pytest.mark.parametrize("phase", ["before the answer", "while the body streams"])
async def test_deadline(store, timers, phase):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(deadline=30.0), timers)
    if phase == "before the answer":
        source.answer.clear()
    download = downloader.get(wanted())
    if phase == "while the body streams":
        source.feed(DATA[:1000])
        await download.started
    await settle()
    await timers.advance(29.9)
    assert not download.finished.done()
    await timers.advance(0.2)
    with pytest.raises(UpstreamTimeout, match="file_timeout"):
        await download.finished
    if phase == "before the answer":  # clients waiting for the headers learn it too
        with pytest.raises(UpstreamTimeout):
            await download.started
    assert list(store.tmp_dir.iterdir()) == [] and await store.find(SHA) is None
    await downloader.close()


async def test_more_bytes_than_advertised_are_refused(store, timers):
    source = Source(length=None)
    downloader = Downloader(store, source, DownloadLimits(), timers)
    download = downloader.get(wanted())
    source.feed(DATA, b"one more")
    with pytest.raises(IntegrityError):
        await download.finished
    assert list(store.tmp_dir.iterdir()) == [] and await store.find(SHA) is None


async def test_wrong_bytes_reach_no_reader_whole(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(), timers)
    download = downloader.get(wanted())
    bad = bytes(len(DATA))
    source.feed(bad, None)
    await download.started
    with pytest.raises(IntegrityError):
        await collect(download.tail())  # a prefix at most, then the failure: never the whole body
    assert await store.find(SHA) is None


async def test_upstream_failure_mid_body(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(), timers)
    download = downloader.get(wanted())
    source.feed(DATA[:10], UpstreamError("https://up.example/files/f.whl", "connection reset"))
    with pytest.raises(UpstreamError, match="reset"):
        await download.finished
    assert list(store.tmp_dir.iterdir()) == []


async def test_store_failure_is_a_storage_error(store, timers):
    store.tmp_dir.rmdir()
    store.tmp_dir.write_bytes(b"not a directory")
    downloader = Downloader(store, Source(), DownloadLimits(), timers)
    download = downloader.get(wanted())
    with pytest.raises(StorageError):
        await download.finished
    with pytest.raises(StorageError):
        await download.started


async def test_on_cached_runs_after_storing_and_its_failure_is_not_the_files(store, timers):
    seen = []

    async def on_cached(stored) -> None:
        seen.append(stored.sha256)
        await timers.advance(3600)  # past the deadline: the file is stored, that timer is gone
        raise RuntimeError("derived data failed")

    source = Source()
    downloader = Downloader(store, source, DownloadLimits(deadline=30.0), timers)
    w = Wanted("https://up.example/files/f.whl", {"sha256": SHA}, len(DATA), "demo/f.whl", on_cached=on_cached)
    download = downloader.get(w)
    source.feed(DATA, None)
    assert (await download.finished).sha256 == SHA and seen == [SHA]


async def test_close_cancels_running_downloads(store, timers):
    source = Source()
    downloader = Downloader(store, source, DownloadLimits(), timers)
    download = downloader.get(wanted())
    source.feed(DATA[:100])
    await download.started
    await downloader.close()
    assert download.finished.done() and list(store.tmp_dir.iterdir()) == []
