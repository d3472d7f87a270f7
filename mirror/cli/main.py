"""The ``mirror`` command: argument parsing and printing; the reviewer commands' logic is in
:mod:`mirror.services.review`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from mirror.adapters import trust_root
from mirror.cli import db as db_commands
from mirror.cli import output as cli_output
from mirror.cli import tokens as cli_tokens
from mirror.config import Config, load_config
from mirror.core.errors import ConfigError, DatabaseError, MirrorError, PolicyError
from mirror.core.models import Tier
from mirror.services.policies import PolicyStore
from mirror.services.review import Outcome, ReviewService

log = logging.getLogger("mirror")
T = TypeVar("T")


def _load(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if args.config else None)


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args)
    server = config.server
    if args.host is not None:
        server = replace(server, host=args.host)
    if args.port is not None:
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
    from mirror.web.server import (
        run_server,  # the server's imports are only paid by `serve`
    )

    return run_server(config)


async def _prepare_database(config: Config) -> None:
    from mirror.adapters.db import open_database

    engine = await open_database(config.database_settings)
    await engine.dispose()


def _database_check(config: Config) -> str | None:
    """The database line of ``mirror check``: its state, and whether that is a problem (it cannot be used as it
    is; none yet is fine: ``serve`` creates it)."""
    from mirror.adapters.db import database_status

    try:
        status = asyncio.run(database_status(config.database_settings))
    except DatabaseError as exc:
        print(f"database problem: {exc}")
        return str(exc)
    if status.current or not status.exists or status.empty:
        print(f"database OK: {status.describe()}")
        return None
    print(f"database problem: {status.describe()}")
    return status.describe()


def _service(args: argparse.Namespace, call: Callable[[ReviewService], Awaitable[T]]) -> T:
    """Run one service call with a fresh service (and event loop)."""
    config = _load(args)

    async def run() -> T:
        async with ReviewService(config) as service:
            return await call(service)

    return asyncio.run(run())


def _done(outcome: Outcome) -> int:
    print("\n".join(outcome.lines))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.promote(args.project, args.by, args.note,
                                                    allow_similar=args.allow_similar)))


def cmd_demote(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.demote(args.project, args.by, args.reason)))


def cmd_vet(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.vet(args.project, args.version, args.by, args.note,
                                                override_uploaders=args.override_uploaders,
                                                trust_publisher=args.trust_publisher)))


def cmd_unvet(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.unvet(args.project, args.version, args.by, args.reason)))


def cmd_block(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.block(args.target, args.by, args.reason)))


def cmd_unblock(args: argparse.Namespace) -> int:
    return _done(_service(args, lambda s: s.unblock(args.target, args.by, args.reason)))


def cmd_explain(args: argparse.Namespace) -> int:
    result = _service(args, lambda s: s.explain(args.project, args.version))
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.as_text())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        key = f" {exc.key}:" if exc.key else ""
        allowed = f" (allowed: {exc.allowed})" if exc.allowed else ""
        print(f"{exc.file}:{exc.line}:{key} {exc.problem}{allowed}" if exc.line
              else f"{exc.file}:{key} {exc.problem}{allowed}")
        print("mirror check: the configuration is invalid", file=sys.stderr)
        return 1
    print(f"config OK: {config.source or 'built-in defaults'}")
    trust = trust_root.status()
    if trust["ok"]:  # (an unusable one is among the problems)
        print(f"Sigstore trust root (pinned, {trust_root.SHIPPED_DIR}): version {trust['version']}, "
              f"sha256 {trust['sha256']}, {trust['source']}, updated {trust['updated']}")
    database = _database_check(config)
    problems = _service(args, lambda s: s.check(offline=args.offline))
    for problem in problems:
        print(problem)
    if problems:
        print(f"mirror check: {len(problems)} problem(s) in {config.policies.path}", file=sys.stderr)
        return 1
    if database:
        print("mirror check: the database cannot be used as it is", file=sys.stderr)
        return 1
    uploaders = "" if args.offline else " (recorded uploaders and provenance compared with upstream)"
    print(f"policies OK: {config.policies.path}{uploaders}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    records = _service(args, lambda s: s.audit_records(args.project))
    print(cli_output.audit_full(records) if args.full else cli_output.audit_table(records))
    return 0


def cmd_demand(args: argparse.Namespace) -> int:
    print(cli_output.demand_table(_service(args, lambda s: s.demand_entries(args.tier))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default ./config.toml, else built-in defaults)")
    parser = argparse.ArgumentParser(prog="mirror", description="A tiered, caching Python package index.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(func=func)
        return p

    def signed(p: argparse.ArgumentParser, why: str) -> None:
        p.add_argument("--by", required=True, metavar="NAME", help="who decides (normally your login)")
        if why == "note":
            p.add_argument("--note", metavar="TEXT", help="why (recorded in the file and the audit log)")
        else:
            p.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded with the change)")

    serve = command("serve", cmd_serve, "run the index server")
    serve.add_argument("--host", help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, help="listen port (overrides [server] port)")
    p = command("promote", cmd_promote, "admit a project to the 'reviewed' tier")
    p.add_argument("project", metavar="PROJECT")
    signed(p, "note")
    p.add_argument("--allow-similar", action="store_true",
                   help="promote a name that looks like a known project (needs --note)")
    p = command("vet", cmd_vet, "admit a release to the 'vetted' tier, pinning its files' sha256")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", metavar="VERSION")
    signed(p, "note")
    p.add_argument("--override-uploaders", action="store_true",
                   help="accept uploaders that differ from the recorded ones (needs --note)")
    p.add_argument("--trust-publisher", metavar="IDENTITY",
                   help="pin this trusted publisher (e.g. 'GitHub:owner/repo@release.yml', 'Google:EMAIL') "
                        "after review; the release's provenance must be signed by it (verified offline)")
    p = command("demote", cmd_demote, "remove a project from the 'reviewed' tier")
    p.add_argument("project", metavar="PROJECT")
    signed(p, "reason")
    p = command("unvet", cmd_unvet, "remove a release from the 'vetted' tier")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", metavar="VERSION")
    signed(p, "reason")
    p = command("block", cmd_block, "exclude a project or one release (PROJECT==VERSION) from every tier")
    p.add_argument("target", metavar="PROJECT[==VERSION]")
    signed(p, "reason")
    p = command("unblock", cmd_unblock, "remove the block of a project or of one release")
    p.add_argument("target", metavar="PROJECT[==VERSION]")
    signed(p, "reason")
    p = command("explain", cmd_explain, "show, per tier, whether a project (or release) is in and which rule decides")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", nargs="?", metavar="VERSION")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("check", cmd_check, "validate config and policies (exit 1 on any problem)")
    p.add_argument("--offline", action="store_true",
                   help="do not compare recorded uploaders with upstream nor re-verify its provenance")
    p = command("audit", cmd_audit, "list policy changes: who changed what, when and why")
    p.add_argument("project", nargs="?", metavar="PROJECT")
    p.add_argument("--full", action="store_true", help="show whole before/after snippets")
    p = command("demand", cmd_demand, "list what clients asked a tier for and did not get")
    p.add_argument("--tier", choices=[t.value for t in Tier])
    db_commands.add_commands(sub, common, lambda args, action: action(_load(args)))
    cli_tokens.add_commands(sub, common)
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
    except MirrorError as exc:
        print(f"mirror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
