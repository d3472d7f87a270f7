"""The ``mirror`` command: ``serve`` and ``check`` (reviewer commands come with the policy engine)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from .config import Config, load_config
from .errors import ConfigError, PolicyError

log = logging.getLogger("mirror")


def _load(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if args.config else None)


def _banner(config: Config, host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    lines = [
        f"mirror listening on http://{host}:{port}",
        f"  upstream:  {config.upstream_url} (config: {config.upstream.url!r})",
        f"  cache:     {config.storage.path}",
        f"  database:  {config.database_url}",
        f"  config:    {config.source or 'built-in defaults'}",
        "  tiers:",
    ]
    for tier in ("all", "reviewed", "vetted"):
        url = f"{base}/{tier}/simple/"
        lines += [f"    {tier:9s} {url}",
                  f"      pip install --index-url {url} PACKAGE",
                  f"      uv pip install --index-url {url} PACKAGE"]
    return "\n".join(lines)


async def _serve(config: Config) -> None:
    from .web import create_app  # the server's imports are only paid by `serve`

    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    await site.start()
    sockets = runner.addresses
    port = sockets[0][1] if sockets else config.server.port
    print(_banner(config, config.server.host, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args)
    server = config.server
    if args.host is not None:
        server = replace(server, host=args.host)
    if args.port is not None:
        server = replace(server, port=args.port)
    config = replace(config, server=server)
    logging.basicConfig(level=config.server.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    asyncio.run(_serve(config))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"config OK: {config.source or 'built-in defaults'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirror", description="A tiered, caching Python package index.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the index server")
    serve.add_argument("--config", help="config file (default ./config.toml, else built-in defaults)")
    serve.add_argument("--host", help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, help="listen port (overrides [server] port)")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="validate the configuration (exit 1 on any problem)")
    check.add_argument("--config", help="config file (default ./config.toml)")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"mirror: configuration error: {exc}", file=sys.stderr)
        return 1
    except PolicyError as exc:
        print(f"mirror: policy error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
