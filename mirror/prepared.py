"""Tier views of cached pages, prepared once as response bytes.

A rendered page (plus its gzip form and ETags) is kept per (tier, page, format) together with the
*stamp* it was made from: the upstream page revision, the policy version and the local-metadata
revision. A warm request compares the stamp and returns the bytes: no parsing, rendering or database
round-trip on the hot path.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

import jinja2

from .db.pages import PageStore
from .errors import FileNotListed, ProjectNotFound
from .models import DistFile, Format, ProjectDetail, ProjectList, Tier
from .pages import CachedPage, PageCache
from .simple.render import render_index, render_project
from .tiers import servable_view

#: Pages smaller than this are not worth compressing.
_GZIP_MIN = 1024
#: Rendering bigger pages than this is moved off the event loop.
_OFFLOAD_FILES = 2000

Stamp = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """Response bytes of one representation of one page, with strong ETags for each encoding."""

    stamp: Stamp
    body: bytes
    etag: str
    gzip_body: bytes | None
    gzip_etag: str | None
    serial: int | None
    prepared_ms: float


@dataclass(frozen=True, slots=True)
class _View:
    stamp: Stamp
    detail: ProjectDetail
    by_name: dict[str, DistFile]


def _prepare(stamp: Stamp, fmt: Format, body: bytes, serial: int | None, started: float) -> PreparedPage:
    digest = hashlib.sha256(fmt.value.encode() + b"\0" + body).hexdigest()[:32]
    gz = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= _GZIP_MIN else None
    return PreparedPage(stamp=stamp, body=body, etag=f'"{digest}"', gzip_body=gz,
                        gzip_etag=f'"{digest}-gz"' if gz is not None else None, serial=serial,
                        prepared_ms=(time.perf_counter() - started) * 1000)


def file_href(f: DistFile, project: str) -> str:
    """A file's URL relative to its project page ``/<tier>/simple/<project>/``."""
    return f"../../files/{project}/{quote(f.filename)}"


class PreparedPages:
    """Serves tier views of :class:`PageCache` pages as :class:`PreparedPage` objects."""

    def __init__(self, pages: PageCache, store: PageStore, env: jinja2.Environment,
                 policy_version: Callable[[], int] = lambda: 0) -> None:
        self._pages = pages
        self._store = store
        self._env = env
        self._policy_version = policy_version
        self._prepared: dict[tuple[Tier, str, Format], PreparedPage] = {}
        self._views: dict[tuple[Tier, str], _View] = {}
        self._local_revision: dict[str, int] = {}

    def invalidate_local(self, project: str) -> None:
        """Note that locally derived data of ``project`` changed (e.g. metadata was extracted)."""
        self._local_revision[project] = self._local_revision.get(project, 0) + 1

    async def project(self, tier: Tier, project: str, fmt: Format) -> tuple[PreparedPage, bool]:
        """The prepared page and whether it is stale; raises ProjectNotFound / UpstreamError."""
        cached = self._pages.peek(project) or await self._pages.project(project)
        stamp = (cached.revision, self._policy_version(), self._local_revision.get(project, 0))
        key = (tier, project, fmt)
        prepared = self._prepared.get(key)
        if prepared is None or prepared.stamp != stamp:
            view = await self.view(tier, project, cached)
            started = time.perf_counter()
            if len(view.files) > _OFFLOAD_FILES:
                body = await asyncio.to_thread(self._render_project, view, fmt)
            else:
                body = self._render_project(view, fmt)
            prepared = _prepare(stamp, fmt, body, view.last_serial, started)
            self._prepared[key] = prepared
        return prepared, cached.stale

    def _render_project(self, view: ProjectDetail, fmt: Format) -> bytes:
        return render_project(view, fmt, self._env, lambda f: file_href(f, view.name))

    async def view(self, tier: Tier, project: str,
                   cached: CachedPage[ProjectDetail] | None = None) -> ProjectDetail:
        """The tier's view of a project: servable files admitted by the tier's policy.

        Raises ProjectNotFound when the project is not in the tier.
        """
        return (await self._view(tier, project, cached)).detail

    async def _view(self, tier: Tier, project: str, cached: CachedPage[ProjectDetail] | None) -> _View:
        if cached is None:
            cached = self._pages.peek(project) or await self._pages.project(project)
        stamp = (cached.revision, self._policy_version(), self._local_revision.get(project, 0))
        known = self._views.get((tier, project))
        if known is not None and known.stamp == stamp:
            return known
        if tier is not Tier.ALL:
            # Tier rules come from policy files; with none loaded no project is in these tiers.
            raise ProjectNotFound(project)
        detail = cached.model
        shas = [f.sha256 for f in detail.files if f.sha256 and f.metadata_hash() is None]
        extracted = await self._store.extracted_metadata_for(shas) if shas else {}
        view = servable_view(detail, extracted)
        known = _View(stamp, view, {f.filename: f for f in view.files})
        self._views[(tier, project)] = known
        return known

    async def admitted_file(self, tier: Tier, project: str, filename: str) -> DistFile:
        """The file as listed in the tier's view; raises FileNotListed or ProjectNotFound."""
        found = (await self._view(tier, project, None)).by_name.get(filename)
        if found is None:
            raise FileNotListed(project, filename)
        return found

    async def index(self, tier: Tier, fmt: Format) -> tuple[PreparedPage, bool]:
        """The tier's project list, prepared; raises UpstreamError when nothing is cached."""
        cached = await self._pages.index()
        stamp = (cached.revision, self._policy_version(), 0)
        key = (tier, "/", fmt)
        prepared = self._prepared.get(key)
        if prepared is None or prepared.stamp != stamp:
            plist = cached.model if tier is Tier.ALL else ProjectList(last_serial=cached.model.last_serial)
            started = time.perf_counter()
            body = await asyncio.to_thread(render_index, plist, fmt, self._env)
            prepared = await asyncio.to_thread(_prepare, stamp, fmt, body, plist.last_serial, started)
            self._prepared[key] = prepared
        return prepared, cached.stale
