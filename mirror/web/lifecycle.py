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
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters import trust_root
from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.advisories import AdvisoryStore
from mirror.adapters.db.audit import AuditLog, DemandLog
from mirror.adapters.db.leases import LeaseTable
from mirror.adapters.db.licenses import LicenseRecords
from mirror.adapters.db.sightings import SightingStore
from mirror.adapters.db.tables import json_api_documents, provenance_documents
from mirror.adapters.db.tokens import TokenStore
from mirror.adapters.metrics import Metrics
from mirror.adapters.stores import open_file_store
from mirror.adapters.upstream import Timeouts, UpstreamClient, open_upstream
from mirror.config import Config
from mirror.core.advisories import Advisory
from mirror.core.auth import RateLimiter
from mirror.core.models import Tier
from mirror.core.policy.evaluate import decide_project
from mirror.core.policy.evidence import needs_licenses, needs_vulnerabilities
from mirror.core.simple.render import make_environment
from mirror.core.targets import Target
from mirror.resources import templates_dir
from mirror.services import waivers
from mirror.services.admin import AdminActions
from mirror.services.advisories import AdvisoryService
from mirror.services.cache import CachePolicy
from mirror.services.closure import ClosureService
from mirror.services.cpu import CpuLane
from mirror.services.demand import DemandRecorder
from mirror.services.downloads import Downloader, DownloadLimits
from mirror.services.evidence import EvidenceService
from mirror.services.fetching import FileFetcher
from mirror.services.health import ObservedUpstream, UpstreamHealth
from mirror.services.holes import HoleCounter
from mirror.services.json_documents import JsonDocuments
from mirror.services.jsonapi import JsonApiService
from mirror.services.leases import Leases, LeaseSettings, new_owner
from mirror.services.licenses import LicenseReader
from mirror.services.malware import withdraw_malware
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import PageService
from mirror.services.policies import PolicySignal, PolicyStore
from mirror.services.prefetch import PREFETCH_FORMAT, Prefetcher, PrefetchLimits
from mirror.services.prepared import PreparedPages
from mirror.services.prepared_lists import ProjectLists
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.services.review.audit import POLICY_SIGNAL
from mirror.services.tokens import TokenService
from mirror.services.ui import UiService
from mirror.web.access import OBSERVING
from mirror.web.state import FILE_STORE, SERVICES, Services
from mirror.web.templating import ui_environment

log = logging.getLogger("mirror.web")

Context = Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]

ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine", AsyncEngine)
UPSTREAM: web.AppKey[UpstreamClient] = web.AppKey("upstream", UpstreamClient)
CPU: web.AppKey[CpuLane] = web.AppKey("cpu", CpuLane)
POLICIES: web.AppKey[PolicyStore] = web.AppKey("policies", PolicyStore)
PAGES: web.AppKey[PageService] = web.AppKey("pages", PageService)
LEASES: web.AppKey[Leases] = web.AppKey("leases", Leases)
HEALTH: web.AppKey[UpstreamHealth] = web.AppKey("upstream_health", UpstreamHealth)


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


def shared_leases(app: web.Application, config: Config) -> Leases | None:
    """The leases cold fetches are shared through, or None when no other process can use this database (SQLite
    with one worker): the in-process single flight then suffices, and a cold page waits for no lease written to
    the database (SQLite has one writer at a time: under an installer's burst those writes queue)."""
    alone = config.database_url.startswith("sqlite") and config.server.workers == 1
    return None if alone else app[LEASES]


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
        health = UpstreamHealth()  # recorded from the page fetches, for the home page
        wait = up.page_timeout + config.cluster.lease_ttl  # the leader's own deadline, and a lease period
        pages = PageService(ObservedUpstream(app[UPSTREAM], health), PageStore(app[ENGINE]),
                            CachePolicy(ttl=up.index_ttl, wait=wait),
                            CachePolicy(ttl=up.project_list_ttl, refresh_in_background=True, memory=4, wait=wait),
                            app[CPU], leases=shared_leases(app, config), telemetry=app[OBSERVING].metrics)
        app[PAGES] = pages
        app[HEALTH] = health
        try:
            yield
        finally:
            await pages.close()  # page fetches still running write to the database: let them finish first

    return ctx


