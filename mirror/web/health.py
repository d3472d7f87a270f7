"""``/readyz`` (may a load balancer send traffic here?) and ``/metrics`` (Prometheus); ``/healthz`` (is the process
alive, which policy does it serve?) is in :mod:`mirror.web.app`.

``/readyz`` answers 200 when the database answers, the file store is usable and policies are loaded, else 503
with the failing checks (never a password or a server path): a node whose database or store is unreachable is
taken out of rotation while it keeps running. Each check is bounded by ``[cluster] ready_timeout``, and an answer
is reused for a second, so probes (or a flood of requests) cost the database at most one query a second.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from mirror.adapters.db.engine import ping
from mirror.adapters.metrics import CONTENT_TYPE
from mirror.core.errors import DatabaseError
from mirror.web.access import OBSERVING
from mirror.web.lifecycle import ENGINE
from mirror.web.state import SERVICES

#: Seconds a readiness answer is reused.
_MEMO = 1.0


class Readiness:
    """The checks behind ``/readyz``, run at most once per :data:`_MEMO` seconds (concurrent probes share one)."""

    def __init__(self) -> None:
        self._answer: tuple[float, dict[str, object]] | None = None
        self._running: asyncio.Task[dict[str, object]] | None = None

    async def check(self, app: web.Application) -> dict[str, object]:
        if self._answer is not None and time.monotonic() - self._answer[0] < _MEMO:
            return self._answer[1]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check(app))
        answer = await asyncio.shield(self._running)
        self._answer = (time.monotonic(), answer)
        return answer

    async def _check(self, app: web.Application) -> dict[str, object]:
        services = app[SERVICES]
        timeout = services.config.cluster.ready_timeout
        database: dict[str, object] = {"ok": True}
        try:
            async with asyncio.timeout(timeout):
                await ping(app[ENGINE])
        except TimeoutError:
            database = {"ok": False, "problem": f"no answer within {timeout:g} s"}
        except DatabaseError as exc:
            database = {"ok": False, "problem": str(exc)}
        try:
            async with asyncio.timeout(timeout):
                health = await services.storage.health()
            store: dict[str, object] = {"ok": bool(health.get("ok")), "backend": health.get("backend")}
            if not health.get("ok"):
                store["problem"] = health.get("problem")
        except TimeoutError:
            store = {"ok": False, "problem": f"no answer within {timeout:g} s"}
        state = services.policies.state
        policies: dict[str, object] = {"ok": state.loaded_at is not None, "version": state.version}
        ready = all(check["ok"] for check in (database, store, policies))
        return {"status": "ready" if ready else "not ready", "node": services.config.node_name,
                "checks": {"database": database, "store": store, "policies": policies}}


READINESS: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)


async def readyz(request: web.Request) -> web.Response:
    answer = await request.app[READINESS].check(request.app)
    return web.json_response(answer, status=200 if answer["status"] == "ready" else 503,
                             headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(request.app[OBSERVING].metrics.render)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app[READINESS] = Readiness()
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
