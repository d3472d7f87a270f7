"""The JSON API tools expect (``/<tier>/pypi/<name>/json``, ``/<tier>/pypi/<name>/<version>/json``).

Upstream's JSON API documents come from the one cache of them (:mod:`mirror.services.json_documents`, shared
with the advisories): revalidated like pages, served stale when upstream fails, and when upstream has no JSON API
at all (or it fails with nothing cached) the document is built from the Simple API page alone and says so. What
a tier serves comes from :meth:`PreparedPages.view`, the decision the Simple API serves
(:mod:`mirror.core.jsonapi` builds the document from it). Upstream's per-release documents are used when
upstream has them.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import msgspec

from mirror.core.errors import ProjectNotFound
from mirror.core.jsonapi import (
    Links,
    admitted_releases,
    find_release,
    latest_release,
    project_document,
    release_document,
)
from mirror.core.lru import LRU
from mirror.core.models import DistFile, Tier
from mirror.core.policy.evaluate import canonical_version
from mirror.core.tiers import TierView
from mirror.services.cpu import CpuLane
from mirror.services.json_documents import JsonDocuments
from mirror.services.pages import PageService
from mirror.services.prepared import PreparedPages

log = logging.getLogger("mirror.jsonapi")

#: Documents at least this big are encoded in the CPU lane (and compressed fast).
_BIG = 128 * 1024


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

    def __init__(self, documents: JsonDocuments, pages: PageService, prepared: PreparedPages, cpu: CpuLane) -> None:
        self.documents = documents
        self._pages = pages
        self._prepared = prepared
        self._cpu = cpu
        self._memo: LRU[tuple[Tier, str, str | None, str], _Memo] = LRU(1024)

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
        project = await self.documents.project(name)
        release = None
        described = project.value.document.version if project is not None else None
        if described is None or (canonical_version(described) or described) != (canonical_version(wanted) or wanted):
            release = await self.documents.release(name, wanted)
        revisions = (project.revision if project else "", release.revision if release else "")
        key = (tier, name, version, origin)
        memo = self._memo.get(key)
        page = self._prepared_stale(name)
        stale = page or any(e is not None and e.stale for e in (project, release))
        if memo is not None and memo.view is view and memo.revisions == revisions:
            served = memo.served
            return served if served.stale == stale else replace(served, stale=stale)
        links = _links(origin, tier, name)
        docs = (project.value.document if project else None, release.value.document if release else None)
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
