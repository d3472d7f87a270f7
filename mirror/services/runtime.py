"""The mirror's caches outside the server: what a command needs to read pages and files as the server does.

``mirror promote --with-deps`` and ``mirror prefetch`` read upstream through the very caches a running server
uses — project pages in the database (revalidated after ``index_ttl``), files in the store, each fetched once
and verified by hash, metadata extracted from verified wheels — so that what a command decides is what the
server serves, and what it downloads warms the server. :meth:`Runtime.open` opens them from a configuration,
:meth:`Runtime.close` closes them in reverse order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.sightings import SightingStore
from mirror.adapters.stores import open_file_store
from mirror.adapters.upstream import Timeouts, open_upstream
from mirror.config import Config
from mirror.core.policy.model import PolicySet
from mirror.services.cache import CachePolicy
from mirror.services.closure import ClosureService
from mirror.services.cpu import CpuLane
from mirror.services.downloads import Downloader, DownloadLimits
from mirror.services.evidence import EvidenceService
from mirror.services.fetching import FileFetcher
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import PageService


@dataclass(frozen=True, slots=True)
class Runtime:
    """Pages, evidence, files and the closure service on one configuration's database, store and upstream."""

    config: Config
    pages: PageService
    evidence: EvidenceService
    fetcher: FileFetcher
    closure: ClosureService

    @staticmethod
    @contextlib.asynccontextmanager
    async def open(config: Config, policies: Callable[[], PolicySet]) -> AsyncIterator[Runtime]:
        """Open the store, the database and the upstream client of ``config``; close them all on exit.
        ``policies`` gives the policies in force whenever the closure service asks.

        Raises StorageError (unusable store) or the database driver's error.
        """
        up = config.upstream
        async with contextlib.AsyncExitStack() as stack:
            store = open_file_store(config.storage, stale_after=max(2 * up.file_timeout, 3600.0))
            stack.push_async_callback(store.close)
            await store.prepare()
            engine = await open_database(config.database_settings)
            stack.push_async_callback(engine.dispose)
            upstream = open_upstream(config.upstream_url, Timeouts(up.connect_timeout, up.read_timeout,
                                                                   up.page_timeout), up.max_page_bytes, up.file_hosts)
            stack.push_async_callback(upstream.close)
            cpu = CpuLane()
            stack.callback(cpu.close)
            records = PageStore(engine)
            pages = PageService(upstream, records, CachePolicy(ttl=up.index_ttl),
                                CachePolicy(ttl=up.project_list_ttl, memory=4), cpu)
            stack.push_async_callback(pages.close)
            evidence = EvidenceService(SightingStore(engine), records, store.present, {})
            stack.push_async_callback(evidence.close)
            downloader = Downloader(store, upstream, DownloadLimits(up.file_timeout, up.max_file_bytes))
            stack.push_async_callback(downloader.close)
            extractor = MetadataExtractor(store, records, evidence.invalidate)
            stack.callback(extractor.close)
            fetcher = FileFetcher(store, downloader, extractor)
            closure = ClosureService(pages, evidence, fetcher, policies, cpu=cpu)
            yield Runtime(config, pages, evidence, fetcher, closure)
