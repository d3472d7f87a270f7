"""Cache service for index pages: freshness, one upstream fetch per page at a time, stale-if-error.

A page lives in three places: upstream, the database (raw bytes, survives restarts, shared by worker
processes) and process memory (parsed model, used by warm requests without any I/O). A page is *fresh*
for ``ttl`` seconds after upstream last confirmed it; after that the next request revalidates it (with
the upstream ETag when there is one). When upstream fails, the last good page is served, marked stale,
and upstream is not asked again for ``retry_after`` seconds so an outage does not make every request
wait for a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from packaging.utils import canonicalize_name

from mirror.adapters.db.pages import INDEX_KEY, PageRecord, PageStore
from mirror.adapters.upstream import FetchedPage, NotModified, UpstreamClient
from mirror.core.errors import ParseError, ProjectNotFound, UpstreamError
from mirror.core.lru import LRU
from mirror.core.models import ProjectDetail, ProjectList
from mirror.core.simple.parse import ParseWarning, media_type, parse_project_list, parse_project_page

log = logging.getLogger("mirror.pages")

M = TypeVar("M", ProjectDetail, ProjectList)


@dataclass(frozen=True, slots=True)
class CachedPage(Generic[M]):
    """A parsed page with its cache state.

    ``revision`` changes exactly when upstream's bytes change, so anything derived from the page (a
    rendered view) can be keyed on it. ``stale`` is True when upstream could not confirm the page.
    """

    model: M
    revision: str
    etag: str | None
    fetched_at: float
    stale: bool = False
    retry_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Freshness:
    ttl: float
    retry_after: float = 30.0
    not_found_ttl: float = 60.0


class PageCache:
    """Project pages and the project list, each cached under its key (see module docstring)."""

    def __init__(self, upstream: UpstreamClient, store: PageStore, freshness: Freshness,
                 index_freshness: Freshness, clock: Callable[[], float] = time.time,
                 memory_pages: int = 4096) -> None:
        self._upstream = upstream
        self._store = store
        self._fresh = freshness
        self._index_fresh = index_freshness
        self._clock = clock
        # Bounded: a page evicted here is re-read from the database (no upstream request) when asked for.
        self._memory: LRU[str, CachedPage] = LRU(memory_pages)
        # Bounded too: clients can ask for any number of names upstream does not have.
        self._not_found: LRU[str, float] = LRU(memory_pages * 4)
        self._inflight: dict[str, asyncio.Task[CachedPage]] = {}

    async def close(self) -> None:
        """Wait for the page fetches in flight (each bounded by the upstream timeouts) before the database and
        the upstream sessions close under them; their results are discarded."""
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def peek(self, project: str) -> CachedPage[ProjectDetail] | None:
        """The in-memory page if it is fresh (no I/O at all), else None."""
        page = self._memory.get(project)
        if page is not None and self._clock() - page.fetched_at < self._fresh.ttl:
            return page
        return None

    async def project(self, project: str) -> CachedPage[ProjectDetail]:
        """The page of a normalized project name.

        Raises ProjectNotFound when upstream says it does not exist, and UpstreamError (or
        UpstreamTimeout) when upstream fails and nothing is cached.
        """
        page = self.peek(project)
        if page is not None:
            return page
        missing_until = self._not_found.get(project)
        if missing_until is not None:
            if self._clock() < missing_until:
                raise ProjectNotFound(project)
            self._not_found.pop(project)
        return await self._single_flight(project, lambda: self._refresh_project(project))

    async def index(self) -> CachedPage[ProjectList]:
        """The project list; raises UpstreamError when upstream fails and nothing is cached."""
        page = self._memory.get(INDEX_KEY)
        if page is not None and self._clock() - page.fetched_at < self._index_fresh.ttl:
            return page
        return await self._single_flight(INDEX_KEY, self._refresh_index)

    async def _single_flight(self, key: str, refresh: Callable[[], Awaitable[CachedPage]]) -> CachedPage:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(refresh())
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        # shield: a client that disconnects must not cancel the fetch other clients are waiting for.
        return await asyncio.shield(task)

    async def _refresh_project(self, project: str) -> CachedPage[ProjectDetail]:
        def parse(record: PageRecord) -> ProjectDetail:
            warnings: list[ParseWarning] = []
            detail = parse_project_page(record.body, record.content_type, project=project,
                                        page_url=record.page_url,
                                        header_serial=str(record.serial) if record.serial else None,
                                        warnings=warnings)
            for w in warnings:  # one bad field is dropped, never the page: say what was dropped
                if w.field != "name":  # a renaming page is reported by _report_renaming
                    log.warning("upstream page repaired page=%s file=%s field=%s problem=%s",
                                project, w.filename, w.field, w.problem)
            return detail

        async def fetch(etag: str | None) -> FetchedPage | NotModified:
            return await self._upstream.fetch_project(project, etag)

        try:
            return await self._refresh(project, parse, fetch, self._fresh)
        except ProjectNotFound:
            self._memory.pop(project, None)
            self._not_found[project] = self._clock() + self._fresh.not_found_ttl
            await self._store.delete(project)
            log.info("upstream 404 project=%s", project)
            raise

    async def _refresh_index(self) -> CachedPage[ProjectList]:
        def parse(record: PageRecord) -> ProjectList:
            return parse_project_list(record.body, record.content_type,
                                      header_serial=str(record.serial) if record.serial else None)

        return await self._refresh(INDEX_KEY, parse, self._upstream.fetch_index, self._index_fresh)

    async def _refresh(self, key: str, parse: Callable[[PageRecord], M],
                       fetch: Callable[[str | None], Awaitable[FetchedPage | NotModified]],
                       freshness: Freshness) -> CachedPage[M]:
        now = self._clock()
        current = self._memory.get(key)
        if current is None:
            current = await self._load_stored(key, parse)
            if current is not None and now - current.fetched_at < freshness.ttl:
                # Another process (or a previous run) fetched it recently: no upstream request.
                self._memory[key] = current
                log.info("cache hit (database) page=%s", key)
                return current
        if current is not None and current.stale and now < current.retry_at:
            return current
        try:
            result = await fetch(current.etag if current else None)
            if isinstance(result, NotModified):
                assert current is not None
                page = replace(current, fetched_at=self._clock(), stale=False, retry_at=0.0)
                await self._store.touch(key, page.fetched_at)
                log.info("upstream 304 page=%s latency_ms=%.0f", key, result.elapsed * 1000)
            else:
                page = await self._accept(key, result, parse, current)
                log.info("upstream 200 page=%s latency_ms=%.0f bytes=%d%s", key, result.elapsed * 1000,
                         len(result.body), "" if current is None else " (refresh)")
        except (UpstreamError, ParseError) as exc:
            if current is None:
                log.warning("upstream failed, nothing cached page=%s error=%s", key, exc)
                if isinstance(exc, ParseError):
                    raise UpstreamError(key, f"upstream sent an invalid page: {exc}") from None
                raise
            page = replace(current, stale=True, retry_at=self._clock() + freshness.retry_after)
            log.warning("serving stale page=%s age_s=%.0f error=%s", key, self._clock() - current.fetched_at, exc)
        self._memory[key] = page
        return page

    async def _accept(self, key: str, fetched: FetchedPage, parse: Callable[[PageRecord], M],
                      current: CachedPage[M] | None) -> CachedPage[M]:
        # The media type is part of the revision: the same bytes under another type may not parse.
        revision = hashlib.sha256(media_type(fetched.content_type)[0].encode() + b"\0" + fetched.body).hexdigest()
        record = PageRecord(key=key, body=fetched.body, content_type=fetched.content_type,
                            page_url=fetched.url, etag=fetched.etag, serial=_int(fetched.serial),
                            revision=revision, fetched_at=self._clock())
        if current is not None and current.revision == revision:
            model = current.model  # same bytes: keep the parsed model and everything derived from it
        else:
            # Parse before storing: bytes that do not parse are never cached (ParseError → stale).
            model = await asyncio.to_thread(parse, record) if len(fetched.body) > 512 * 1024 else parse(record)
            _report_renaming(key, model)
        await self._store.save(record)
        return CachedPage(model=model, revision=revision, etag=fetched.etag, fetched_at=record.fetched_at)

    async def _load_stored(self, key: str, parse: Callable[[PageRecord], M]) -> CachedPage[M] | None:
        record = await self._store.load(key)
        if record is None:
            return None
        try:
            model = parse(record)
        except ParseError as exc:  # written by an older parser that accepted it; refetch instead
            log.warning("stored page unreadable page=%s error=%s", key, exc)
            return None
        return CachedPage(model=model, revision=record.revision, etag=record.etag, fetched_at=record.fetched_at)


def _report_renaming(key: str, model: ProjectDetail | ProjectList) -> None:
    """Log a project page whose stated name is another project's (the page is still filed under ``key``,
    and ``key``'s rules apply to it: see :func:`mirror.core.simple.parse.parse_project_page`)."""
    claimed = getattr(model, "upstream_name", None)
    if claimed is not None and canonicalize_name(claimed) != key:
        log.warning("upstream page of project=%s names another project %r: ignored, the rules of %s apply",
                    key, claimed, key)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
