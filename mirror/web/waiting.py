"""Start-up while the database or the file store cannot be reached.

A node started while PostgreSQL restarts, or before the bucket answers, does not exit: it listens at once and
answers ``/healthz`` 200 (the process is alive, ``status`` "starting", what it waits for), ``/readyz`` 503 naming
the dependencies it waits for (a load balancer keeps it out of rotation), and every other request 503 with
``Retry-After``. It tries again with a pause growing from 0.5 s to ``[cluster] reconnect_interval``, logs what it
waits for when that changes (and every 30 s), and returns once both answer; the server then starts for real on
the same listening socket (connections that arrive meanwhile wait in its backlog).

Only reachability is waited for: a schema older than the code, wrong database credentials or a database that does
not exist, a missing bucket or refused S3 credentials, a broken policy or a bad configuration still stop start-up
with one line, as before.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.engine import create_engine, describe_database, ping
from mirror.adapters.stores import open_file_store
from mirror.config import Config
from mirror.core.errors import DatabaseUnavailable, StorageUnavailable
from mirror.web.lifecycle import temp_file_ttl

log = logging.getLogger("mirror")

#: First pause between two attempts, seconds (it doubles up to ``reconnect_interval``).
_FIRST_PAUSE = 0.5
#: Seconds between two log lines saying the same thing.
_REPEAT_LOG = 30.0


async def problems(config: Config, engine_box: list[AsyncEngine]) -> dict[str, str]:
    """What cannot be reached now: ``{"database": why, "store": why}`` (empty when both answer).

    ``engine_box`` keeps one engine across attempts (disposed by the caller)."""
    found: dict[str, str] = {}
    if not engine_box:
        engine_box.append(create_engine(config.database_settings))
    engine = engine_box[0]
    limit = config.database.connect_timeout + 5
    try:
        async with asyncio.timeout(limit):
            await ping(engine)
    except DatabaseUnavailable as exc:  # (a DatabaseError that will not pass, wrong credentials, stops start-up)
        found["database"] = str(exc)
    except TimeoutError:
        found["database"] = f"database {describe_database(config.database_url)}: no answer within {limit:g} s"
    store = open_file_store(config.storage, stale_after=temp_file_ttl(config))
    s = config.storage
    limit = s.attempts * (s.connect_timeout + s.read_timeout) + 5
    try:
        async with asyncio.timeout(limit):
            removed = await store.prepare()  # (what the server does first: the same checks, the same sweep)
        if removed:
            log.info("removed %d partial downloads left by a previous run", removed)
    except StorageUnavailable as exc:  # (a missing bucket, refused credentials: start-up stops, as before)
        found["store"] = str(exc)
    except TimeoutError:
        found["store"] = f"store {s.describe()}: no answer within {limit:g} s"
    finally:
        await store.close()
    return found


def _app(config: Config, state: dict[str, str]) -> web.Application:
    """The stand-in served while waiting: liveness yes, readiness no, everything else 503."""
    node = config.node_name

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "starting", "node": node, "waiting_for": dict(state)},
                                 headers={"Cache-Control": "no-store"})

    async def readyz(_request: web.Request) -> web.Response:
        checks = {name: {"ok": name not in state, "problem": state.get(name)} for name in ("database", "store")}
        checks["policies"] = {"ok": False, "problem": "not loaded yet (waiting for the database and the store)"}
        return web.json_response({"status": "not ready", "node": node, "checks": checks}, status=503,
                                 headers={"Cache-Control": "no-store"})

    async def other(_request: web.Request) -> web.Response:
        waiting = " and the ".join(sorted(state)) or "its dependencies"
        return web.Response(status=503, text=f"the mirror is starting: waiting for the {waiting}; try again later\n",
                            headers={"Retry-After": str(config.cluster.retry_after), "Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_route("*", "/{tail:.*}", other)
    return app


async def wait_for_dependencies(config: Config, listen: Callable[[], socket.socket], stop: asyncio.Event) -> bool:
    """Return True once the database and the store answer (at once when they already do); False if ``stop``
    is set first. Meanwhile the stand-in app answers on the socket ``listen()`` binds (on a duplicate of it: the
    socket stays open for the server)."""
    engine_box: list[AsyncEngine] = []
    state: dict[str, str] = {}
    runner: web.AppRunner | None = None
    try:
        state.update(await problems(config, engine_box))
        if not state:
            return True
        runner = web.AppRunner(_app(config, state), handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, listen().dup()).start()
        pause, logged, said = _FIRST_PAUSE, "", 0.0
        while state:
            text = "; ".join(f"{name}: {why}" for name, why in sorted(state.items()))
            if text != logged or time.monotonic() - said >= _REPEAT_LOG:
                log.warning("waiting for the %s before serving (/readyz answers 503 meanwhile; next try in %g s): "
                            "%s", " and the ".join(sorted(state)), pause, text)
                logged, said = text, time.monotonic()
            try:
                await asyncio.wait_for(stop.wait(), pause)
                return False
            except TimeoutError:
                pass
            pause = min(pause * 2, config.cluster.reconnect_interval)
            found = await problems(config, engine_box)
            state.clear()
            state.update(found)
        log.warning("the database and the store answer: starting")
        return True
    finally:
        if runner is not None:
            await runner.cleanup()
        for engine in engine_box:
            await engine.dispose()
