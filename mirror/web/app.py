"""``create_app(config)``: the aiohttp application and the resources it owns.

Nothing happens at import time. The HTTP session, database engine and downloads are opened by a
``cleanup_ctx`` when the app starts and closed when it stops. Exceptions of the service layer are
mapped to status codes in one middleware: "not here" is always 404 (uv aborts a whole resolution on
401/403/5xx), upstream failures with nothing cached are 502/504, and nothing becomes a 500 traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from mirror.adapters import trust_root
from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.audit import DemandLog
from mirror.adapters.stores import open_file_store
from mirror.adapters.upstream import Timeouts, open_upstream
from mirror.config import Config
from mirror.core.errors import (
    FileNotListed,
    IntegrityError,
    NotAcceptable,
    ProjectNotFound,
    StorageError,
    UpstreamError,
    UpstreamTimeout,
)
from mirror.core.models import version_from_filename
from mirror.core.policy.paths import relative_paths
from mirror.core.simple.render import make_environment
from mirror.resources import templates_dir
from mirror.services.demand import DemandRecorder
from mirror.services.downloads import Downloader, DownloadLimits
from mirror.services.metadata import MetadataExtractor
from mirror.services.pages import Freshness, PageCache
from mirror.services.policies import PolicyStore
from mirror.services.prepared import PreparedPages
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.web import explain, files, integrity, simple
from mirror.web.cors import enable_cors
from mirror.web.responses import error_response
from mirror.web.state import FILE_STORE, SERVICES, Services

log = logging.getLogger("mirror.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ProjectNotFound as exc:
        tier = request.match_info.get("tier", "all")
        if tier in ("reviewed", "vetted"):
            request.app[SERVICES].demand.record(tier, exc.project)
        hint = None
        if exc.remedy:
            config = request.app[SERVICES].config
            details = f"  (or GET /explain/{exc.project})" if config.server.explain == "public" else ""
            hint = (f"A reviewer can add it with: {relative_paths(exc.remedy, str(config.policies.path))}\n"
                    f"Details: mirror explain {exc.project}{details}")
        return error_response(404, f"project {exc.project!r} is not available in tier '{tier}': {exc.reason}",
                              hint=hint)
    except FileNotListed as exc:
        tier = request.match_info.get("tier", "all")
        if tier in ("reviewed", "vetted"):
            services = request.app[SERVICES]
            # Only a file upstream lists is demand; any other name is a client's invention.
            filename = exc.filename.removesuffix(".metadata")
            page = services.pages.peek(exc.project)
            if page is not None and page.model.file_named(filename) is not None:
                services.demand.record(tier, exc.project, version_from_filename(filename), exists=True)
        return error_response(404, str(exc))
    except NotAcceptable as exc:
        return error_response(406, f"not acceptable: {exc}",
                              hint="serve types: application/vnd.pypi.simple.v1+json, "
                                   "application/vnd.pypi.simple.v1+html, text/html")
    except StorageError as exc:
        log.error("storage error for %s: %s", request.path, exc)
        # Details (paths, errno) go to the operator's log, not to clients.
        return error_response(503, "the mirror cannot use its file cache right now; try again later")
    # What an upstream (or an internal host it pointed at) answered goes to the log only: a client learns
    # what failed, never another host's URL, status, length or hash.
    except IntegrityError as exc:
        log.warning("refused for %s: %s", request.path, exc)
        return error_response(502, "download from upstream refused: the bytes do not match the hashes upstream "
                                   "advertised")
    except UpstreamTimeout as exc:
        log.warning("upstream timeout for %s: %s", request.path, exc)
        return error_response(504, f"{_what(request)} from upstream timed out and nothing is cached" + _why(exc))
    except UpstreamError as exc:
        log.warning("upstream failure for %s: %s", request.path, exc)
        return error_response(502, f"{_what(request)} from upstream failed and nothing is cached" + _why(exc))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:  # a bug: log it, but answer without leaking a traceback
        log.exception("unhandled error for %s %s", request.method, request.path)
        return error_response(500, "internal error (logged)")


def _what(request: web.Request) -> str:
    return "download" if "/files/" in request.path else "page fetch"


def _why(exc: UpstreamError) -> str:
    return f": {exc.public}" if exc.public else ""


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def healthz(request: web.Request) -> web.Response:
    """Liveness, the policy state and the provenance checker's state.

    ``policy``: the version served and the last reload error while it is not fixed (paths relative to the
    policy directory). Always 200 while the server serves: with a broken policy edit it still serves the last
    good policy (``status`` "degraded"), and a restart would refuse to start, so a health check must not
    restart it. ``status`` is also "degraded" when provenance cannot be verified (the pinned trust root).
    """
    services = request.app[SERVICES]
    provenance = services.provenance_checker.health()
    trust = provenance["trust_root"]
    state = services.policies.state
    error = None
    if state.error is not None:
        error = relative_paths(str(state.error), str(services.config.policies.path))
    ok = error is None and isinstance(trust, dict) and trust.get("ok")
    return web.json_response({
        "status": "ok" if ok else "degraded",
        "policy": {"version": state.version, "loaded_at": _iso(state.loaded_at),
                   "last_reload_error": error, "last_reload_error_at": _iso(state.error_at)},
        "provenance": provenance,
    }, headers={"Cache-Control": "no-store"})


async def home(request: web.Request) -> web.Response:
    lines = ["mirror: index URLs of this server (point pip --index-url or uv at one)"]
    base = f"{request.scheme}://{request.host}"
    lines += [f"  {tier:9s} {base}/{tier}/simple/" for tier in ("all", "reviewed", "vetted")]
    return web.Response(text="\n".join(lines) + "\n")


def upstream_has(pages: PageCache) -> Callable[[str], Awaitable[bool | None]]:
    """Whether upstream has a project, through the page cache (a cached page or 404 costs no request)."""
    async def exists(project: str) -> bool | None:
        try:
            await pages.project(project)
        except ProjectNotFound:
            return False
        except UpstreamError:
            return None
        return True

    return exists


def _store_ctx(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    """The file store named in ``[storage]``, open for the app's lifetime (its own context, so a failure of
    a later start-up step still closes it)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # A temp file older than any download may last (file_timeout, storing included) is dead whoever wrote it.
        store = open_file_store(config.storage, stale_after=max(2 * config.upstream.file_timeout, 3600.0))
        try:
            removed = await store.prepare()  # StorageError stops start-up: the store is unusable
            if removed:
                log.info("removed %d partial downloads left by a previous run", removed)
            app[FILE_STORE] = store
            yield
        finally:
            await store.close()

    return ctx


