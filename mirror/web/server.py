"""Running the server: one process, or several worker processes sharing the port (SO_REUSEPORT).

Workers share the database (SQLite in WAL mode), the file cache (content-addressed, atomic renames) and
the policy directory; each keeps its own prepared pages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from mirror.config import Config, mask_database_url

log = logging.getLogger("mirror")


def banner(config: Config, port: int) -> str:
    """What ``mirror serve`` prints at start: where it listens, upstream, cache, and each tier's URL."""
    host = config.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    lines = [
        f"mirror listening on http://{host}:{port} ({config.server.workers} worker"
        f"{'s' if config.server.workers > 1 else ''})",
        f"  upstream:  {config.upstream_url} (config: {config.upstream.url!r})",
        f"  files:     {config.storage.describe()}",
        f"  database:  {mask_database_url(config.database_url)}",
        f"  policies:  {config.policies.path}",
        f"  config:    {config.source or 'built-in defaults'}",
        f"  web UI:    {base}/  (admin API {base}/api/v1/, tokens: mirror token create --name NAME)",
        "  tiers:",
    ]
    for tier in ("all", "reviewed", "vetted"):
        url = f"{base}/{tier}/simple/"
        lines += [f"    {tier:9s} {url}",
                  f"      pip install --index-url {url} PACKAGE",
                  f"      uv pip install --index-url {url} PACKAGE"]
    return "\n".join(lines)


async def _serve(config: Config, *, reuse_port: bool, announce: bool) -> None:
    from mirror.web import create_app  # the server's imports are only paid by `serve`

    app = create_app(config)
    # aiohttp arms its keep-alive timer when a connection is made and again when a response ends, and closes
    # the connection if it fires while no complete request has arrived: so header_timeout bounds both a client
    # that never finishes its request headers (slowloris) and an idle kept-alive connection.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           keepalive_timeout=config.server.header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True,
                       reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    if announce:
        addresses = runner.addresses
        print(banner(config, addresses[0][1] if addresses else config.server.port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _run(config: Config, *, reuse_port: bool, announce: bool) -> None:
    # The standard event loop on purpose: aiohttp sends cached files with loop.sendfile (zero copy),
    # which uvloop does not implement (it falls back to reading chunks in threads: ~2x slower).
    asyncio.run(_serve(config, reuse_port=reuse_port, announce=announce))


def run_server(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; with ``workers`` > 1, fork that many processes sharing the port."""
    workers = config.server.workers
    if workers <= 1:
        _run(config, reuse_port=False, announce=True)
        return 0
    print(banner(config, config.server.port), flush=True)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child: serve, never return into the parent's code
            code = 0
            try:
                _run(config, reuse_port=True, announce=False)
            except BaseException:  # noqa: BLE001 - report and exit the child
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM):
            status = 1
    return status
