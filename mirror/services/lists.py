"""Upstream's project list, from the bytes on the wire to a :class:`~mirror.core.simple.list_build.BuiltList`.

The body streams from the upstream client into a :class:`ListFetch`, which hands it, a megabyte at a time, to a
:class:`~mirror.core.simple.list_build.ListBuilder` in the CPU lane while the next megabyte arrives: the event
loop never parses, and the raw body is never held whole. What the database keeps is not upstream's bytes but the
mirror's own list, as gzip'd PEP 691 JSON (a tenth of the size; the same bytes a gzip-accepting JSON client
gets), made after the list is served; a restart rebuilds the list from it in the same way.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from mirror.core.errors import ParseError, UpstreamError
from mirror.core.simple.list_build import BATCH_BYTES, BuiltList, ListBuilder, Piece, document, json_frame
from mirror.core.simple.rules import JSON_TYPE, serial
from mirror.services.cache import Record
from mirror.services.cpu import CpuLane

#: Media type of the list as the database keeps it: the mirror's PEP 691 JSON, gzip'd.
STORED_TYPE = "application/x-mirror-project-list+gzip"
#: Bytes handed to the CPU lane at a time: the pieces made of them stay under the size from which joining bytes
#: releases the GIL (1 MiB), so the lane never waits to take it back from a busy event loop mid-piece.
_STEP = BATCH_BYTES
#: Steps queued in the CPU lane at most while more of the body arrives.
_QUEUED = 8
#: zlib level of the stored (and served) gzip forms: fast, and a list still shrinks ~10x.
GZIP_LEVEL = 1


class ListFetch:
    """A :class:`~mirror.adapters.upstream.BodySink` building the list as its body arrives.

    One job at a time runs in the CPU lane and takes the steps queued so far, in order; reading stops (the
    upstream connection waits) while more than ``_QUEUED`` steps wait, and at the first step that does not parse.
    Clients waiting for a list the mirror does not have yet read its pieces as they are made (:meth:`pieces`).
    """

    def __init__(self, cpu: CpuLane, on_start: Callable[[], None] = lambda: None, *, eager_html: bool = False) -> None:
        self._cpu = cpu
        self._on_start = on_start
        self._eager_html = eager_html
        self._loop = asyncio.get_running_loop()
        self._builder: ListBuilder | None = None
        self._input: list[bytes] = []
        self._input_bytes = 0
        self._steps: deque[bytes] = deque()  # appended here, taken in the lane (deque ends are thread-safe)
        self._job: asyncio.Future[None] | None = None
        self._waiters: set[asyncio.Event] = set()
        #: Set when every piece is made (None), or to the error that ended the fetch.
        self.complete: asyncio.Future[None] = self._loop.create_future()

    @property
    def started(self) -> bool:
        return self._builder is not None

    @property
    def last_serial(self) -> int | None:
        return self._builder.last_serial if self._builder is not None else None

    async def start(self, content_type: str, header_serial: str | None) -> None:
        """Raises ParseError for a media type that is not a project list's."""
        self._builder = ListBuilder(content_type, serial(header_serial))
        self._builder.eager_html = self._eager_html
        self._on_start()

    async def feed(self, chunk: bytes) -> None:
        """Queue ``chunk``; raises the ParseError of an earlier step as soon as it is known."""
        self._input.append(chunk)
        self._input_bytes += len(chunk)
        if self._input_bytes >= _STEP:
            self._steps.append(b"".join(self._input))
            self._input, self._input_bytes = [], 0
            await self._run(wait=len(self._steps) > _QUEUED)

    async def _run(self, *, wait: bool) -> None:
        """Start a job when none runs and steps wait (raising the error of the last one); ``wait``: for it."""
        if self._job is not None and self._job.done():
            job, self._job = self._job, None
            job.result()
        if self._job is None and self._steps:
            self._job = asyncio.ensure_future(self._cpu.run(self._take_steps))
        if wait and self._job is not None:
            await asyncio.shield(self._job)

    def _take_steps(self) -> None:
        assert self._builder is not None
        while self._steps:
            self._builder.feed(self._steps.popleft())
            self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    async def finish(self) -> tuple[BuiltList, str]:
        """The list and its revision (see :func:`revision_of`); raises ParseError."""
        try:
            if self._input:
                self._steps.append(b"".join(self._input))
                self._input, self._input_bytes = [], 0
            while self._steps or self._job is not None:
                await self._run(wait=True)
                if self._job is not None and self._job.done():
                    job, self._job = self._job, None
                    job.result()
            assert self._builder is not None
            await self._cpu.run(self._builder.end_input)
        except BaseException as exc:
            self.fail(exc)
            raise
        self._end(None)
        built = await self._cpu.run(self._builder.result)
        return built, await self._cpu.run(revision_of, built)

    def fail(self, exc: BaseException) -> None:
        """The fetch ended with ``exc``: readers of the pieces get it (as the cache's readers would: a body that
        does not parse is an upstream failure)."""
        if isinstance(exc, ParseError):
            exc = UpstreamError("project list", f"upstream sent an invalid answer: {exc}")
        elif not isinstance(exc, Exception):
            exc = UpstreamError("project list", "the fetch was cancelled")
        self._end(exc)

    def _end(self, exc: BaseException | None) -> None:
        if not self.complete.done():
            if exc is None:
                self.complete.set_result(None)
            else:
                self.complete.set_exception(exc)
                self.complete.exception()  # retrieved: a fetch nobody streams is not an error to report
        self._notify()

    async def pieces(self) -> AsyncIterator[Piece]:
        """Every piece, as soon as it is made; raises the error that ended the fetch, if one did."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        at = 0
        try:
            while True:
                waiter.clear()
                made = self._builder.pieces if self._builder is not None else []
                while at < len(made):
                    yield made[at]
                    at += 1
                if self.complete.done():
                    self.complete.result()
                    if at >= len(made):
                        return
                    continue
                await waiter.wait()
        finally:
            self._waiters.discard(waiter)

    def want_html(self) -> None:
        """Someone streams the HTML: render it with each piece from now on."""
        self._eager_html = True
        if self._builder is not None:
            self._builder.eager_html = True


def revision_of(built: BuiltList) -> str:
    """The revision of a list: the sha256 of what it holds (its serial and its entries as the mirror's JSON), not
    of upstream's bytes, which would cost a hash of every megabyte on the way in. Blocking."""
    digest = hashlib.sha256(STORED_TYPE.encode() + b"\0")
    for part in stored_parts(built):
        digest.update(part)
    return digest.hexdigest()


def gzip_parts(parts: Iterable[bytes | memoryview], level: int = GZIP_LEVEL) -> bytes:
    """The gzip form (no timestamp) of the concatenation of ``parts``; blocking (zlib releases the GIL)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip container, mtime 0
    out = [compressor.compress(part) for part in parts]
    out.append(compressor.flush())
    return b"".join(out)


def stored_parts(built: BuiltList) -> tuple[bytes | memoryview, ...]:
    """The list as the database keeps it, before compression: the mirror's PEP 691 JSON of every entry."""
    head, tail = json_frame(built.last_serial)
    return document(head, built.json_pieces(), tail, json=True).parts


async def stored_body(built: BuiltList) -> bytes:
    """The body of the list's database record (see the module docstring). Its parts are read in the thread too:
    a list served as HTML holds its JSON packed, and inflating it is no work for the event loop."""
    return await asyncio.to_thread(lambda: gzip_parts(stored_parts(built)))


def _unzipped(body: bytes) -> Iterator[bytes]:
    """The bytes of a gzip body, a step at a time (never the whole list at once)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = body
    while data:
        yield decompressor.decompress(data, _STEP)
        data = decompressor.unconsumed_tail
    rest = decompressor.flush()
    if rest:
        yield rest
    if not decompressor.eof:
        raise ParseError("stored project list is truncated")


def build_stored(record: Record) -> BuiltList:
    """The list of a database record: the stored form, or (records of older versions) upstream's own bytes.
    Blocking; raises ParseError."""
    if record.content_type == STORED_TYPE:
        builder = ListBuilder(JSON_TYPE)
        try:
            for step in _unzipped(record.body):
                builder.feed(step)
        except (zlib.error, gzip.BadGzipFile):
            raise ParseError("stored project list is not gzip") from None
    else:
        builder = ListBuilder(record.content_type, record.serial)
        for at in range(0, len(record.body), _STEP):
            builder.feed(record.body[at:at + _STEP])
    return builder.close()
