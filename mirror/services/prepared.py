"""Tier views of cached pages, prepared once as response bytes.

A rendered page (plus its gzip form and ETags) is kept per (tier, page, format) together with the
*stamp* it was made from: the upstream page revision, the policy generation and the local-metadata
revision, and the time until which it holds (a cooldown ending admits a file). A warm request
compares the stamp and returns the bytes: no parsing, rendering or database round-trip on the hot path.
Projects a tier's policy keeps out are answered before any upstream fetch.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import jinja2

from mirror.adapters.db.pages import PageStore
from mirror.core.errors import FileNotListed, ProjectNotFound
from mirror.core.lru import LRU
from mirror.core.models import DistFile, Format, ProjectDetail, ProjectStatus, Tier
from mirror.core.policy.evaluate import ProvenanceStatuses, decide_project
from mirror.core.simple.render import FragmentCache, render_index, render_project
from mirror.core.tiers import servable_view, tier_projects, tier_view
from mirror.services.filestore import FileStore
from mirror.services.pages import CachedPage, PageCache
from mirror.services.policies import PolicyStore

#: Pages smaller than this are not worth compressing.
_GZIP_MIN = 1024
#: Rendering bigger pages than this is moved off the event loop.
_OFFLOAD_FILES = 2000

Stamp = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """Response bytes of one representation of one page, with strong ETags for each encoding."""

    stamp: Stamp
    valid_until: float
    body: bytes
    etag: str
    gzip_body: bytes | None
    gzip_etag: str | None
    serial: int | None
    prepared_ms: float


@dataclass(frozen=True, slots=True)
class _View:
    stamp: Stamp
    valid_until: float
    detail: ProjectDetail
    by_name: dict[str, DistFile]


_FOREVER = float("inf")


def _prepare(stamp: Stamp, valid_until: float, fmt: Format, body: bytes, serial: int | None,
             started: float) -> PreparedPage:
    digest = hashlib.sha256(fmt.value.encode() + b"\0" + body).hexdigest()[:32]
    # Big pages get a fast compression level: preparing them must stay quick (they still shrink ~8x).
    level = 6 if len(body) < 128 * 1024 else 1
    gz = gzip.compress(body, compresslevel=level, mtime=0) if len(body) >= _GZIP_MIN else None
    return PreparedPage(stamp=stamp, valid_until=valid_until, body=body, etag=f'"{digest}"', gzip_body=gz,
                        gzip_etag=f'"{digest}-gz"' if gz is not None else None, serial=serial,
                        prepared_ms=(time.perf_counter() - started) * 1000)


def file_href(f: DistFile, project: str) -> str:
    """A file's URL relative to its project page ``/<tier>/simple/<project>/``."""
    return f"../../files/{project}/{quote(f.filename, safe='')}"


