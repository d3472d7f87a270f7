"""``create_app(config)``: the aiohttp application.

Nothing happens at import time. Every resource (file store, database, upstream client, CPU lane, policies, page
cache, services) is opened by its own ``cleanup_ctx`` (:mod:`mirror.web.lifecycle`) when the app starts and closed
when it stops; errors are mapped to statuses in one middleware (:mod:`mirror.web.errors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from mirror.adapters.metrics import Metrics
from mirror.config import Config
from mirror.core.policy.paths import relative_paths
from mirror.web import api, explain, files, health, integrity, jsonapi, simple, ui
from mirror.web.access import OBSERVING, Observing, note_middleware
from mirror.web.cors import enable_cors
from mirror.web.errors import DATABASE_LOG, LogThrottle, error_middleware
from mirror.web.lifecycle import contexts
from mirror.web.state import SERVICES


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
    signal = state.signal
    return web.json_response({
        "status": "ok" if ok else "degraded",
        "node": services.config.node_name,
        "policy": {"version": state.version, "loaded_at": _iso(state.loaded_at),
                   "last_reload_error": error, "last_reload_error_at": _iso(state.error_at),
                   # The last change a reviewer command signalled through the database (on any node).
                   "last_signal": None if signal is None else {
                       "version": signal.version, "by": signal.by, "action": signal.action, "at": _iso(signal.at)}},
        "provenance": provenance,
        # rules from evidence: releases served under a rule in shadow mode ("warn"), by rule, since start;
        # how many projects a malware report covers entirely (quarantined in every tier)
        "evidence": {"warned_releases": dict(services.evidence.warnings),
                     "quarantined_projects": len(services.evidence.quarantined)},
        # dependencies served releases of the curated tiers need and the tiers do not serve (counted in the
        # background; `mirror check` lists them)
        "holes": services.holes.health() if services.holes is not None else None,
    }, headers={"Cache-Control": "no-store"})


def create_app(config: Config, *, clock: Callable[[], float] = time.time) -> web.Application:
    """Build the application for ``config``; resources open on startup and close on cleanup. ``clock`` (wall-clock
    seconds) is the time tier decisions are made at (tests move it: cooldowns ending, waivers expiring)."""
    app = web.Application(middlewares=[note_middleware, error_middleware], client_max_size=1024 * 1024)
    # The metrics every resource reports to, and the access log's switch (needed by the runner, before start-up).
    app[OBSERVING] = Observing(Metrics(config.node_name), config.server.access_log)
    app[DATABASE_LOG] = LogThrottle()
    app.cleanup_ctx.extend(contexts(config, clock))
    app.router.add_get("/healthz", healthz)
    health.add_routes(app)
    simple.add_routes(app)
    files.add_routes(app)
    integrity.add_routes(app)
    jsonapi.add_routes(app)
    explain.add_routes(app, config.server.explain)
    api.add_routes(app)
    ui.add_routes(app)  # last: its /<tier>/ page comes after every fixed path
    enable_cors(app, config.server.cors_origins)
    return app
