"""Advisories as evidence: what the database holds about a project (OSV imports, JSON API entries), upstream's
JSON API ``vulnerabilities`` fetched and cached, and the projects a malware report covers entirely.

- The JSON API document of a project (``/pypi/<project>/json`` next to the simple index) comes from the one
  cache of upstream's JSON API documents (:class:`~mirror.services.json_documents.JsonDocuments`, shared with
  the tiers' JSON API and the UI): stored, revalidated after the index TTL, stale on upstream failure, a 404
  remembered, decoded once per revision. Its ``vulnerabilities`` describe the release the document describes
  (``info.version``, the latest); they are kept in the database per release, so what a document said about a
  release outlives the next release. The first time a project is seen the page waits a few seconds at most for
  its document; each new revision of a document, whoever fetched it, is stored here and a change re-decides the
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
from typing import Any

from mirror.adapters.db.advisories import AdvisoryStore
from mirror.core.advisories import Advisory, affects_every_version
from mirror.core.lru import LRU
from mirror.core.policy.evidence import Advisories
from mirror.services.cache import Entry
from mirror.services.json_documents import JsonDocuments, UpstreamDocument

log = logging.getLogger("mirror.advisories")

#: Seconds a project's first page waits for its JSON API document before it is decided without it.
FIRST_WAIT = 5.0
#: Seconds before the document is read when no page waits for it (its tier only warns): an installer's burst of
#: cold requests is not slowed by reading documents of 10 MB that nobody waits for.
LATER = 30.0
#: Projects whose documents may wait for :data:`LATER` at once (beyond it, they are read when next asked).
_LATER_MAX = 10_000


class AdvisoryService:
    """Advisories per project (see the module docstring); ``on_change(project)`` re-decides a project."""

    def __init__(self, store: AdvisoryStore, documents: JsonDocuments,
                 on_change: Callable[[str], None] = lambda _p: None,
                 on_malware: Callable[[Advisory], Awaitable[object]] | None = None,
                 clock: Callable[[], float] = time.time, capacity: int = 4096, poll: float = 2.0) -> None:
        self._store = store
        #: upstream's JSON API documents (the one cache of them); each new revision of one is stored here
        self.documents = documents
        self.on_change = on_change
        #: called with each malware report in force that names a changed project (to withdraw its files)
        self.on_malware = on_malware
        self._clock = clock
        self._poll = poll
        self._memory: LRU[str, Advisories] = LRU(capacity)
        self._synced: LRU[str, str] = LRU(capacity)  # project → JSON API revision stored in the database
        self._syncing: dict[str, tuple[str, asyncio.Task[None]]] = {}  # project → (revision, its storing)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._later: set[str] = set()  # projects whose document is read in LATER seconds
        self._seq = 0
        self.quarantined: frozenset[str] = frozenset()
        #: changes whenever ``quarantined`` does (project lists are prepared with it)
        self.revision = 0
        documents.subscribe(self._document_seen)

    async def start(self) -> None:
        """Read where the change log is, and the malware reports covering whole projects."""
        self._seq = await self._store.last_change()
        await self._load_malware()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def for_project(self, project: str, *, json_api: bool = True, wait: bool = True) -> Advisories:
        """The advisories known about ``project``: with ``json_api``, its JSON API document is read first (with
        ``wait``, waited for a few seconds the first time; else read :data:`LATER` seconds later, and the project
        is re-decided when it arrives; revalidated in the background afterwards); never raises for upstream's
        failures."""
        if json_api:
            await self._document(project, wait)
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

    async def _document(self, project: str, wait: bool) -> None:
        if not self.documents.available:
            return
        fresh = self.documents.peek(project)
        if fresh is not None:
            storing = self._store_revision(project, fresh)  # normally stored already (the listener saw it)
            if wait and storing is not None and self._synced.get(project) is None:
                await asyncio.wait([storing], timeout=FIRST_WAIT)
            return
        first = self.documents.known(project) is None and self._synced.get(project) is None
        if first and not wait:
            self._read_later(project)
            return
        task = self._spawn(self._refresh(project))
        if first and wait:
            # The first time: wait a little (a project's page is decided with its advisories when upstream is
            # quick); a slow JSON API re-decides the project when its document arrives.
            await asyncio.wait([task], timeout=FIRST_WAIT)

    def _read_later(self, project: str) -> None:
        """Read the project's document in :data:`LATER` seconds (once, however often it is asked meanwhile)."""
        if project in self._later or len(self._later) >= _LATER_MAX:
            return
        self._later.add(project)

        async def read() -> None:
            try:
                await asyncio.sleep(LATER)
            finally:
                self._later.discard(project)
            await self._refresh(project)

        self._spawn(read())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _refresh(self, project: str) -> None:
        """Read the project's document (revalidated when due) and wait until what it states is stored."""
        entry = await self.documents.project(project)  # a new revision reaches _document_seen first
        storing = self._store_revision(project, entry) if entry is not None else None
        if storing is not None:
            await asyncio.gather(storing, return_exceptions=True)

    def _document_seen(self, project: str, entry: Entry[UpstreamDocument]) -> None:
        """A new revision of ``project``'s document, read by anyone (the tiers' JSON API, the UI, this service)."""
        self._store_revision(project, entry)

    def _store_revision(self, project: str, entry: Entry[UpstreamDocument]) -> asyncio.Task[None] | None:
        """Store what ``entry`` states (once per revision; after the storing of an earlier revision); the task
        doing it, or None when it is stored already."""
        if self._synced.get(project) == entry.revision:
            return None
        running = self._syncing.get(project)
        if running is not None and running[0] == entry.revision:
            return running[1]
        task: asyncio.Task[None] = self._spawn(self._sync(project, entry, running[1] if running else None))
        self._syncing[project] = (entry.revision, task)

        def done(_t: asyncio.Task[None]) -> None:
            if self._syncing.get(project, (None, None))[1] is task:
                del self._syncing[project]

        task.add_done_callback(done)
        return task

    async def _sync(self, project: str, entry: Entry[UpstreamDocument], after: asyncio.Task[None] | None) -> None:
        if after is not None:  # an older revision's storing finishes first: never overwrite newer with older
            await asyncio.gather(after, return_exceptions=True)
        found = entry.value
        if found.problem is not None:  # states nothing: what the database holds stays
            log.warning("JSON API advisories of %s not read: %s", project, found.problem)
            self._synced[project] = entry.revision
            return
        version = found.document.version
        try:
            changed = version is not None and await self._store.sync_json_api(project, version, found.advisories)
        except Exception:
            log.exception("cannot store JSON API advisories project=%s", project)
            return
        self._synced[project] = entry.revision
        if changed:
            log.info("JSON API advisories changed project=%s version=%s advisories=%s", project, version,
                     ",".join(a.id for a in found.advisories) or "none")
            self._changed(project)

    def _changed(self, project: str) -> None:
        self._memory.pop(project, None)
        self.on_change(project)

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
