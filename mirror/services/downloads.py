"""Fetching files into the cache: one upstream download per file, streamed to every waiting client.

A :class:`Download` writes upstream bytes to a temp file (hashing with every algorithm upstream advertised,
and sha256 always) in a background task. Every client requesting the file while it downloads *tails* that
temp file, but never receives the last byte before every digest was verified: on a mismatch or a
truncated body the client's connection is aborted, so it cannot mistake an unverified file for a
complete one.

Downloads are bounded: a total deadline (``file_timeout``), and a size cap (the advertised size, or
``max_file_bytes`` when upstream gives none; a larger advertised size is refused). A download every client
has left is cancelled after a short grace period unless at least half of it has arrived: a client that
reconnects at once (installers retry) finds it still running, while a flood of abandoned downloads cannot
keep upstream connections busy. Pages never wait for files either way: they use their own connection pool
(:class:`~mirror.adapters.upstream.UpstreamClient`).

Across processes and nodes sharing the database and the store, a file is downloaded once too: with
:class:`~mirror.services.leases.Leases`, the process that takes the file's lease downloads it, and every other one
waits until the verified file lands in the store, then streams it from there (or takes over the download if the
lease holder died: its temp file never becomes visible). Its clients get the response headers once the file is
there.

The store is any :class:`~mirror.services.filestore.FileStore` (a file system, a bucket) and time comes from
:class:`~mirror.services.timers.Timers`, so both the grace period and the deadline run on a fake clock in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mirror.core.errors import IntegrityError, MirrorError, StorageError, UpstreamError, UpstreamTimeout
from mirror.core.hashes import primary
from mirror.core.stored import StoredFile
from mirror.services.filestore import FileStore, PartialReader, WriteSession
from mirror.services.leases import Leases, SharedFlight
from mirror.services.telemetry import NO_TELEMETRY, Telemetry
from mirror.services.timers import LoopTimers, Timer, Timers

log = logging.getLogger("mirror.files")

_CHUNK = 256 * 1024
#: How often a client waiting for upstream is checked for having disconnected (seconds).
_POLL = 0.5
T = TypeVar("T")


class _Body(Protocol):
    def iter_chunked(self, n: int) -> AsyncIterator[bytes]: ...


class UpstreamFile(Protocol):
    """A 200 answer of upstream to a file request (aiohttp's ClientResponse is one)."""

    @property
    def content_length(self) -> int | None: ...

    @property
    def content(self) -> _Body: ...


class FileSource(Protocol):
    """Where files come from (:class:`~mirror.adapters.upstream.UpstreamClient`): ``stream_file(url)`` yields
    the 200 answer, or raises UpstreamError (FetchRefused, UpstreamTimeout) before any byte."""

    def stream_file(self, url: str) -> AbstractAsyncContextManager[UpstreamFile]: ...


@dataclass(frozen=True, slots=True)
class Wanted:
    """A file to fetch: where from, and what its bytes must hash to (every one of ``hashes``)."""

    url: str
    hashes: Mapping[str, str]
    size: int | None
    label: str  # for logs: "project/filename"
    #: called with the verified file once it is cached (e.g. to extract wheel metadata)
    on_cached: Callable[[StoredFile], Awaitable[object]] | None = None

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.hashes.items()))

    @property
    def lease_key(self) -> str:
        """The name of this file's lease: its primary hash (``sha256=<hex>``)."""
        named = primary(self.hashes)
        algorithm, digest = named if named is not None else sorted(self.hashes.items())[0]
        return f"{algorithm}={digest}"


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    """``deadline``: seconds a whole download may take; ``max_bytes``: the size cap when upstream advertises
    none (and the largest advertised size accepted); ``abandon_grace``: seconds an abandoned download keeps
    running in case a client comes back."""

    deadline: float = 1800.0
    max_bytes: int = 10 * 1024**3
    abandon_grace: float = 5.0


