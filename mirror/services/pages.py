"""Upstream's index pages, cached: project pages and the project list, each a :class:`RevalidatingCache`.

Bytes are parsed off the event loop when they are big (:class:`~mirror.services.cpu.CpuLane`); a page is filed
under the name the client asked for, whatever name the page states (a renaming page is logged). The project
list is revalidated in the background once it exists (stale-while-revalidate): no client waits for it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from packaging.utils import canonicalize_name

from mirror.adapters.db.pages import INDEX_KEY
from mirror.core.errors import ProjectNotFound, UpstreamError
from mirror.core.models import ProjectDetail, ProjectList
from mirror.core.simple.parse import ParseWarning, parse_project_list, parse_project_page
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
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.pages")

#: Bodies smaller than this are parsed on the event loop: the hop to a thread would cost more.
_INLINE_BYTES = 256 * 1024


class UpstreamPages(Protocol):
    """What the page service needs of the upstream client (:class:`mirror.adapters.upstream.UpstreamClient`)."""

    async def fetch_project(self, project: str, etag: str | None = None) -> object: ...

    async def fetch_index(self, etag: str | None = None) -> object: ...


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
        self.lists: RevalidatingCache[ProjectList] = RevalidatingCache(
            "project-list", self._fetch_index, store, self._decode_index, project_list, clock, leases=leases,
            telemetry=telemetry)

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

    async def project_list(self) -> Entry[ProjectList]:
        """Upstream's project list; raises UpstreamError when upstream fails and nothing is cached."""
        return await self.lists.get(INDEX_KEY)

    def known_page(self, project: str) -> ProjectDetail | None:
        """The page of ``project`` in memory, whatever its age, without any I/O (None when not in memory)."""
        entry = self.projects.known(project)
        return entry.value if entry is not None else None

    def known_list(self) -> Entry[ProjectList] | None:
        """The project list in memory, whatever its age, without any I/O (None before the first fetch)."""
        return self.lists.known(INDEX_KEY)

    async def _fetch_project(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        try:
            return as_answer(await self._upstream.fetch_project(key, etag))
        except ProjectNotFound:
            return Gone()

    async def _fetch_index(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        return as_answer(await self._upstream.fetch_index(etag))

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

    async def _decode_index(self, record: Record) -> ProjectList:
        def parse() -> ProjectList:
            return parse_project_list(record.body, record.content_type,
                                      header_serial=str(record.serial) if record.serial else None)

        return parse() if len(record.body) < _INLINE_BYTES else await self._cpu.run(parse)


async def upstream_has(pages: PageService, project: str) -> bool | None:
    """Whether upstream lists ``project`` (True/False), or None when that cannot be known now."""
    try:
        await pages.project(project)
        return True
    except ProjectNotFound:
        return False
    except UpstreamError:
        return None