def _services_ctx(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        storage = app[FILE_STORE]
        engine = await open_database(config.database_url)
        up = config.upstream
        # Two connection pools (pages, files), every connection checked against the SSRF rules.
        upstream = open_upstream(config.upstream_url, Timeouts(up.connect_timeout, up.read_timeout, up.page_timeout),
                                 up.max_page_bytes, up.file_hosts)
        store = PageStore(engine)
        pages = PageCache(upstream, store, Freshness(ttl=up.index_ttl), Freshness(ttl=up.project_list_ttl))
        env = make_environment(str(templates_dir()))
        downloader = Downloader(storage, upstream, DownloadLimits(up.file_timeout, up.max_file_bytes))
        policies = PolicyStore(config.policies.path)
        await asyncio.to_thread(policies.start)  # PolicyError stops start-up: never serve a broken policy
        watcher = asyncio.ensure_future(policies.watch())
        provenance = ProvenanceCache(upstream, store, ttl=up.index_ttl)
        checker = ProvenanceChecker(pages, provenance, policies, on_change=lambda _p: None,
                                    max_stale=up.provenance_max_stale)
        trust = await asyncio.to_thread(trust_root.status)  # reads and checks the pinned trust root once
        if not trust["ok"]:
            log.error("provenance cannot be verified, vetted files that require it are withheld: %s",
                      trust["problem"])
        prepared = PreparedPages(pages, store, env, policies, provenance=checker.statuses, storage=storage)
        checker.on_change = prepared.invalidate_local  # a status change re-renders that project's views
        demand = DemandRecorder(DemandLog(engine, config.demand.max_rows), upstream_has(pages))
        demand_task = asyncio.ensure_future(demand.run())
        # Provenance is verified here, in the background (and by `mirror vet`), never on a request.
        checker_task = asyncio.ensure_future(checker.run())
        app[SERVICES] = Services(config=config, storage=storage, prepared=prepared, downloader=downloader,
                                 extractor=MetadataExtractor(storage, store, prepared.invalidate_local),
                                 pages=pages, policies=policies, demand=demand, provenance=provenance,
                                 provenance_checker=checker)
        try:
            yield
        finally:
            watcher.cancel()
            checker_task.cancel()
            demand_task.cancel()
            await asyncio.gather(demand_task, checker_task, return_exceptions=True)
            await pages.close()  # page fetches still running write to the database: let them finish first
            await downloader.close()
            await upstream.close()
            await engine.dispose()

    return ctx


def create_app(config: Config) -> web.Application:
    """Build the application for ``config``; resources open on startup and close on cleanup."""
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app.cleanup_ctx.append(_store_ctx(config))
    app.cleanup_ctx.append(_services_ctx(config))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", home)
    simple.add_routes(app)
    files.add_routes(app)
    integrity.add_routes(app)
    explain.add_routes(app, config.server.explain)
    enable_cors(app, config.server.cors_origins)
    return app
