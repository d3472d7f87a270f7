"""The JSON API tools expect (``/<tier>/pypi/<name>/json``, ``/<tier>/pypi/<name>/<version>/json``).

Upstream's JSON API documents are cached and revalidated like pages (:class:`RevalidatingCache`, in the
``json_api_documents`` table): served stale when upstream fails, and when upstream has no JSON API at all (or it
fails with nothing cached) the document is built from the Simple API page alone and says so. What a tier
serves comes from :meth:`PreparedPages.view`, the decision the Simple API serves
(:mod:`mirror.core.jsonapi` builds the document from it). Upstream's per-release documents are used when
upstream has them; an upstream that answers 404 for a release it lists has none, which is remembered for an
hour so that no request waits for such a 404 again.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from mirror.core.errors import ParseError, ProjectNotFound, UpstreamError
from mirror.core.jsonapi import (
    JsonDocument,
    Links,
    admitted_releases,
    find_release,
    latest_release,
    parse_document,
    project_document,
    release_document,
)
from mirror.core.lru import LRU
from mirror.core.models import DistFile, Tier
from mirror.core.policy.evaluate import canonical_version
from mirror.core.tiers import TierView
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
from mirror.services.pages import PageService, as_answer
from mirror.services.prepared import PreparedPages
from mirror.services.review.evidence import json_api_url

log = logging.getLogger("mirror.jsonapi")

#: Largest JSON API document accepted from upstream (a project with thousands of releases runs to megabytes).
DOCUMENT_LIMIT = 64 * 1024 * 1024
#: Documents smaller than this are parsed on the event loop.
_INLINE_BYTES = 256 * 1024
#: How long the mirror believes upstream has no per-release documents, once it answered 404 for a listed one.
_NO_RELEASE_DOCUMENTS = 3600.0
_ACCEPT = "application/json"
#: Documents at least this big are encoded in the CPU lane (and compressed fast).
_BIG = 128 * 1024


class UpstreamDocuments(Protocol):
    """What this service needs of :class:`mirror.adapters.upstream.UpstreamClient`."""

    async def revalidate_document(self, url: str, etag: str | None, *, accept: str, limit: int) -> object: ...


@dataclass(frozen=True, slots=True)
class Served:
    """A document's bytes (and their gzip form, for bodies worth compressing), a strong ETag for each, its
    serial, and whether something in it is stale."""

    body: bytes
    etag: str
    serial: int | None
    stale: bool
    gzip_body: bytes | None = None
    gzip_etag: str | None = None


def _served(data: dict[str, Any], stale: bool) -> Served:
    """Encode ``data`` (blocking: a big document takes milliseconds to encode and compress)."""
    body = msgspec.json.encode(data)
    digest = hashlib.sha256(body).hexdigest()[:32]
    gz = gzip.compress(body, compresslevel=6 if len(body) < _BIG else 1, mtime=0) if len(body) >= 1024 else None
    serial = data.get("last_serial")
    return Served(body, f'"{digest}"', serial if isinstance(serial, int) else None, stale, gz,
                  f'"{digest}-gz"' if gz is not None else None)


@dataclass(frozen=True, slots=True)
class _Memo:
    view: TierView
    revisions: tuple[str, str]
    served: Served


class JsonApiService:
    """Tier-filtered JSON API documents (see the module docstring)."""

    def __init__(self, upstream: UpstreamDocuments, simple_url: str, store: RecordStore, policy: CachePolicy,
                 pages: PageService, prepared: PreparedPages, cpu: CpuLane, *, limit: int = DOCUMENT_LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self._upstream = upstream
        self._simple_url = simple_url
        self._pages = pages
        self._prepared = prepared
        self._cpu = cpu
        self._limit = limit
        self._clock = clock
        self.documents: RevalidatingCache[JsonDocument] = RevalidatingCache(
            "json-api", self._fetch, store, self._decode, policy, clock)
        self._no_release_documents_until = 0.0
        self._memo: LRU[tuple[Tier, str, str | None, str], _Memo] = LRU(1024)

    async def close(self) -> None:
        await self.documents.close()

    # ------------------------------------------------------------------ upstream documents

    def _url(self, key: str) -> str | None:
        name, _, version = key.partition("/")
        url = json_api_url(self._simple_url, name)
        if url is None or not version:
            return url
        return url.removesuffix("/json") + f"/{version}/json"

    async def _fetch(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        url = self._url(key)
        if url is None:  # upstream is not an index with a JSON API next to its simple index
            return Gone()
        answer = await self._upstream.revalidate_document(url, etag, accept=_ACCEPT, limit=self._limit)
        return Gone() if answer is None else as_answer(answer)

    async def _decode(self, record: Record) -> JsonDocument:
        if len(record.body) < _INLINE_BYTES:
            return parse_document(record.body)
        return await self._cpu.run(parse_document, record.body)

    async def upstream_document(self, name: str) -> Entry[JsonDocument] | None:
        """Upstream's project document (cached, revalidated, stale on failure); None when upstream has none,
        or fails with nothing cached (logged)."""
        try:
            return await self.documents.get(name)
        except KeyGone:
            return None
        except (UpstreamError, ParseError) as exc:
            log.warning("JSON API of %s unavailable, nothing cached: %s", name, exc)
            return None

    async def _release_document(self, name: str, version: str) -> Entry[JsonDocument] | None:
        if self._clock() < self._no_release_documents_until:
            return None
        try:
            return await self.documents.get(f"{name}/{version}")
        except KeyGone:
            # Upstream lists the release (the tier serves it) but has no document for it: it has none at all.
            self._no_release_documents_until = self._clock() + _NO_RELEASE_DOCUMENTS
            log.info("upstream has no per-release JSON API documents: derived from the project's for an hour")
            return None
        except (UpstreamError, ParseError) as exc:
            log.warning("JSON API of %s %s unavailable, nothing cached: %s", name, version, exc)
            return None

    # ------------------------------------------------------------------ tier documents

    async def document(self, tier: Tier, name: str, version: str | None, origin: str) -> Served:
        """The tier's document of project ``name`` (normalized), or of one release; ``origin`` is this mirror's
        ``scheme://host`` as the client reached it. Raises ProjectNotFound when the tier does not serve the
        project (or that release), UpstreamError when upstream fails and nothing is cached."""
        view = await self._prepared.view(tier, name)
        if not view.project.admitted:
            raise ProjectNotFound(name, view.project.rule, view.project.change)
        releases = admitted_releases(view)
        wanted = latest_release(releases) if version is None else find_release(view, version)
        if wanted is None:
            what = "no release" if version is None else f"release {version}"
            raise ProjectNotFound(name, f"{what} of {name} is in tier '{tier.value}'")
        project = await self.upstream_document(name)
        release = None
        described = project.value.version if project is not None else None
        if described is None or (canonical_version(described) or described) != (canonical_version(wanted) or wanted):
            release = await self._release_document(name, wanted)
        revisions = (project.revision if project else "", release.revision if release else "")
        key = (tier, name, version, origin)
        memo = self._memo.get(key)
        page = self._prepared_stale(name)
        stale = page or any(e is not None and e.stale for e in (project, release))
        if memo is not None and memo.view is view and memo.revisions == revisions:
            served = memo.served
            return served if served.stale == stale else replace(served, stale=stale)
        links = _links(origin, tier, name)
        docs = (project.value if project else None, release.value if release else None)
        data = (project_document(view, *docs, links) if version is None
                else release_document(view, wanted, *docs, links))
        assert data is not None  # the release was found above
        if len(view.detail.files) > 200:
            served = await self._cpu.run(_served, data, stale)
        else:
            served = _served(data, stale)
        self._memo[key] = _Memo(view, revisions, served)
        return served

    def _prepared_stale(self, name: str) -> bool:
        entry = self._pages.projects.known(name)
        return entry is not None and entry.stale


def _links(origin: str, tier: Tier, name: str) -> Links:
    def file(f: DistFile) -> str:
        return f"{origin}/{tier.value}/files/{name}/{quote(f.filename, safe='')}"

    def release(version: str) -> str:
        return f"{origin}/ui/projects/{name}/{quote(version, safe='')}"

    return Links(file, f"{origin}/ui/projects/{name}", release)
