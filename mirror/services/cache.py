"""One revalidating cache for everything the mirror fetches from upstream and keeps: index pages, the project
list, provenance documents.

An entry lives in three places: upstream, a :class:`RecordStore` (raw bytes; survives restarts and is shared by
processes and nodes) and process memory (the decoded value, used by warm requests without any I/O). An entry is
*fresh* for ``ttl`` seconds after upstream last confirmed it; after that the next request revalidates it, with
upstream's ETag when there is one. When upstream fails, the last good entry is served marked ``stale`` and upstream
is not asked again for ``retry_after`` seconds, so an outage does not make every request wait for a timeout; the
same when the store (the database) fails while a value is in memory. A
404 is remembered for ``not_found_ttl`` seconds. Concurrent requests for one key share one fetch (single flight),
which a disconnecting client cannot cancel. With ``refresh_in_background``, an expired entry is returned at once
while one background fetch revalidates it (stale-while-revalidate).

Memory is bounded by LRUs (values and remembered 404s); an entry evicted from memory is re-read from the store.

With a :class:`~mirror.services.leases.SharedFlight`, the single flight spans every process and node sharing the
store: one of them asks upstream, the others wait for its lease and then re-read the stored record (or take the
failure it met), so a cold or expired key costs one upstream request however many nodes want it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from mirror.adapters.db.pages import PageRecord
from mirror.core.errors import DatabaseUnavailable, MirrorError, ParseError, UpstreamError
from mirror.core.lru import LRU
from mirror.services.leases import Leases, SharedFlight
from mirror.services.telemetry import HIT, MISS, NO_TELEMETRY, REVALIDATED, STALE, Telemetry, note_cache

log = logging.getLogger("mirror.cache")

V = TypeVar("V")


#: An upstream answer as stored (raw bytes, media type, URL, ETag, serial, revision, fetch time).
Record = PageRecord


class RecordStore(Protocol):
    """Where records persist (a database table): one record per key."""

    async def load(self, key: str) -> Record | None: ...

    async def save(self, record: Record) -> None: ...

    async def touch(self, key: str, fetched_at: float) -> None: ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Fresh:
    """Upstream answered 200 with this body.

    A fetch that decoded the body while it streamed in (a 40 MB project list) hands over the ``value`` and the
    ``revision`` instead, and, in place of ``body``, ``stored``: a function making the record's body (e.g. a
    compressed form of the value). The value is then served at once and stored when that body is made.
    """

    body: bytes
    content_type: str
    url: str
    etag: str | None = None
    serial: int | None = None
    elapsed: float = 0.0
    value: Any = None
    revision: str | None = None
    stored: Callable[[], Awaitable[bytes]] | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """Upstream answered 304 to our If-None-Match."""

    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class Gone:
    """Upstream answered 404: the key does not exist there (now)."""

    elapsed: float = 0.0


#: ``fetch(key, etag)``: one upstream request; raises UpstreamError (or a subclass) on failure.
Fetch = Callable[[str, str | None], Awaitable[Fresh | NotModified | Gone]]
#: ``decode(record)``: the value of a record; raises ParseError when the bytes are not a valid value.
Decode = Callable[[Record], Awaitable[V]]


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    """A decoded value with its cache state; ``stale`` when upstream could not confirm it."""

    value: V
    revision: str
    etag: str | None
    serial: int | None
    fetched_at: float
    stale: bool = False
    retry_at: float = 0.0
    #: when stale: why the latest attempt to revalidate failed
    error: str = ""


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long entries are trusted, and how much memory they may take."""

    ttl: float
    retry_after: float = 30.0
    not_found_ttl: float = 60.0
    memory: int = 4096
    refresh_in_background: bool = False
    #: seconds a process waits for another process or node fetching the same key (with a SharedFlight)
    wait: float = 90.0


