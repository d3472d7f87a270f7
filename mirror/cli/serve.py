"""``mirror serve``: run the index server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import replace

from mirror.cli.common import Commands, load
from mirror.config import Config
from mirror.core.errors import ConfigError, MirrorError
from mirror.services.policies import PolicyStore

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
    logging.basicConfig(level=config.server.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # An empty database is created at the current schema; an older one stops start-up with one line naming
    # `mirror db upgrade` (unless [database] auto_upgrade): once here, before any worker starts.
    asyncio.run(_prepare_database(config))
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
