"""``mirror serve``: run the index server."""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import replace

from mirror.cli.common import Commands, load
from mirror.config import Config
from mirror.core.errors import ConfigError, DatabaseUnavailable, MirrorError
from mirror.services.policies import PolicyStore

log = logging.getLogger("mirror")

#: The ports a server can listen on (0: any free port).
PORTS = range(0, 65536)


def serve(args: argparse.Namespace) -> int:
    config = load(args)
    server = config.server
    if args.host is not None:
        server = replace(server, host=args.host)
    if args.port is not None:
        if args.port not in PORTS:
            raise MirrorError(f"--port {args.port}: not a port number (0-65535; 0 = any free port)")
        server = replace(server, port=args.port)
    config = replace(config, server=server)
    if config.server.workers > 1 and config.server.port == 0:
        raise ConfigError(str(config.source or "<defaults>"), "server.port",
                          "port 0 (any free port) cannot be shared by several workers", allowed="a fixed port")
    try:
        config.storage.path.mkdir(parents=True, exist_ok=True)  # the server cleans and uses it
    except OSError as exc:
        raise ConfigError(str(config.source or "<defaults>"), "storage.path",
                          f"cannot use {config.storage.path} as the file cache: {exc.strerror or exc}",
                          allowed="a directory the server can create and write") from None
    from mirror.web.access import configure_logging  # the server's imports are only paid by `serve`

    configure_logging(config.server)  # (text or JSON; the access log at INFO when it is on)
    # An empty database is created at the current schema; an older one stops start-up with one line naming
    # `mirror db upgrade` (unless [database] auto_upgrade): once here, before any worker starts.
    try:
        asyncio.run(_prepare_database(config))
    except DatabaseUnavailable as exc:
        # Not fatal: the server starts, says what it waits for, answers /readyz 503 and serves once it answers.
        log.warning("%s: starting anyway, the server waits for it", exc)
    # A missing policy directory is created (an explicit empty set, logged); a broken policy stops start-up
    # here, with file, line and key.
    PolicyStore(config.policies.path).start()
    from mirror.web.server import run_server  # the server's imports are only paid by `serve`

    return run_server(config)


async def _prepare_database(config: Config) -> None:
    from mirror.adapters.db import open_database

    engine = await open_database(config.database_settings)
    await engine.dispose()


def register(commands: Commands) -> None:
    p = commands.add("serve", serve, "run the index server")
    p.add_argument("--host", help="listen address (overrides [server] host)")
    p.add_argument("--port", type=int, help="listen port, 0-65535 (overrides [server] port; 0 = any free port)")