class PreparedPages:
    """Serves tier views of :class:`PageCache` pages as :class:`PreparedPage` objects."""

    def __init__(self, pages: PageCache, store: PageStore, env: jinja2.Environment, policies: PolicyStore,
                 clock: Callable[[], float] = time.time, capacity: int = 8192,
                 provenance: ProvenanceStatuses | None = None, storage: FileStore | None = None) -> None:
        self._pages = pages
        self._storage = storage
        # Live map (sha256 → background provenance verification) owned by the checker, which calls
        # invalidate_local(project) whenever an entry of that project changes.
        self._provenance: ProvenanceStatuses = provenance if provenance is not None else {}
        self._store = store
        self._env = env
        self._policies = policies
        self._clock = clock
        # Bounded so that memory stays flat however many projects clients ask for.
        self._prepared: LRU[tuple[Tier, str, Format], PreparedPage] = LRU(capacity)
        self._views: LRU[tuple[Tier, str], _View] = LRU(capacity)
        self._local_revision: dict[str, int] = {}
        self._fragments = FragmentCache()
        self._servable_pages: LRU[str, tuple[tuple[str, int], ProjectDetail]] = LRU(capacity)

    def invalidate_local(self, project: str) -> None:
        """Note that locally derived data of ``project`` changed (e.g. metadata was extracted)."""
        self._local_revision[project] = self._local_revision.get(project, 0) + 1

    async def project(self, tier: Tier, project: str, fmt: Format) -> tuple[PreparedPage, bool]:
        """The prepared page and whether it is stale; raises ProjectNotFound / UpstreamError."""
        key = (tier, project, fmt)
        prepared = self._prepared.get(key)
        cached = self._pages.peek(project)
        if (prepared is not None and cached is not None and self._clock() < prepared.valid_until
                and prepared.stamp == self._stamp(cached.revision, project)):
            return prepared, cached.stale  # the hot path: no I/O, no rendering
        view, stale = await self._view(tier, project)
        if prepared is None or prepared.stamp != view.stamp or self._clock() >= prepared.valid_until:
            started = time.perf_counter()
            if len(view.detail.files) > _OFFLOAD_FILES:
                body = await asyncio.to_thread(self._render_project, view.detail, fmt)
            else:
                body = self._render_project(view.detail, fmt)
            prepared = _prepare(view.stamp, view.valid_until, fmt, body, view.detail.last_serial, started)
            self._prepared[key] = prepared
        return prepared, stale

    def _stamp(self, revision: str, project: str) -> Stamp:
        return (revision, self._policies.generation, self._local_revision.get(project, 0))

    def _render_project(self, view: ProjectDetail, fmt: Format) -> bytes:
        return render_project(view, fmt, self._env, lambda f: file_href(f, view.name), self._fragments)

    async def view(self, tier: Tier, project: str) -> ProjectDetail:
        """The tier's view of a project: servable files admitted by the tier's policy.

        Raises ProjectNotFound when the project is not in the tier (or not upstream).
        """
        return (await self._view(tier, project))[0].detail

    async def _view(self, tier: Tier, project: str) -> tuple[_View, bool]:
        policies = self._policies.current
        decision = decide_project(tier, project, policies)
        if not decision.admitted:
            policy = policies.of(project)
            block = policy.project_block if policy else None
            if block is None:
                # Before any upstream fetch: asking a curated tier for an unreviewed name costs nothing.
                raise ProjectNotFound(project, decision.rule, decision.change)
            status = ProjectStatus("quarantined", f"blocked by this index: {block.reason}")
            stamp = ("blocked", self._policies.generation, 0)
            return _View(stamp, _FOREVER, ProjectDetail(name=project, status=status), {}), False
        cached = self._pages.peek(project) or await self._pages.project(project)
        stamp = self._stamp(cached.revision, project)
        known = self._views.get((tier, project))
        if known is not None and known.stamp == stamp and self._clock() < known.valid_until:
            return known, cached.stale
        servable = await self._servable(project, cached)
        now = datetime.fromtimestamp(self._clock(), UTC)
        result = tier_view(tier, servable, policies, now, self._provenance, name=project)
        valid_until = result.valid_until.timestamp() if result.valid_until else _FOREVER
        known = _View(stamp, valid_until, result.detail, {f.filename: f for f in result.detail.files})
        self._views[(tier, project)] = known
        return known, cached.stale

    async def _servable(self, project: str, cached: CachedPage[ProjectDetail]) -> ProjectDetail:
        """The page reduced to servable files; shared by every tier's view of this page version."""
        key = (cached.revision, self._local_revision.get(project, 0))
        known = self._servable_pages.get(project)
        if known is not None and known[0] == key:
            return known[1]
        detail = cached.model
        # Metadata the mirror extracted from verified wheels, advertised only while both files are cached.
        shas = [f.sha256 for f in detail.files if f.sha256 and f.filename.endswith(".whl")]
        extracted = await self._store.extracted_metadata_for(shas) if shas else {}
        if extracted and self._storage is not None:
            extracted = await self._storage.present(extracted)
        servable = servable_view(detail, extracted)
        self._servable_pages[project] = (key, servable)
        return servable

    async def admitted_file(self, tier: Tier, project: str, filename: str) -> DistFile:
        """The file as listed in the tier's view; raises FileNotListed or ProjectNotFound."""
        found = (await self._view(tier, project))[0].by_name.get(filename)
        if found is None:
            raise FileNotListed(project, filename)
        return found

    async def index(self, tier: Tier, fmt: Format) -> tuple[PreparedPage, bool]:
        """The tier's project list, prepared; raises UpstreamError when ``all`` has nothing cached.

        ``reviewed`` and ``vetted`` lists come from the policies alone: no upstream request.
        """
        generation = self._policies.generation
        if tier is Tier.ALL:
            cached = await self._pages.index()
            revision, stale, upstream = cached.revision, cached.stale, cached.model
        else:
            revision, stale, upstream = "policies", False, None
        stamp = (revision, generation, 0)
        key = (tier, "/", fmt)
        prepared = self._prepared.get(key)
        if prepared is None or prepared.stamp != stamp:
            started = time.perf_counter()
            plist = tier_projects(tier, upstream, self._policies.current)
            body = await asyncio.to_thread(render_index, plist, fmt, self._env)
            prepared = await asyncio.to_thread(_prepare, stamp, _FOREVER, fmt, body, plist.last_serial, started)
            self._prepared[key] = prepared
        return prepared, stale

