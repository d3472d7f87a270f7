"""Upstream's JSON API documents (``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json`` next to the simple
index): one cache for everything that reads them.

The tiers' JSON API (:mod:`mirror.services.jsonapi`) describes its documents with them, the UI reads a
project's maintainers from them, and the advisories (:mod:`mirror.services.advisories`) read their
``vulnerabilities``. All of them read the same :class:`~mirror.services.cache.RevalidatingCache` over the
``json_api_documents`` table, so one cold request that needs a project's document for two reasons fetches it
once: bounded in size, stored, revalidated with upstream's ETag after the index TTL, served stale when upstream
fails, a 404 remembered. A document is decoded once per revision (off the event loop when big), into what the
JSON API describes and the advisories its ``vulnerabilities`` state; the listeners given to :meth:`subscribe`
hear of each new revision of a project's document whoever asked for it (the advisories are derived from it
then).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mirror.core.advisories import Advisory, AdvisoryError, from_json_api
from mirror.core.errors import ParseError, UpstreamError
from mirror.core.jsonapi import JsonDocument, document_of, read_json
from mirror.core.lru import LRU
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
from mirror.services.pages import as_answer
from mirror.services.review.evidence import json_api_url
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.json_documents")

#: Largest JSON API document accepted from upstream (a project with thousands of releases runs to megabytes).
DOCUMENT_LIMIT = 64 * 1024 * 1024
#: Documents smaller than this are decoded on the event loop.
_INLINE_BYTES = 256 * 1024
#: How long the mirror believes upstream has no per-release documents, once it answered 404 for a listed one.
_NO_RELEASE_DOCUMENTS = 3600.0
_ACCEPT = "application/json"


class UpstreamDocuments(Protocol):
    """What this service needs of :class:`mirror.adapters.upstream.UpstreamClient`."""

    async def revalidate_document(self, url: str, etag: str | None, *, accept: str, limit: int) -> object: ...


@dataclass(frozen=True, slots=True)
class UpstreamDocument:
    """One decoded JSON API document: what the tiers' JSON API describes with it, the advisories its
    ``vulnerabilities`` state about the release it describes (``document.version``; none without a release), and
    why they could not be read (``problem``: a malformed list, which states nothing)."""

    document: JsonDocument
    advisories: tuple[Advisory, ...] = ()
    problem: str | None = None


def decode_document(body: bytes) -> UpstreamDocument:
    """Upstream's JSON API answer, decoded once for every reader; raises ParseError when it is not such a
    document. A malformed ``vulnerabilities`` list does not make the document unusable: it is ``problem``."""
    data = read_json(body)
    document = document_of(data)
    if document.version is None:  # a project without releases: no release to state anything about
        return UpstreamDocument(document)
    info: dict[str, Any] = data["info"]
    try:
        found = from_json_api({"info": {"name": info.get("name"), "version": info.get("version")},
                               "vulnerabilities": data.get("vulnerabilities")})
    except AdvisoryError as exc:
        return UpstreamDocument(document, (), f"the JSON API answer has a malformed vulnerabilities list: {exc}")
    return UpstreamDocument(document, found)


#: ``listener(project, entry)``: a new revision of a project's document (called on the event loop; must not block).
Listener = Callable[[str, Entry[UpstreamDocument]], None]


class JsonDocuments:
    """Upstream's JSON API documents, keyed ``name`` (a project's) and ``name/version`` (a release's), names
    normalized (see the module docstring)."""

    def __init__(self, upstream: UpstreamDocuments, simple_url: str, store: RecordStore, policy: CachePolicy,
                 cpu: CpuLane, *, limit: int = DOCUMENT_LIMIT, clock: Callable[[], float] = time.time,
                 leases: Leases | None = None, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._upstream = upstream
        self._simple_url = simple_url
        self._cpu = cpu
        self._limit = limit
        self._clock = clock
        self.cache: RevalidatingCache[UpstreamDocument] = RevalidatingCache(
            "json-api", self._fetch, store, self._decode, policy, clock, leases=leases, telemetry=telemetry)
        self._listeners: list[Listener] = []
        self._announced: LRU[str, str] = LRU(policy.memory)  # project → the revision listeners last heard of
        self._no_release_documents_until = 0.0

    @property
    def available(self) -> bool:
        """Whether upstream is an index with a JSON API next to its simple index."""
        return json_api_url(self._simple_url, "x") is not None

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with each new revision of a project's document (not a release's)."""
        self._listeners.append(listener)

    def peek(self, name: str) -> Entry[UpstreamDocument] | None:
        """The project's document if it is in memory and fresh (no I/O), else None."""
        return self.cache.peek(name)

    def known(self, name: str) -> Entry[UpstreamDocument] | None:
        """The project's document if it is in memory, whatever its age (no I/O), else None."""
        return self.cache.known(name)

    def forget(self, name: str) -> None:
        """Drop the project's document from memory (the next read revalidates it against the stored record)."""
        self.cache.forget(name)

    async def close(self) -> None:
        await self.cache.close()

    async def project(self, name: str) -> Entry[UpstreamDocument] | None:
        """Upstream's document of project ``name``: cached, revalidated, stale on failure; None when upstream
        has none, or fails with nothing cached (logged). Never raises for upstream's failures."""
        try:
            entry = await self.cache.get(name)
        except KeyGone:
            return None
        except (UpstreamError, ParseError) as exc:
            log.warning("JSON API of %s unavailable, nothing cached: %s", name, exc)
            return None
        if self._announced.get(name) != entry.revision:
            self._announced[name] = entry.revision
            for listener in self._listeners:
                try:
                    listener(name, entry)
                except Exception:  # one reader's failure must not fail the request that fetched the document
                    log.exception("JSON API document listener failed project=%s", name)
        return entry

    async def release(self, name: str, version: str) -> Entry[UpstreamDocument] | None:
        """Upstream's document of one release upstream lists; None when upstream has none or fails with nothing
        cached. An upstream that answers 404 for a listed release has no per-release documents at all: that is
        remembered for an hour, so that no request waits for such a 404 again."""
        if self._clock() < self._no_release_documents_until:
            return None
        try:
            return await self.cache.get(f"{name}/{version}")
        except KeyGone:
            self._no_release_documents_until = self._clock() + _NO_RELEASE_DOCUMENTS
            log.info("upstream has no per-release JSON API documents: derived from the project's for an hour")
            return None
        except (UpstreamError, ParseError) as exc:
            log.warning("JSON API of %s %s unavailable, nothing cached: %s", name, version, exc)
            return None

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

    async def _decode(self, record: Record) -> UpstreamDocument:
        if len(record.body) < _INLINE_BYTES:
            return decode_document(record.body)
        return await self._cpu.run(decode_document, record.body)
