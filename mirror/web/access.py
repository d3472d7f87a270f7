"""What operators see of each request: the access log (one line per request) and the request metrics, both written
once the response has been sent (aiohttp's access-logger hook), and the log format of every record.

A request's line says: who asked, the method and path (as sent, escaped, at most :data:`MAX_PATH` characters),
the status, the body bytes sent, the duration, the tier, the kind of resource, and the cache result the services
noted (hit, miss, revalidated, stale; "-" when no cache was involved). ``[server] log_format = "json"`` writes
every log record, access lines included, as one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from mirror.adapters.metrics import Metrics
from mirror.config import ServerConfig
from mirror.services.telemetry import REQUEST_NOTE, RequestNote

ACCESS_LOGGER = "mirror.access"
#: Longest path written to the access log (a client chooses it).
MAX_PATH = 2048
TIERS = frozenset(("all", "reviewed", "vetted"))
#: Route pattern → kind of resource (the ``kind`` label: a fixed set, whatever the path).
_KINDS = {
    "/{tier}/simple/": "index",
    "/{tier}/simple/{project}/": "page",
    "/{tier}/simple": "redirect",
    "/{tier}/simple/{project}": "redirect",
    "/{tier}/files/{project}/{filename}": "file",
    "/{tier}/integrity/{project}/{version}/{filename}/provenance": "provenance",
    "/explain/{project}": "explain",
    "/explain/{project}/{version}": "explain",
    "/healthz": "health",
    "/readyz": "health",
    "/metrics": "metrics",
    "/": "home",
}


@dataclass(frozen=True, slots=True)
class Observing:
    """What the access logger needs of the application: the metrics, and whether to write lines."""

    metrics: Metrics
    access_log: bool


OBSERVING: web.AppKey[Observing] = web.AppKey("observing", Observing)
NOTE: web.RequestKey[RequestNote] = web.RequestKey("request_note", RequestNote)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def note_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request a :class:`RequestNote` the services fill in (through a context variable)."""
    note = RequestNote()
    request[NOTE] = note
    token = REQUEST_NOTE.set(note)
    try:
        return await handler(request)
    finally:
        REQUEST_NOTE.reset(token)


def refused(reason: str) -> None:
    """Note that the request being handled was refused for ``reason`` (counted by ``mirror_refusals_total``)."""
    note = REQUEST_NOTE.get()
    if note is not None:
        note.refusal = reason


def _match_info(request: BaseRequest) -> web.UrlMappingMatchInfo | None:
    """The request's route match; None for a request the HTTP parser refused (it never reached the router)."""
    try:
        return request.match_info  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        return None


def kind_of(request: BaseRequest) -> str:
    """The kind of resource a request asked for (a fixed set: "none" when no route matched)."""
    info = _match_info(request)
    resource = info.route.resource if info is not None else None
    if resource is None:
        return "none"
    kind = _KINDS.get(resource.canonical, "other")
    if kind == "file" and info is not None and info.get("filename", "").endswith(".metadata"):
        return "metadata"
    return kind


def tier_label(request: BaseRequest) -> str:
    info = _match_info(request)
    tier = info.get("tier", "") if info is not None else ""
    return tier if tier in TIERS else "-"


def body_bytes(request: BaseRequest, response: web.StreamResponse) -> int:
    """The body bytes sent: for a file sent with sendfile (which aiohttp's count misses), its length; otherwise
    aiohttp's count of everything written (``body_length``) less the status line and headers."""
    if isinstance(response, web.FileResponse):
        sent = response.content_length if request.method != "HEAD" and response.status in (200, 206) else 0
        return sent or 0
    version = request.version
    head = f"HTTP/{version.major}.{version.minor} {response.status} {response.reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in response.headers.items()) + "\r\n"
    return max(0, response.body_length - len(head.encode("utf-8")))


class AccessLogger(AbstractAccessLogger):
    """Counts every answered request and writes its access-log line (aiohttp calls :meth:`log` once the response
    is sent, or the client went away), requests the HTTP parser refused included. :func:`runner_options` binds
    it to an application's :class:`Observing`."""

    observing: Observing

    @property
    def enabled(self) -> bool:
        return True  # the metrics are counted here even when the access log is off

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        observing = self.observing
        note = request.get(NOTE)
        cache = note.cache if isinstance(note, RequestNote) and note.cache else "-"
        refusal = note.refusal if isinstance(note, RequestNote) else ""
        kind, tier = kind_of(request), tier_label(request)
        sent = body_bytes(request, response)
        observing.metrics.request(tier, kind, response.status, sent, time)
        if refusal:
            observing.metrics.refusal(refusal)
        if not observing.access_log:
            return
        path = request.raw_path
        if len(path) > MAX_PATH:
            path = path[:MAX_PATH] + "..."
        fields = {"remote": request.remote or "-", "method": request.method, "path": path,
                  "status": response.status, "bytes": sent, "duration_ms": round(time * 1000, 2), "tier": tier,
                  "kind": kind, "cache": cache}
        shown = json.dumps(path)[1:-1]  # escaped: quotes, control characters and non-ASCII never reach the line
        self.logger.info('%s "%s %s" %d %d %.1fms tier=%s kind=%s cache=%s', fields["remote"], request.method,
                         shown, response.status, sent, time * 1000, tier, kind, cache, extra={"access": fields})


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object: time, level, logger, message (and an access line's fields)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name}
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            data.update(access)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(server: ServerConfig) -> None:
    """Log records go to stderr in ``server.log_format``, at ``server.log_level``; access lines (``mirror.access``)
    at INFO whatever the level, when ``server.access_log`` is on."""
    handler = logging.StreamHandler(sys.stderr)
    if server.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(server.log_level.upper())
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO if server.access_log else logging.WARNING)


def runner_options(app: web.Application) -> dict[str, object]:
    """The AppRunner options that count ``app``'s requests and write its access log (used by ``mirror serve``)."""
    bound = type("BoundAccessLogger", (AccessLogger,), {"observing": app[OBSERVING]})
    return {"access_log_class": bound, "access_log": logging.getLogger(ACCESS_LOGGER)}