class KeyGone(MirrorError):
    """Upstream says the key does not exist (404), now or within ``not_found_ttl``."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"{key}: not found upstream")


def revision_of(content_type: str, body: bytes) -> str:
    """The revision of an answer: the same bytes under another media type may not decode the same way."""
    media = content_type.split(";", 1)[0].strip().lower()
    digest = hashlib.sha256(media.encode() + b"\0")
    digest.update(body)  # not ``media + body``: a big page is not copied to be hashed
    return digest.hexdigest()


#: Most saves kept waiting for the store in the background; beyond it an answer waits for its own save.
BACKGROUND_SAVES = 32
#: Bodies shorter than this are hashed on the event loop (a thread costs more than hashing them).
_HASH_INLINE = 256 * 1024


async def _given(body: bytes) -> bytes:
    return body


class RevalidatingCache(Generic[V]):
    """Values by key, fetched from upstream, kept in a store and in memory (see the module docstring).

    ``name`` labels log lines, telemetry and lease keys. ``clock`` is wall-clock seconds (records carry it across
    processes). ``leases``: fetches are shared with the other processes and nodes through them (None: this process
    only).
    """

    def __init__(self, name: str, fetch: Fetch, store: RecordStore, decode: Decode[V], policy: CachePolicy,
                 clock: Callable[[], float] = time.time, *, leases: Leases | None = None,
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.name = name
        self._fetch = fetch
        self._store = store
        self._decode = decode
        self.policy = policy
        self._clock = clock
        self._flight = SharedFlight(leases, name, telemetry) if leases is not None else None
        self._telemetry = telemetry
        self._memory: LRU[str, Entry[V]] = LRU(policy.memory)
        self._not_found: LRU[str, float] = LRU(policy.memory)
        self._inflight: dict[str, asyncio.Task[Entry[V]]] = {}
        self._background: set[asyncio.Task[Entry[V]]] = set()
        self._saves: set[asyncio.Task[None]] = set()
        self._save_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key → its lock, saves using it

    def peek(self, key: str) -> Entry[V] | None:
        """The in-memory entry if it is fresh (no I/O at all), else None."""
        entry = self._memory.get(key)
        if entry is not None and self._clock() - entry.fetched_at < self.policy.ttl:
            return entry
        return None

    def known(self, key: str) -> Entry[V] | None:
        """The in-memory entry whatever its age (no I/O), else None."""
        return self._memory.get(key)

    def forget(self, key: str) -> None:
        """Drop the in-memory entry and any remembered 404 (the store keeps its record)."""
        self._memory.pop(key, None)
        self._not_found.pop(key, None)

    async def get(self, key: str) -> Entry[V]:
        """The entry of ``key``: fresh, revalidated, or stale when upstream fails.

        Raises KeyGone when upstream says the key does not exist, and UpstreamError (or a subclass) when upstream
        fails and nothing is cached; a body that does not decode counts as an upstream failure.
        """
        entry = self.peek(key)
        if entry is not None:
            self._count(HIT)
            return entry
        missing_until = self._not_found.get(key)
        if missing_until is not None:
            if self._clock() < missing_until:
                self._count(HIT)
                raise KeyGone(key)
            self._not_found.pop(key, None)
        current = self._memory.get(key)
        if current is not None and self.policy.refresh_in_background:
            # Stale-while-revalidate: nobody waits for upstream once a value exists.
            retry_due = not current.stale or self._clock() >= current.retry_at
            if retry_due and key not in self._inflight:
                task = self._start(key)
                self._background.add(task)
                task.add_done_callback(self._background_done)
            self._count(STALE)
            return current
        began = self._clock()
        try:
            entry = await self._single_flight(key)
        except KeyGone:
            self._count(MISS)
            raise
        if entry.stale:
            self._count(STALE)
        elif entry.fetched_at < began:
            self._count(HIT)  # from the store, fresh (fetched by another process or node, or before a restart)
        else:
            self._count(MISS if current is None else REVALIDATED)
        return entry

    def _count(self, result: str) -> None:
        self._telemetry.cache_result(self.name, result)
        note_cache(result)

    def _background_done(self, task: asyncio.Task[Entry[V]]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background refresh failed cache=%s error=%s", self.name, task.exception())

    def _start(self, key: str) -> asyncio.Task[Entry[V]]:
        task = asyncio.ensure_future(self._refresh(key))
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return task

    async def _single_flight(self, key: str) -> Entry[V]:
        task = self._inflight.get(key) or self._start(key)
        # shield: a client that disconnects must not cancel the fetch other clients are waiting for.
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel background refreshes and finish storing what was fetched (at shutdown)."""
        for task in list(self._background):
            task.cancel()
        if self._background or self._saves:
            await asyncio.gather(*self._background, *self._saves, return_exceptions=True)

    async def _refresh(self, key: str) -> Entry[V]:
        now = self._clock()
        current = self._memory.get(key)
        if current is None:
            current = await self._load_stored(key)
            if current is not None and now - current.fetched_at < self.policy.ttl:
                # Another process (or node, or a previous run) fetched it recently: no upstream request.
                self._memory[key] = current
                return current
        if current is not None and current.stale and now < current.retry_at:
            return current
        try:
            if self._flight is None:
                entry = await self._ask_upstream(key, current)
            else:
                entry = await self._flight.run(key, functools.partial(self._ask_upstream, key, current),
                                               functools.partial(self._landed, key, current),
                                               wait=self.policy.wait, absent=KeyGone)
        except KeyGone:
            self._memory.pop(key, None)
            self._not_found[key] = self._clock() + self.policy.not_found_ttl
            raise
        except DatabaseUnavailable as exc:
            # The store (database) failed: a value this process still holds is served, stale, and the database
            # is not asked again for ``retry_after``; with nothing held the request fails (503, Retry-After).
            if current is None:
                raise
            entry = replace(current, stale=True, retry_at=self._clock() + self.policy.retry_after, error=str(exc))
            log.warning("serving stale, database unavailable cache=%s key=%s error=%s", self.name, key, exc)
        except (UpstreamError, ParseError) as exc:
            if current is None:
                log.warning("upstream failed, nothing cached cache=%s key=%s error=%s", self.name, key, exc)
                if isinstance(exc, ParseError):
                    raise UpstreamError(key, f"upstream sent an invalid answer: {exc}") from None
                raise
            entry = replace(current, stale=True, retry_at=self._clock() + self.policy.retry_after, error=str(exc))
            log.warning("serving stale cache=%s key=%s age_s=%.0f error=%s", self.name, key,
                        self._clock() - current.fetched_at, exc)
        self._memory[key] = entry
        return entry

    async def _ask_upstream(self, key: str, current: Entry[V] | None) -> Entry[V]:
        """One upstream request for ``key`` (conditional when ``current`` has an ETag), its answer stored;
        raises KeyGone (the record deleted), UpstreamError or ParseError."""
        answer = await self._fetch(key, current.etag if current else None)
        self._telemetry.upstream_latency(self.name, answer.elapsed)
        if isinstance(answer, Gone):
            await self._store.delete(key)
            log.info("upstream 404 cache=%s key=%s", self.name, key)
            raise KeyGone(key)
        if isinstance(answer, NotModified):
            if current is None:  # we sent no ETag: upstream is not making sense
                raise UpstreamError(key, "304 Not Modified to an unconditional request")
            entry = replace(current, fetched_at=self._clock(), stale=False, retry_at=0.0, error="")
            await self._store.touch(key, entry.fetched_at)
            log.info("upstream 304 cache=%s key=%s latency_ms=%.0f", self.name, key, answer.elapsed * 1000)
            return entry
        entry = await self._accept(key, answer, current)
        log.info("upstream 200 cache=%s key=%s latency_ms=%.0f bytes=%d%s", self.name, key,
                 answer.elapsed * 1000, len(answer.body), "" if current is None else " (refresh)")
        return entry

    async def _landed(self, key: str, current: Entry[V] | None) -> Entry[V] | None:
        """The record another process or node stored while this one waited: one that differs from ``current``
        and is fresh; None when there is none (then this process asks upstream itself)."""
        record = await self._store.load(key)
        if record is None or self._clock() - record.fetched_at >= self.policy.ttl:
            return None
        if current is not None and (record.fetched_at, record.revision) == (current.fetched_at, current.revision):
            return None
        if current is not None and record.revision == current.revision:
            return replace(current, fetched_at=record.fetched_at, etag=record.etag, serial=record.serial,
                           stale=False, retry_at=0.0, error="")
        return await self._entry_of(record)

    async def _accept(self, key: str, answer: Fresh, current: Entry[V] | None) -> Entry[V]:
        revision = answer.revision
        if not revision:  # hashing releases the interpreter lock: a big page is hashed beside the event loop
            revision = (revision_of(answer.content_type, answer.body) if len(answer.body) < _HASH_INLINE
                        else await asyncio.to_thread(revision_of, answer.content_type, answer.body))
        record = Record(key=key, body=answer.body, content_type=answer.content_type, page_url=answer.url,
                        etag=answer.etag, serial=answer.serial, revision=revision, fetched_at=self._clock())
        if current is not None and current.revision == revision:
            value = current.value  # same bytes: keep the decoded value and everything derived from it
        elif answer.value is not None:
            value = answer.value  # decoded while it streamed in
        else:
            value = await self._decode(record)  # before storing: bytes that do not decode are never kept
        if answer.stored is not None:
            self._track(self._save_later(record, answer.stored))
        elif self._flight is None:
            # No other process waits for the record (no leases): the answer does not wait for the database, unless
            # saves are already queued (a slow database, a flood of cold keys): bodies never pile up in memory.
            # Either way saves of one key keep their order.
            saving = self._save_later(record, functools.partial(_given, record.body))
            if len(self._saves) < BACKGROUND_SAVES:
                self._track(saving)
            else:
                await saving
        else:
            await self._store.save(record)  # before the lease is released: the other processes read it
        return Entry(value=value, revision=revision, etag=answer.etag, serial=answer.serial,
                     fetched_at=record.fetched_at)

    async def _save_later(self, record: Record, make_body: Callable[[], Awaitable[bytes]]) -> None:
        """Store ``record`` with the body ``make_body`` makes, after any earlier save of the same key."""
        lock, users = self._save_locks.get(record.key, (asyncio.Lock(), 0))
        self._save_locks[record.key] = (lock, users + 1)
        try:
            async with lock:
                try:
                    await self._store.save(replace(record, body=await make_body()))
                except Exception:  # the value is served from memory; a restart fetches it again
                    log.exception("could not store cache=%s key=%s", self.name, record.key)
        finally:
            lock, users = self._save_locks[record.key]
            if users == 1:
                del self._save_locks[record.key]  # bounded: only keys with a save pending have a lock
            else:
                self._save_locks[record.key] = (lock, users - 1)

    def _track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)

    async def settle(self) -> None:
        """Wait until the background refreshes and saves started so far are done."""
        while self._background or self._saves:
            await asyncio.gather(*self._background, *self._saves, return_exceptions=True)

    async def _load_stored(self, key: str) -> Entry[V] | None:
        record = await self._store.load(key)
        return None if record is None else await self._entry_of(record)

    async def _entry_of(self, record: Record) -> Entry[V] | None:
        """The entry of a stored record; None when its bytes no longer decode."""
        try:
            value = await self._decode(record)
        except ParseError as exc:  # written by an older parser that accepted it: refetch instead
            log.warning("stored record unreadable cache=%s key=%s error=%s", self.name, record.key, exc)
            return None
        return Entry(value=value, revision=record.revision, etag=record.etag, serial=record.serial,
                     fetched_at=record.fetched_at)
