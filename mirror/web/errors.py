"""One policy for errors at the HTTP edge: every exception of the service layer becomes a status, once, here.

"Not here" is always 404 (uv aborts a whole resolution on 401/403/5xx); upstream failures with nothing cached are
502/504; an unusable store or database is 503 with Retry-After; nothing becomes a 500 traceback, and no body
echoes another host's URL, status, length or hash, nor a server path (details go to the log).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from mirror.core.errors import (
    DatabaseError,
    FetchRefused,
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
from mirror.web.access import refused
from mirror.web.responses import error_response
from mirror.web.state import SERVICES

log = logging.getLogger("mirror.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ProjectNotFound as exc:
        refused("not_found" if exc.reason == ProjectNotFound(exc.project).reason else "not_in_tier")
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
        refused("file_not_listed")
        tier = request.match_info.get("tier", "all")
        if tier in ("reviewed", "vetted"):
            services = request.app[SERVICES]
            # Only a file upstream lists is demand; any other name is a client's invention.
            filename = exc.filename.removesuffix(".metadata")
            page = services.pages.peek(exc.project)
            if page is not None and page.value.file_named(filename) is not None:
                services.demand.record(tier, exc.project, version_from_filename(filename), exists=True)
        return error_response(404, str(exc))
    except NotAcceptable as exc:
        refused("not_acceptable")
        return error_response(406, f"not acceptable: {exc}",
                              hint="serve types: application/vnd.pypi.simple.v1+json, "
                                   "application/vnd.pypi.simple.v1+html, text/html")
    except StorageError as exc:
        log.error("storage error for %s: %s", request.path, exc)
        # Details (paths, errno) go to the operator's log, not to clients.
        return _unavailable(request, "store_unavailable", "the mirror cannot use its file store right now; "
                                                           "try again later")
    except DatabaseError as exc:
        _log_database(request, exc)
        return _unavailable(request, "database_unavailable", "the mirror cannot use its database right now and "
                                                              "has no copy of this in memory; try again later")
    # What an upstream (or an internal host it pointed at) answered goes to the log only: a client learns
    # what failed, never another host's URL, status, length or hash.
    except IntegrityError as exc:
        refused("hash_mismatch")
        log.warning("refused for %s: %s", request.path, exc)
        return error_response(502, "download from upstream refused: the bytes do not match the hashes upstream "
                                   "advertised")
    except UpstreamTimeout as exc:
        log.warning("upstream timeout for %s: %s", request.path, exc)
        return error_response(504, f"{_what(request)} from upstream timed out and nothing is cached" + _why(exc))
    except UpstreamError as exc:
        if isinstance(exc, FetchRefused):
            refused("fetch_refused")
        log.warning("upstream failure for %s: %s", request.path, exc)
        return error_response(502, f"{_what(request)} from upstream failed and nothing is cached" + _why(exc))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:  # a bug: log it, but answer without leaking a traceback
        log.exception("unhandled error for %s %s", request.method, request.path)
        return error_response(500, "internal error (logged)")


def _unavailable(request: web.Request, reason: str, message: str) -> web.Response:
    """503 with Retry-After (``[cluster] retry_after``): installers (pip, uv) retry a 503 after a pause."""
    refused(reason)
    response = error_response(503, message)
    response.headers["Retry-After"] = str(request.app[SERVICES].config.cluster.retry_after)
    return response


class LogThrottle:
    """Whether a repeated log line is due: at most one per ``interval`` seconds (one per application)."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True


DATABASE_LOG: web.AppKey[LogThrottle] = web.AppKey("database_log", LogThrottle)


def _log_database(request: web.Request, exc: DatabaseError) -> None:
    """While the database is down every cold request fails the same way: one line every 10 s, not one each."""
    throttle = request.app.get(DATABASE_LOG)
    if throttle is None or throttle.due():
        log.error("database unavailable for %s (503 until it answers; logged every 10 s): %s", request.path, exc)


def _what(request: web.Request) -> str:
    return "download" if "/files/" in request.path else "page fetch"


def _why(exc: UpstreamError) -> str:
    return f": {exc.public}" if exc.public else ""


