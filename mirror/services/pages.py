"""Upstream's index pages, cached: project pages and the project list, each a :class:`RevalidatingCache`.

Bytes are parsed off the event loop when they are big (:class:`~mirror.services.cpu.CpuLane`); a page is filed
under the name the client asked for, whatever name the page states (a renaming page is logged). The project
list is built as it streams in (:mod:`mirror.services.lists`) and revalidated in the background once it exists
(stale-while-revalidate): no client waits for it again. "Does upstream have this project?" is answered from it
(:meth:`PageService.upstream_has`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from packaging.utils import canonicalize_name

from mirror.adapters.db.pages import INDEX_KEY
from mirror.core.errors import ProjectNotFound, UpstreamError
from mirror.core.models import ProjectDetail
from mirror.core.simple.list_build import BuiltList
from mirror.core.simple.name_index import NameIndex
from mirror.core.simple.parse import ParseWarning, parse_project_page
from mirror.services.cache import (
    CachePolicy,
    Entry,
    Fresh,
    Gone,
    KeyGone,
    NotModified,
    Record,
    RecordStore,
    RevalidatingCache,
)
from mirror.services.cpu import CpuLane
from mirror.services.leases import Leases
from mirror.services.lists import STORED_TYPE, ListFetch, build_stored, stored_body
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.pages")

#: Bodies smaller than this are parsed on the event loop: the hop to a thread would cost more.
_INLINE_BYTES = 256 * 1024


class UpstreamPages(Protocol):
    """What the page service needs of the upstream client (:class:`mirror.adapters.upstream.UpstreamClient`)."""

    async def fetch_project(self, project: str, etag: str | None = None) -> object: ...

    async def fetch_index(self, etag: str | None = None, sink: ListFetch | None = None) -> object: ...


def as_answer(result: object) -> Fresh | NotModified:
    """The upstream client's answer as the cache's (a FetchedPage or a NotModified, by their fields)."""
    body = getattr(result, "body", None)
    if body is None:
        return NotModified(getattr(result, "elapsed", 0.0))
    serial = getattr(result, "serial", None)
    try:
        number = int(serial) if serial not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return Fresh(body=body, content_type=getattr(result, "content_type", "text/html"), url=getattr(result, "url", ""),
                 etag=getattr(result, "etag", None), serial=number, elapsed=getattr(result, "elapsed", 0.0))


class PageService:
    """Project pages and the project list (see the module docstring); with ``leases``, a cold or expired page is
    fetched once across every process and node sharing the database."""

    def __init__(self, upstream: UpstreamPages, store: RecordStore, pages: CachePolicy, project_list: CachePolicy,
                 cpu: CpuLane, clock: Callable[[], float] = time.time, *, leases: Leases | None = None,
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._upstream = upstream
        self._cpu = cpu
        self.projects: RevalidatingCache[ProjectDetail] = RevalidatingCache(
            "page", self._fetch_project, store, self._decode_project, pages, clock, leases=leases,
            telemetry=telemetry)
        self.lists: RevalidatingCache[BuiltList] = RevalidatingCache(
            "project-list", self._fetch_index, store, self._decode_index, project_list, clock, leases=leases,
            telemetry=telemetry)
        self._list_fetch: ListFetch | None = None  # the fetch of the list in flight
        self._list_started = asyncio.Event()  # set once that fetch's body arrives
        #: Build the HTML of the list as it arrives (clients have asked for it), not when first needed.
        self.list_html_wanted = False
        self._json_gzip: tuple[BuiltList, asyncio.Future[bytes]] | None = None

    async def close(self) -> None:
        """Stop background refreshes and wait for fetches in flight (each bounded by the upstream timeouts)."""
        await self.projects.close()
        await self.lists.close()

    def peek(self, project: str) -> Entry[ProjectDetail] | None:
        """The fresh in-memory page of ``project`` (no I/O), else None."""
        return self.projects.peek(project)

    async def project(self, project: str) -> Entry[ProjectDetail]:
        """The page of a normalized project name; raises ProjectNotFound when upstream has no such project, and
        UpstreamError (or UpstreamTimeout) when upstream fails and nothing is cached."""
        try:
            return await self.projects.get(project)
        except KeyGone:
            raise ProjectNotFound(project) from None

    async def project_list(self) -> Entry[BuiltList]:
        """Upstream's project list; raises UpstreamError when upstream fails and nothing is cached."""
        return await self.lists.get(INDEX_KEY)

    def known_list(self) -> Entry[BuiltList] | None:
        """The project list in memory, whatever its age, without any I/O (None before the first fetch)."""
        return self.lists.known(INDEX_KEY)

    async def list_in_flight(self) -> ListFetch | None:
        """When no list is in memory: the fetch of it (started if need be), once its body arrives, so that its
        pieces can be read as they are made; None when a list is in memory (now). Raises UpstreamError (or
        UpstreamTimeout) when the fetch fails before its body arrives."""
        if self.lists.known(INDEX_KEY) is not None:
            return None
        task = asyncio.ensure_future(self.lists.get(INDEX_KEY))
        task.add_done_callback(mark_retrieved)
        while not task.done():
            fetch = self._list_fetch
            if fetch is not None and fetch.started:
                return fetch
            started = asyncio.ensure_future(self._list_started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            started.cancel()
        task.result()
        return None

    def name_index(self) -> NameIndex | None:
        """The names of upstream's project list in memory, whatever its age (None before the first fetch):
        "is this name on upstream's list?" in O(log n), without any I/O."""
        entry = self.lists.known(INDEX_KEY)
        return entry.value.name_index() if entry is not None else None

    async def upstream_has(self, project: str) -> bool | None:
        """Whether upstream has ``project`` (any spelling): True/False, or None when that cannot be known now.

        Answered from the project list in memory (O(log n), no I/O) when it lists the name, or when the list is
        fresh (younger than its ttl); otherwise from the project's page (through the page cache: a cached page
        or a remembered 404 costs nothing).
        """
        entry = self.lists.known(INDEX_KEY)
        if entry is not None:
            if project in entry.value:
                return True
            if self.lists.peek(INDEX_KEY) is not None:
                return False
        try:
            await self.project(canonicalize_name(project))
            return True
        except ProjectNotFound:
            return False
        except UpstreamError:
            return None

    async def _fetch_project(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        try:
            return as_answer(await self._upstream.fetch_project(key, etag))
        except ProjectNotFound:
            return Gone()

    async def _fetch_index(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        fetch = self._list_fetch = ListFetch(self._cpu, on_start=self._list_started.set,
                                             eager_html=self.list_html_wanted)
        try:
            answer = as_answer(await self._upstream.fetch_index(etag, sink=fetch))
            if isinstance(answer, NotModified):
                fetch.fail(UpstreamError(key, "not modified"))  # nobody streams a refresh; for form's sake
                return answer
            built, revision = await fetch.finish()
        except BaseException as exc:
            fetch.fail(exc)
            raise
        finally:
            self._list_fetch = None
            self._list_started.clear()
        self._log_list(built)
        return Fresh(body=b"", content_type=STORED_TYPE, url=answer.url, etag=answer.etag, serial=answer.serial,
                     elapsed=answer.elapsed, value=built, revision=revision, stored=lambda: self.list_json_gzip(built))

    async def list_json_gzip(self, built: BuiltList) -> bytes:
        """The gzip form of ``built``'s JSON (what the database keeps, and what gzip-accepting JSON clients of
        ``all`` get when it blocks nothing): made once per list, in a thread."""
        if self._json_gzip is None or self._json_gzip[0] is not built:
            future = asyncio.ensure_future(stored_body(built))
            future.add_done_callback(mark_retrieved)
            self._json_gzip = (built, future)
        return await asyncio.shield(self._json_gzip[1])

    @staticmethod
    def _log_list(built: BuiltList) -> None:
        for w in built.warnings:  # a bad entry is dropped, never the list: say what was dropped
            log.warning("upstream project list repaired field=%s problem=%s", w.field, w.problem)
        log.info("project list built names=%d upstream_bytes=%d held_bytes=%d", len(built), built.upstream_bytes,
                 built.nbytes)

    async def _decode_project(self, record: Record) -> ProjectDetail:
        def parse() -> tuple[ProjectDetail, list[ParseWarning]]:
            warnings: list[ParseWarning] = []
            detail = parse_project_page(record.body, record.content_type, project=record.key,
                                        page_url=record.page_url,
                                        header_serial=str(record.serial) if record.serial else None,
                                        warnings=warnings)
            return detail, warnings

        if len(record.body) < _INLINE_BYTES:
            detail, warnings = parse()
        else:
            detail, warnings = await self._cpu.run(parse)
        for w in warnings:  # one bad field is dropped, never the page: say what was dropped
            if w.field != "name":
                log.warning("upstream page repaired page=%s file=%s field=%s problem=%s",
                            record.key, w.filename, w.field, w.problem)
        claimed = detail.upstream_name
        if claimed is not None and canonicalize_name(claimed) != record.key:
            log.warning("upstream page of project=%s names another project %r: ignored, the rules of %s apply",
                        record.key, claimed, record.key)
        return detail

    async def _decode_index(self, record: Record) -> BuiltList:
        built = await self._cpu.run(build_stored, record)
        self._log_list(built)
        return built


def mark_retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a task's exception as retrieved (whoever needs the outcome awaits the cache, not this task)."""
    if not task.cancelled():
        task.exception()