class Download:
    """One in-progress download; see the module docstring for the protocol readers follow."""

    def __init__(self, wanted: Wanted, temp: WriteSession, limits: DownloadLimits, store: FileStore,
                 timers: Timers | None = None, *, flight: SharedFlight | None = None,
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.wanted = wanted
        self.temp = temp
        self.limits = limits
        self._store = store
        self._timers = timers or LoopTimers()
        self._flight = flight
        self._telemetry = telemetry
        #: set when another process or node downloaded the file and this one took it from the store
        self.landed = False
        loop = asyncio.get_running_loop()
        #: resolves to the expected length (or None) once upstream answered 200; fails otherwise
        self.started: asyncio.Future[int | None] = loop.create_future()
        #: resolves to the verified, stored file; fails with the reason otherwise
        self.finished: asyncio.Future[StoredFile] = loop.create_future()
        self.task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()
        self._length: int | None = None
        self._clients = 0
        self._abandon: Timer | None = None
        self._abandoned = False
        self._deadline: Timer | None = None
        self._timed_out = False
        for fut in (self.started, self.finished):
            fut.add_done_callback(_consume_exception)

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # -- who is waiting ----------------------------------------------------------------------------

    def attach(self) -> None:
        """A client waits for (or reads) this download."""
        self._clients += 1
        if self._abandon is not None:
            self._abandon.cancel()
            self._abandon = None

    def detach(self) -> None:
        """A client stopped waiting; the last one leaving starts the abandon grace period."""
        self._clients -= 1
        if self._clients <= 0 and not self.finished.done() and self._abandon is None:
            self._abandon = self._timers.call_later(self.limits.abandon_grace, self._maybe_abandon)

    def _maybe_abandon(self) -> None:
        self._abandon = None
        if self._clients > 0 or self.finished.done() or self.task is None or self._worth_finishing():
            return
        self._abandoned = True
        self.task.cancel()

    def _expire(self) -> None:
        self._deadline = None
        if self.task is not None and not self.finished.done():
            self._timed_out = True
            self.task.cancel()

    def _worth_finishing(self) -> bool:
        # Half of a known length already here: finishing costs less than fetching it again later.
        return self._length is not None and self.temp.written * 2 >= self._length

    # -- the download ------------------------------------------------------------------------------

    async def run(self, upstream: FileSource) -> None:
        """Download, verify and commit; always resolves both futures."""
        began = self._timers.now()
        url = self.wanted.url
        # The deadline covers the whole download, storing included (a timer, so a fake clock can drive it).
        self._deadline = self._timers.call_later(self.limits.deadline, self._expire)
        try:
            if self._flight is None:
                stored = await self._fetch(upstream)
            else:
                stored = await self._flight.run(self.wanted.lease_key, functools.partial(self._fetch, upstream),
                                                self._landed, wait=self.limits.deadline)
            if self._deadline is not None:  # stored: what follows is optional and must not turn it into a failure
                self._deadline.cancel()
                self._deadline = None
            if self.landed:
                log.info("file landed file=%s bytes=%d seconds=%.2f (downloaded by another process or node)",
                         self.wanted.label, stored.size, self._timers.now() - began)
            else:
                log.info("cached file=%s bytes=%d seconds=%.2f", self.wanted.label, self.temp.written,
                         self._timers.now() - began)
            if self.wanted.on_cached is not None:
                try:
                    await self.wanted.on_cached(stored)
                except Exception:  # derived data is optional; the verified file is what matters
                    log.exception("post-processing failed file=%s", self.wanted.label)
            self.finished.set_result(stored)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the waiting clients
            ours = isinstance(exc, asyncio.CancelledError) and (self._abandoned or self._timed_out)
            failure = self._failure(exc)
            try:
                await self.temp.discard()
            except (OSError, StorageError) as cleanup:  # must not keep the clients waiting below
                log.error("could not remove temp file=%s error=%s", self.temp.name, cleanup)
            if isinstance(exc, IntegrityError):
                log.error("refused file=%s url=%s reason=%s", self.wanted.label, url, exc)
            elif self._abandoned and ours:
                log.info("cancelled abandoned download file=%s bytes=%d of %s", self.wanted.label,
                         self.temp.written, self._length if self._length is not None else "unknown")
            else:
                log.warning("download failed file=%s reason=%s", self.wanted.label, failure)
            if not self.started.done():
                self.started.set_exception(failure)
            if not self.finished.done():
                self.finished.set_exception(failure)
            if isinstance(exc, asyncio.CancelledError) and not ours:
                raise  # a shutdown: the task ends cancelled
        finally:
            for timer in (self._abandon, self._deadline):
                if timer is not None:
                    timer.cancel()
            self._abandon = self._deadline = None
            await self._notify()

    def _failure(self, exc: BaseException) -> MirrorError:
        """What waiting clients are told for ``exc``."""
        url = self.wanted.url
        if isinstance(exc, (UpstreamError, IntegrityError, StorageError)):
            return exc
        if isinstance(exc, OSError):  # network errors arrive as UpstreamError: this is the disk
            return StorageError(f"cannot write the file cache: {exc}")
        if isinstance(exc, asyncio.CancelledError) and self._timed_out:
            return UpstreamTimeout(url, f"download not finished within file_timeout ({self.limits.deadline:g} s)",
                                   public="the download took longer than file_timeout")
        if isinstance(exc, asyncio.CancelledError) and self._abandoned:
            return UpstreamError(url, "abandoned: no client was waiting for it")
        return UpstreamError(url, f"{type(exc).__name__}: {exc}")

    async def _landed(self) -> StoredFile | None:
        """The verified file, if another process or node has stored it (its clients are then served from the
        store); None otherwise."""
        stored = await self._store.find_verified(self.wanted.hashes)
        if stored is not None:
            self.landed = True
            if not self.started.done():
                self.started.set_result(stored.size)
        return stored

    async def _fetch(self, upstream: FileSource) -> StoredFile:
        self._telemetry.download_started()
        try:
            return await self._download(upstream)
        finally:
            self._telemetry.download_ended()

    async def _download(self, upstream: FileSource) -> StoredFile:
        url, size, limit = self.wanted.url, self.wanted.size, self.limits.max_bytes
        if size is not None and size > limit:
            raise UpstreamError(url, f"advertised size {size} exceeds max_file_bytes ({limit})",
                                public="the file is larger than max_file_bytes")
        await self.temp.open()
        asked = self._timers.now()
        async with upstream.stream_file(url) as resp:
            self._telemetry.upstream_latency("file", self._timers.now() - asked)
            declared = resp.content_length
            if size is not None and declared not in (None, size):
                raise IntegrityError(url, f"{size} bytes", f"Content-Length {declared}")
            if declared is not None and declared > limit:
                raise UpstreamError(url, f"Content-Length {declared} exceeds max_file_bytes ({limit})",
                                    public="the file is larger than max_file_bytes")
            self._length = size if size is not None else declared
            cap = self._length if self._length is not None else limit
            self.started.set_result(self._length)
            async for chunk in resp.content.iter_chunked(_CHUNK):
                if self.temp.written + len(chunk) > cap:
                    if self._length is None:
                        raise UpstreamError(url, f"more than max_file_bytes ({limit}) bytes",
                                            public="the file is larger than max_file_bytes")
                    raise IntegrityError(url, f"{cap} bytes", "more bytes")
                await self.temp.write(chunk)
                await self._notify()
        return await self.temp.commit(url)

    async def tail(self, gone: Callable[[], bool] = lambda: False) -> AsyncGenerator[bytes, None]:
        """Yield the file's bytes as they arrive; the final byte only after verification.

        Raises UpstreamError/IntegrityError/StorageError (after possibly yielding a prefix) when the download
        fails, and ClientGone when ``gone()`` turns true while waiting for bytes. Call after ``started``
        resolved, so the temp file exists.
        """
        reader = await self.temp.open_reader()
        if reader is None:
            # The download ended before this reader got to open the temp file (a busy thread pool): it was
            # either stored or discarded. ``finished`` says which; the store has the bytes.
            stored = await asyncio.shield(self.finished)
            async for chunk in self._store.read(stored):
                yield chunk
            return
        try:
            async for chunk in self._follow(reader, gone):
                yield chunk
        finally:
            await reader.close()

    async def _follow(self, reader: PartialReader, gone: Callable[[], bool]) -> AsyncGenerator[bytes, None]:
        sent = 0
        while True:
            if self.finished.done():
                self.finished.result()  # raises the failure, if any
                limit = self.temp.written
            else:
                limit = self.temp.written - 1  # withhold a byte until the digest is checked
            if sent < limit:
                chunk = await reader.read(sent, min(_CHUNK, limit - sent))
                if chunk:
                    sent += len(chunk)
                    yield chunk
                    continue
            if self.finished.done():
                return
            if gone():
                raise ClientGone()
            async with self._progress:
                if not self.finished.done() and self.temp.written - 1 <= sent:
                    # Bounded so that a client who left is noticed even while upstream is silent.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), _POLL)


class ClientGone(Exception):
    """The client a file was being sent to disconnected."""


async def wait_for_download(fut: asyncio.Future[T], gone: Callable[[], bool]) -> T:
    """``await fut`` (a future of a :class:`Download`) without cancelling it; raises ClientGone as soon as
    ``gone()`` turns true (checked every :data:`_POLL` seconds), so a client that left stops counting as waiting."""
    while True:
        done, _ = await asyncio.wait([fut], timeout=_POLL)
        if done:
            return fut.result()
        if gone():
            raise ClientGone()


def _consume_exception(fut: asyncio.Future) -> None:
    # A failure nobody awaits is expected (no client was waiting); don't log "never retrieved".
    if not fut.cancelled():
        fut.exception()


class Downloader:
    """Starts downloads and makes concurrent requests for one file share a single download."""

    def __init__(self, store: FileStore, upstream: FileSource, limits: DownloadLimits | None = None,
                 timers: Timers | None = None, *, leases: Leases | None = None,
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._store = store
        self._upstream = upstream
        self._limits = limits or DownloadLimits()
        self._timers = timers or LoopTimers()
        self._flight = SharedFlight(leases, "file", telemetry) if leases is not None else None
        self._telemetry = telemetry
        self._active: dict[tuple[tuple[str, str], ...], Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, wanted: Wanted) -> Download:
        """The running download of this file (same url and hashes), or a newly started one."""
        key = wanted.key
        download = self._active.get(key)
        if download is None or download.wanted.url != wanted.url:
            log.info("cache miss file=%s", wanted.label)
            temp = self._store.new_write(wanted.hashes, wanted.size, self._limits.max_bytes)
            download = Download(wanted, temp, self._limits, self._store, self._timers, flight=self._flight,
                                telemetry=self._telemetry)
            self._active[key] = download
            task = asyncio.ensure_future(download.run(self._upstream))
            download.task = task
            self._tasks.add(task)

            def _done(t: asyncio.Task[None], key: tuple[tuple[str, str], ...] = key,
                      download: Download = download) -> None:
                self._tasks.discard(t)
                if self._active.get(key) is download:
                    del self._active[key]

            task.add_done_callback(_done)
        return download

    async def close(self) -> None:
        """Cancel downloads still running (at shutdown); their temp files are removed."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
