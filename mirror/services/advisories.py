"""Advisories as evidence: what the database holds about a project (OSV imports, JSON API entries), upstream's
JSON API ``vulnerabilities`` fetched and cached, and the projects a malware report covers entirely.

- The JSON API document of a project (``/pypi/<project>/json`` next to the simple index) is one more
  :class:`~mirror.services.cache.RevalidatingCache` over its own table: stored, revalidated after the index TTL,
  stale on upstream failure, a 404 remembered. Its ``vulnerabilities`` describe the release the document
  describes (``info.version``, the latest); they are kept in the database per release, so what a document said
  about a release outlives the next release. The first time a project is seen the page waits a few seconds at
  most for its document; afterwards documents are revalidated in the background and a change re-decides the
  project's views.
- :meth:`AdvisoryService.watch` follows the database's change log: an import by ``mirror advisories import``
  (another process, another node) or any other change re-decides the projects it names within ``poll``
  seconds, vetted releases included; a malware report's cached files are withdrawn (again: the import already
  did it, the server closes the window of a download that finished meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from mirror.adapters.db.advisories import AdvisoryStore
from mirror.core.advisories import Advisory, AdvisoryError, affects_every_version, from_json_api
from mirror.core.errors import ParseError
from mirror.core.lru import LRU
from mirror.core.policy.evidence import Advisories
from mirror.services.cache import CachePolicy, Fresh, Gone, KeyGone, NotModified, Record, RecordStore, RevalidatingCache
from mirror.services.cpu import CpuLane
from mirror.services.review.evidence import json_api_url

log = logging.getLogger("mirror.advisories")

#: Largest JSON API document read (a project with thousands of releases runs to megabytes).
JSON_LIMIT = 64 * 1024 * 1024
#: Seconds a project's first page waits for its JSON API document before it is decided without it.
FIRST_WAIT = 5.0
#: Bodies at least this big are decoded in the CPU lane.
_INLINE_BYTES = 256 * 1024


class DocumentSource(Protocol):
    """What the cache needs of the upstream client: one guarded GET of a JSON document (None on 404)."""

    async def fetch_document(self, url: str, *, accept: str, limit: int) -> Any: ...


class _Info(msgspec.Struct):
    name: Any = None
    version: Any = None


class _Document(msgspec.Struct):
    """The only parts of a JSON API document read here (the rest, descriptions included, is skipped)."""

    info: _Info | None = None
    vulnerabilities: Any = None


@dataclass(frozen=True, slots=True)
class JsonApiAdvisories:
    """What one JSON API document says: the release it describes (None: no release) and its advisories."""

    version: str | None
    advisories: tuple[Advisory, ...]


def read_document(body: bytes) -> JsonApiAdvisories:
    """The advisories a JSON API document states; raises ParseError for a document that is not one."""
    try:
        doc = msgspec.json.decode(body, type=_Document)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ParseError("the JSON API answer is not a JSON API document", detail=str(exc)) from None
    if doc.info is None or doc.info.version is None:  # a project without releases
        return JsonApiAdvisories(None, ())
    try:
        found = from_json_api({"info": {"name": doc.info.name, "version": doc.info.version},
                               "vulnerabilities": doc.vulnerabilities})
    except AdvisoryError as exc:
        raise ParseError("the JSON API answer has a malformed vulnerabilities list", detail=str(exc)) from None
    return JsonApiAdvisories(str(doc.info.version), found)


class AdvisoryService:
    """Advisories per project (see the module docstring); ``on_change(project)`` re-decides a project."""

    def __init__(self, store: AdvisoryStore, documents: RecordStore, upstream: DocumentSource, upstream_url: str,
                 ttl: float, cpu: CpuLane, on_change: Callable[[str], None] = lambda _p: None,
                 on_malware: Callable[[Advisory], Awaitable[object]] | None = None,
                 clock: Callable[[], float] = time.time, capacity: int = 4096, poll: float = 2.0) -> None:
        self._store = store
        self._upstream = upstream
        self._upstream_url = upstream_url
        self._cpu = cpu
        self.on_change = on_change
        #: called with each malware report in force that names a changed project (to withdraw its files)
        self.on_malware = on_malware
        self._clock = clock
        self._poll = poll
        self._memory: LRU[str, Advisories] = LRU(capacity)
        self._synced: LRU[str, str] = LRU(capacity)  # project → JSON API revision stored in the database
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self.quarantined: frozenset[str] = frozenset()
        #: changes whenever ``quarantined`` does (project lists are prepared with it)
        self.revision = 0
        self.documents: RevalidatingCache[JsonApiAdvisories] = RevalidatingCache(
            "json-api", self._fetch, documents, self._decode,
            CachePolicy(ttl=ttl, retry_after=60.0, not_found_ttl=max(ttl, 60.0), memory=capacity), clock)

    async def start(self) -> None:
        """Read where the change log is, and the malware reports covering whole projects."""
        self._seq = await self._store.last_change()
        await self._load_malware()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.documents.close()

    async def for_project(self, project: str, *, json_api: bool = True) -> Advisories:
        """The advisories known about ``project``: with ``json_api``, its JSON API document is read first (waited
        for a few seconds the first time, revalidated in the background afterwards); never raises for upstream's
        failures."""
        if json_api:
            await self._document(project)
        known = self._memory.get(project)
        if known is None:
            try:
                known = Advisories(await self._store.for_project(project))
            except Exception:  # the database is unavailable: decide without advisories, and say so
                log.exception("cannot read advisories project=%s", project)
                return Advisories()
            self._memory[project] = known
        return known

    def forget(self, project: str) -> None:
        self._memory.pop(project, None)

    async def _document(self, project: str) -> None:
        if json_api_url(self._upstream_url, project) is None:
            return
        if self.documents.peek(project) is not None:
            return
        first = self.documents.known(project) is None
        task = self._spawn(self._refresh(project))
        if first:
            # The first time: wait a little (a project's page is decided with its advisories when upstream is
            # quick); a slow JSON API re-decides the project when its document arrives.
            await asyncio.wait([task], timeout=FIRST_WAIT)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _refresh(self, project: str) -> None:
        try:
            entry = await self.documents.get(project)
        except KeyGone:
            return
        except Exception as exc:  # upstream down and nothing stored: the OSV imports still count
            log.info("no JSON API document project=%s: %s", project, exc)
            return
        if self._synced.get(project) == entry.revision:
            return
        found = entry.value
        try:
            changed = found.version is not None and await self._store.sync_json_api(project, found.version,
                                                                                    found.advisories)
        except Exception:
            log.exception("cannot store JSON API advisories project=%s", project)
            return
        self._synced[project] = entry.revision
        if changed:
            log.info("JSON API advisories changed project=%s version=%s advisories=%s", project, found.version,
                     ",".join(a.id for a in found.advisories) or "none")
            self._changed(project)

    def _changed(self, project: str) -> None:
        self._memory.pop(project, None)
        self.on_change(project)

    async def _fetch(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        url = json_api_url(self._upstream_url, key)
        if url is None:
            return Gone()
        page = await self._upstream.fetch_document(url, accept="application/json", limit=JSON_LIMIT)
        if page is None:
            return Gone()
        return Fresh(page.body, "application/json", url, getattr(page, "etag", None), None, page.elapsed)

    async def _decode(self, record: Record) -> JsonApiAdvisories:
        if len(record.body) < _INLINE_BYTES:
            return read_document(record.body)
        return await self._cpu.run(read_document, record.body)

    # ------------------------------------------------------------------ the change log

    async def watch(self) -> None:
        """Follow the change log until cancelled (see the module docstring)."""
        pruned = 0.0
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.check_changes()
                if self._clock() - pruned > 3600:
                    await self._store.prune_changes()
                    pruned = self._clock()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following whatever happens
                log.exception("cannot read the advisory change log")

    async def check_changes(self) -> set[str]:
        """Re-decide the projects whose advisories changed since the last look; returns them."""
        seq, projects = await self._store.changes_since(self._seq)
        self._seq = seq
        if not projects:
            return projects
        log.info("advisories changed: re-deciding %d project(s): %s", len(projects), ", ".join(sorted(projects)[:20]))
        for project in projects:
            self._changed(project)
        await self._load_malware(projects)
        return projects

    async def _load_malware(self, changed: set[str] | None = None) -> None:
        """Track the projects malware covers entirely: all of them at start, then those that changed."""
        reports = await self._store.malware(changed)
        covered = {a.name for r in reports for a in r.affected if affects_every_version(r, a.name)}
        whole = frozenset(covered if changed is None else (self.quarantined - changed) | (covered & changed))
        if whole != self.quarantined:
            added, removed = sorted(whole - self.quarantined), sorted(self.quarantined - whole)
            log.warning("projects covered entirely by a malware report: %d (added: %s; removed: %s)", len(whole),
                        ", ".join(added[:20]) or "none", ", ".join(removed[:20]) or "none")
            self.quarantined = whole
            self.revision += 1
        if self.on_malware is not None and changed:
            for report in reports:
                if any(a.name in changed for a in report.affected):
                    await self.on_malware(report)