def services_ctx(config: Config, clock: Callable[[], float] = time.time) -> Context:
    """Everything built on the resources above, and the background tasks (provenance checks, demand, advisories,
    waivers); ``clock`` is the time tier decisions are made at."""
    @contextlib.asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        up = config.upstream
        engine, storage, upstream, pages = app[ENGINE], app[FILE_STORE], app[UPSTREAM], app[PAGES]
        policies = app[POLICIES]
        metrics = app[OBSERVING].metrics
        store = PageStore(engine)
        provenance = ProvenanceCache(upstream, PageStore(engine, provenance_documents), ttl=up.index_ttl,
                                     leases=shared_leases(app, config), telemetry=metrics)
        checker = ProvenanceChecker(pages, provenance, policies, on_change=lambda _p: None,
                                    max_stale=up.provenance_max_stale)
        trust = await asyncio.to_thread(trust_root.status)  # reads and checks the pinned trust root once
        if not trust["ok"]:
            log.error("provenance cannot be verified, vetted files that require it are withheld: %s",
                      trust["problem"])
        sightings = SightingStore(engine)
        downloader = Downloader(storage, upstream, DownloadLimits(up.file_timeout, up.max_file_bytes),
                                leases=shared_leases(app, config), telemetry=metrics)
        extractor = MetadataExtractor(storage, store, lambda _p: None)

        async def withdraw(report: Advisory) -> None:  # a malware report's cached files: withdrawn again
            await withdraw_malware(report, sightings, store, storage)

        # Upstream's JSON API documents: one cache read by the advisories, the tiers' JSON API and the UI.
        documents = JsonDocuments(
            upstream, config.upstream_url, PageStore(engine, json_api_documents),
            CachePolicy(ttl=up.index_ttl, retry_after=60.0, not_found_ttl=max(up.index_ttl, 60.0)), app[CPU],
            leases=shared_leases(app, config), telemetry=metrics)
        advisories = AdvisoryService(AdvisoryStore(engine), documents, on_malware=withdraw)
        await advisories.start()
        licenses = LicenseReader(LicenseRecords(engine), store, storage, downloader, extractor.extract_verified,
                                 lambda _p: None)
        evidence = EvidenceService(sightings, store, storage.present, checker.statuses, advisories=advisories,
                                   licenses=licenses,
                                   needs_licenses=lambda name: needs_licenses(policies.current, name),
                                   needs_json_api=lambda: needs_vulnerabilities(policies.current), cpu=app[CPU])
        # Evidence that changes re-decides that project's views: a provenance status, extracted metadata, an
        # advisory, a licence read.
        checker.on_change = extractor.on_change = advisories.on_change = licenses.on_change = evidence.invalidate
        env: jinja2.Environment = make_environment(str(templates_dir()))
        prepared = PreparedPages(pages, evidence, env, policies, app[CPU], clock=clock)
        lists = ProjectLists(pages, env, policies, app[CPU], quarantine=evidence)
        demand_log = DemandLog(engine, config.demand.max_rows)
        demand = DemandRecorder(demand_log, pages.upstream_has)
        prefetcher = _prefetcher(config, policies, pages, prepared, metrics)
        jsonapi = JsonApiService(documents, pages, prepared, app[CPU])
        web = config.web
        # Dependency sets as this server serves them (the same service `mirror promote --with-deps` uses).
        closure = ClosureService(pages, evidence, FileFetcher(storage, downloader, extractor),
                                 lambda: policies.current, cpu=app[CPU])
        holes = HoleCounter(closure, lambda: policies.current,
                            tuple(Target.parse(t) for t in config.dependencies.targets),
                            delay=config.dependencies.holes_delay, interval=config.dependencies.holes_interval)
        app[SERVICES] = Services(config=config, storage=storage, prepared=prepared, lists=lists,
                                 downloader=downloader, extractor=extractor, pages=pages, policies=policies,
                                 demand=demand, provenance=provenance, provenance_checker=checker,
                                 evidence=evidence, closure=closure, prefetcher=prefetcher, advisories=advisories,
                                 jsonapi=jsonapi, json_documents=documents,
                                 tokens=TokenService(TokenStore(engine), session_hours=web.session_hours),
                                 admin=AdminActions(config, policies),
                                 ui=UiService(pages, prepared, policies, documents, checker, AuditLog(engine),
                                              demand_log, app[HEALTH], clock, quarantine=evidence, holes=holes),
                                 ui_templates=ui_environment(templates_dir(), config.policies.path),
                                 login_limit=RateLimiter(web.login_per_minute, time.monotonic),
                                 api_limit=RateLimiter(web.api_per_minute, time.monotonic),
                                 holes=holes, telemetry=metrics)
        if prefetcher is not None:
            prefetcher.start()
        try:
            # Provenance is verified here, in the background (and by `mirror vet`), never on a request.
            async with (_task(checker.run(), "provenance checker"), _task(demand.run(), "demand recorder"),
                        _task(advisories.watch(), "advisory change log"),
                        _task(waivers.watch(policies, lambda: datetime.fromtimestamp(clock(), UTC)), "waivers"),
                        _task(holes.run(), "hole counter")):
                yield
        finally:
            await lists.close()
            if prefetcher is not None:
                await prefetcher.close()
            await downloader.close()
            extractor.close()
            await licenses.close()
            await advisories.close()
            await documents.close()
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


def contexts(config: Config, clock: Callable[[], float] = time.time) -> list[Context]:
    """Every resource context, in the order they open."""
    return [store_ctx(config), database_ctx(config), upstream_ctx(config), cpu_ctx(config), policies_ctx(config),
            pages_ctx(config), services_ctx(config, clock)]
