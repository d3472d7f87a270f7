"""The resources of a running server, each opened and closed by its own ``cleanup_ctx``.

Contexts run in order at start-up and in reverse at shutdown, so a failure at any step (an unusable store, a
database that cannot be opened, a broken policy) closes exactly what was already opened, and every background
task is awaited. Each resource is stored under its own typed ``web.AppKey``; the last context assembles the
:class:`~mirror.web.state.Services` the handlers use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters import trust_root
from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.audit import DemandLog
from mirror.adapters.db.leases import LeaseTable
from mirror.adapters.db.sightings import SightingStore
from mirror.adapters.db.tables import provenance_documents
from mirror.adapters.metrics import Metrics
from mirror.adapters.stores import open_file_store
from mirror.adapters.upstream import Timeouts, UpstreamClient, open_upstream
from mirror.config import Config
from mirror.core.models import Tier
from mirror.core.policy.evaluate import decide_project
from mirror.core.simple.render import make_environment
from mirror.resources import templates_dir
from mirror.services.cache import CachePolicy
from mirror.services.cpu import CpuLane
from mirror.services.demand import DemandRecorder
from mirror.services.downloads import Downloader, DownloadLimits
from mirror.services.evidence import EvidenceService
from mirror.services.leases import Leases, LeaseSettings, new_owner
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import PageService, upstream_has
from mirror.services.policies import PolicySignal, PolicyStore
from mirror.services.prefetch import PREFETCH_FORMAT, Prefetcher, PrefetchLimits
from mirror.services.prepared import PreparedPages
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.services.review.audit import POLICY_SIGNAL
from mirror.web.access import OBSERVING
from mirror.web.state import FILE_STORE, SERVICES, Services

log = logging.getLogger("mirror.web")

Context = Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]

ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine", AsyncEngine)
UPSTREAM: web.AppKey[UpstreamClient] = web.AppKey("upstream", UpstreamClient)
CPU: web.AppKey[CpuLane] = web.AppKey("cpu", CpuLane)
POLICIES: web.AppKey[PolicyStore] = web.AppKey("policies", PolicyStore)
PAGES: web.AppKey[PageService] = web.AppKey("pages", PageService)
LEASES: web.AppKey[Leases] = web.AppKey("leases", Leases)


@contextlib.asynccontextmanager
async def _task(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run ``coro`` as a background task for the duration of the block; cancel and await it at the end."""
    task = asyncio.ensure_future(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:  # a background task's failure is logged, never raised into shutdown
                log.exception("background task %s failed", name)


def temp_file_ttl(config: Config) -> float:
    """Seconds after which a temp file is dead whoever wrote it: older than any download may last (file_timeout,
    storing included)."""
    return max(2 * config.upstream.file_timeout, 3600.0)


def store_ctx(config: Config) -> Context:
    """The file store named in ``[storage]`` (a StorageError stops start-up: the store is unusable)."""
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = open_file_store(config.storage, stale_after=temp_file_ttl(config))
        try:
            removed = await store.prepare()
            if removed:
                log.info("removed %d partial downloads left by a previous run", removed)
            app[FILE_STORE] = store
            yield
        finally:
            await store.close()

    return ctx


def database_ctx(config: Config) -> Context:
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # An empty database is created at the current schema; an older one is upgraded only with [database]
        # auto_upgrade (`mirror serve` has refused to start on it before this point otherwise).
        engine = await open_database(config.database_settings)
        cluster = config.cluster
        # Cold fetches are leased in the database, so that processes and nodes sharing it fetch each key once.
        leases = Leases(LeaseTable(engine), new_owner(config.node_name),
                        LeaseSettings(ttl=cluster.lease_ttl, poll=cluster.lease_poll), app[OBSERVING].metrics)
        try:
            app[ENGINE] = engine
            app[LEASES] = leases
            yield
        finally:
            await leases.close()
            await engine.dispose()

    return ctx


def upstream_ctx(config: Config) -> Context:
    """The upstream client: two connection pools (pages, files), every connection checked against the SSRF rules."""
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        up = config.upstream
        upstream = open_upstream(config.upstream_url, Timeouts(up.connect_timeout, up.read_timeout, up.page_timeout),
                                 up.max_page_bytes, up.file_hosts)
        try:
            app[UPSTREAM] = upstream
            yield
        finally:
            await upstream.close()

    return ctx


def cpu_ctx(config: Config) -> Context:
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        cpu = CpuLane()
        try:
            app[CPU] = cpu
            yield
        finally:
            cpu.close()

    return ctx


def policies_ctx(config: Config) -> Context:
    """The policies in force, and their watcher (a PolicyError stops start-up: never serve a broken policy)."""
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        table = LeaseTable(app[ENGINE])

        async def signal() -> PolicySignal | None:
            found = await table.get_value(POLICY_SIGNAL)
            return PolicySignal.decode(*found) if found is not None else None

        policies = PolicyStore(config.policies.path, config.policies.reload_interval, signal=signal,
                               telemetry=app[OBSERVING].metrics)
        await asyncio.to_thread(policies.start)
        await policies.signalled()  # the signal as it is now: only a later one makes this node re-read
        app[POLICIES] = policies
        async with _task(policies.watch(), "policy watcher"):
            yield

    return ctx


def pages_ctx(config: Config) -> Context:
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        up = config.upstream
        wait = up.page_timeout + config.cluster.lease_ttl  # the leader's own deadline, and a lease period
        pages = PageService(app[UPSTREAM], PageStore(app[ENGINE]), CachePolicy(ttl=up.index_ttl, wait=wait),
                            CachePolicy(ttl=up.project_list_ttl, refresh_in_background=True, memory=4, wait=wait),
                            app[CPU], leases=app[LEASES], telemetry=app[OBSERVING].metrics)
        app[PAGES] = pages
        try:
            yield
        finally:
            await pages.close()  # page fetches still running write to the database: let them finish first

    return ctx


def services_ctx(config: Config) -> Context:
    """Everything built on the resources above, and the background tasks (provenance checks, demand)."""
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        up = config.upstream
        engine, storage, upstream, pages = app[ENGINE], app[FILE_STORE], app[UPSTREAM], app[PAGES]
        policies = app[POLICIES]
        metrics = app[OBSERVING].metrics
        store = PageStore(engine)
        provenance = ProvenanceCache(upstream, PageStore(engine, provenance_documents), ttl=up.index_ttl,
                                     leases=app[LEASES], telemetry=metrics)
        checker = ProvenanceChecker(pages, provenance, policies, on_change=lambda _p: None,
                                    max_stale=up.provenance_max_stale)
        trust = await asyncio.to_thread(trust_root.status)  # reads and checks the pinned trust root once
        if not trust["ok"]:
            log.error("provenance cannot be verified, vetted files that require it are withheld: %s",
                      trust["problem"])
        evidence = EvidenceService(SightingStore(engine), store, storage.present, checker.statuses)
        checker.on_change = evidence.invalidate  # a status change re-decides that project's views
        env: jinja2.Environment = make_environment(str(templates_dir()))
        prepared = PreparedPages(pages, evidence, env, policies, app[CPU])
        downloader = Downloader(storage, upstream, DownloadLimits(up.file_timeout, up.max_file_bytes),
                                leases=app[LEASES], telemetry=metrics)
        demand = DemandRecorder(DemandLog(engine, config.demand.max_rows), lambda name: upstream_has(pages, name))
        prefetcher = _prefetcher(config, policies, pages, prepared, metrics)
        app[SERVICES] = Services(config=config, storage=storage, prepared=prepared, downloader=downloader,
                                 extractor=MetadataExtractor(storage, store, evidence.invalidate),
                                 pages=pages, policies=policies, demand=demand, provenance=provenance,
                                 provenance_checker=checker, evidence=evidence, prefetcher=prefetcher,
                                 telemetry=metrics)
        if prefetcher is not None:
            prefetcher.start()
        try:
            # Provenance is verified here, in the background (and by `mirror vet`), never on a request.
            async with _task(checker.run(), "provenance checker"), _task(demand.run(), "demand recorder"):
                yield
        finally:
            if prefetcher is not None:
                await prefetcher.close()
            await downloader.close()
            await provenance.close()
            await evidence.close()

    return ctx


def _prefetcher(config: Config, policies: PolicyStore, pages: PageService, prepared: PreparedPages,
                metrics: Metrics) -> Prefetcher | None:
    """Pages fetched ahead of installers (None when ``prefetch_concurrency`` is 0)."""
    concurrency = config.upstream.prefetch_concurrency
    if concurrency <= 0:
        return None

    def listed(tier: Tier, name: str) -> bool:
        return decide_project(tier, name, policies.current).admitted

    async def prepare(tier: Tier, name: str) -> None:
        await prepared.project(tier, name, PREFETCH_FORMAT)

    return Prefetcher(listed, lambda name: pages.peek(name) is not None, prepare,
                      PrefetchLimits(concurrency=concurrency), telemetry=metrics)


def contexts(config: Config) -> list[Context]:
    """Every resource context, in the order they open."""
    return [store_ctx(config), database_ctx(config), upstream_ctx(config), cpu_ctx(config),
            policies_ctx(config), pages_ctx(config), services_ctx(config)]
