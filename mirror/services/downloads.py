"""Fetching files into the cache: one upstream download per file, streamed to every waiting client.

A :class:`Download` writes upstream bytes to a temp file (hashing as it goes) in a background task that no
client can cancel. Every client requesting the file while it downloads *tails* that temp file, but never
receives the last byte before the digest was verified: on a mismatch or a truncated body the client's
connection is aborted, so it cannot mistake an unverified file for a complete one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from mirror.adapters.storage import Storage, TempFile
from mirror.adapters.upstream import UpstreamClient
from mirror.core.errors import IntegrityError, MirrorError, StorageError, UpstreamError

log = logging.getLogger("mirror.files")

_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Wanted:
    """A file to fetch: where from, and what its bytes must hash to."""

    url: str
    algorithm: str
    digest: str
    size: int | None
    label: str  # for logs: "project/filename"
    #: called with the verified path once the file is cached (e.g. to extract wheel metadata)
    on_cached: Callable[[Path], Awaitable[object]] | None = None


class Download:
    """One in-progress download; see the module docstring for the protocol readers follow."""

    def __init__(self, wanted: Wanted, temp: TempFile) -> None:
        self.wanted = wanted
        self.temp = temp
        loop = asyncio.get_running_loop()
        #: resolves to the expected length (or None) once upstream answered 200; fails otherwise
        self.started: asyncio.Future[int | None] = loop.create_future()
        #: resolves to the verified final path; fails with the reason otherwise
        self.finished: asyncio.Future[Path] = loop.create_future()
        self._progress = asyncio.Condition()
        for fut in (self.started, self.finished):
            fut.add_done_callback(_consume_exception)

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def run(self, upstream: UpstreamClient) -> None:
        """Download, verify and commit; always resolves both futures."""
        began = time.monotonic()
        try:
            await self.temp.open()
            async with upstream.stream_file(self.wanted.url) as resp:
                length = self.wanted.size if self.wanted.size is not None else resp.content_length
                if self.wanted.size is not None and resp.content_length not in (None, self.wanted.size):
                    raise IntegrityError(self.wanted.url, f"{self.wanted.size} bytes",
                                         f"Content-Length {resp.content_length}")
                self.started.set_result(length)
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    if length is not None and self.temp.written + len(chunk) > length:
                        raise IntegrityError(self.wanted.url, f"{length} bytes", "more bytes")
                    await self.temp.write(chunk)
                    await self._notify()
            path = await self.temp.commit(self.wanted.url)
            log.info("cached file=%s bytes=%d seconds=%.2f", self.wanted.label, self.temp.written,
                     time.monotonic() - began)
            if self.wanted.on_cached is not None:
                try:
                    await self.wanted.on_cached(path)
                except Exception:  # derived data is optional; the verified file is what matters
                    log.exception("post-processing failed file=%s", self.wanted.label)
            self.finished.set_result(path)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the waiting clients
            if isinstance(exc, (UpstreamError, IntegrityError)):
                failure: MirrorError = exc
            elif isinstance(exc, OSError):  # network errors arrive as UpstreamError: this is the disk
                failure = StorageError(f"cannot write the file cache: {exc}")
            else:
                failure = UpstreamError(self.wanted.url, f"{type(exc).__name__}: {exc}")
            try:
                await self.temp.discard()
            except OSError as cleanup:  # must not keep the clients waiting below
                log.error("could not remove temp file=%s error=%s", self.temp.path, cleanup)
            if isinstance(exc, IntegrityError):
                log.error("refused file=%s reason=%s", self.wanted.label, exc)
            else:
                log.warning("download failed file=%s reason=%s", self.wanted.label, failure)
            if not self.started.done():
                self.started.set_exception(failure)
            if not self.finished.done():
                self.finished.set_exception(failure)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            await self._notify()

    async def tail(self) -> AsyncIterator[bytes]:
        """Yield the file's bytes as they arrive; the final byte only after verification.

        Raises UpstreamError/IntegrityError (after possibly yielding a prefix) when the download fails.
        Call after ``started`` resolved, so the temp file exists.
        """
        sent = 0
        try:
            fh = await aiofiles.open(self.temp.path, "rb")
        except FileNotFoundError:
            # The download ended before this reader got to open the temp file (a busy thread pool):
            # it was either renamed into the cache or discarded. ``finished`` says which.
            fh = await aiofiles.open(await asyncio.shield(self.finished), "rb")
        try:
            while True:
                if self.finished.done():
                    self.finished.result()  # raises the failure, if any
                    limit = self.temp.written
                else:
                    limit = self.temp.written - 1  # withhold a byte until the digest is checked
                if sent < limit:
                    await fh.seek(sent)
                    chunk = await fh.read(min(_CHUNK, limit - sent))
                    if chunk:
                        sent += len(chunk)
                        yield chunk
                        continue
                if self.finished.done():
                    return
                async with self._progress:
                    if not self.finished.done() and self.temp.written - 1 <= sent:
                        await self._progress.wait()
        finally:
            await fh.close()


def _consume_exception(fut: asyncio.Future) -> None:
    # A failure nobody awaits is expected (no client was waiting); don't log "never retrieved".
    if not fut.cancelled():
        fut.exception()


class Downloader:
    """Starts downloads and makes concurrent requests for one file share a single download."""

    def __init__(self, storage: Storage, upstream: UpstreamClient) -> None:
        self._storage = storage
        self._upstream = upstream
        self._active: dict[tuple[str, str], Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, wanted: Wanted) -> Download:
        """The running download of this file, or a newly started one."""
        key = (wanted.algorithm, wanted.digest)
        download = self._active.get(key)
        if download is None:
            log.info("cache miss file=%s", wanted.label)
            temp = self._storage.new_temp(wanted.algorithm, wanted.digest, wanted.size)
            download = Download(wanted, temp)
            self._active[key] = download
            task = asyncio.ensure_future(download.run(self._upstream))
            self._tasks.add(task)

            def _done(t: asyncio.Task[None], key: tuple[str, str] = key) -> None:
                self._tasks.discard(t)
                self._active.pop(key, None)

            task.add_done_callback(_done)
        return download

    async def close(self) -> None:
        """Cancel downloads still running (at shutdown); their temp files are removed."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
