"""Commands that read: ``explain``, ``check``, ``audit``, ``demand`` (and ``demand --apply``, which promotes).

The reading commands never create a database, a cache or a policy directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from mirror.adapters import trust_root
from mirror.cli import evidence, output
from mirror.cli.common import Commands, confirm, load, run, say
from mirror.cli.review import promote_set, promotion_options, targets
from mirror.config import Config
from mirror.core.errors import ConfigError, DatabaseError, MirrorError
from mirror.core.models import Tier
from mirror.services.review import ReviewService
from mirror.services.review.sets import demanded_projects


def explain(args: argparse.Namespace) -> int:
    result = run(args, lambda s: s.explain(args.project, args.version))
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.as_text())
    return 0


def check(args: argparse.Namespace) -> int:
    if args.what_if:
        return evidence.what_if(args)
    if args.against or args.policies:
        print("mirror check: --against and --policies go with --what-if", file=sys.stderr)
        return 2
    try:
        config = load(args)
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
    problems = run(args, lambda s: s.check(offline=args.offline, proposals=True, holes=True))
    for problem in problems:
        print(problem)
    advice = [p for p in problems if p.advice]
    if advice:
        print(f"{len(advice)} proposal(s) above (they do not fail the check)")
    problems = [p for p in problems if not p.advice]
    if problems:
        print(f"mirror check: {len(problems)} problem(s) in {config.policies.path}", file=sys.stderr)
        return 1
    if database:
        print("mirror check: the database cannot be used as it is", file=sys.stderr)
        return 1
    uploaders = "" if args.offline else " (recorded uploaders and provenance compared with upstream)"
    print(f"policies OK: {config.policies.path}{uploaders}")
    return 0


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


def audit(args: argparse.Namespace) -> int:
    records = run(args, lambda s: s.audit_records(args.project))
    print(output.audit_full(records) if args.full else output.audit_table(records))
    return 0


def demand(args: argparse.Namespace) -> int:
    if args.apply:
        return apply_demand(args)
    entries = run(args, lambda s: s.demand_entries(args.tier, served=args.all))
    print(output.demand_table(entries))
    return 0


def apply_demand(args: argparse.Namespace) -> int:
    """Turn the demand queue into promotions: each project asked (or all with ``--yes``), then one plan."""
    if not args.by:
        raise MirrorError("--apply needs --by NAME (who promotes)")
    config = load(args)

    async def call(service: ReviewService) -> int:
        entries = await service.demand_entries(args.tier)
        wanted, other = demanded_projects(service.policies(), entries)
        say(f"demand: {line}" for line in other)
        if not wanted:
            print("the demand queue holds no project to promote: nothing changed")
            return 0
        chosen = []
        for d in wanted:
            versions = f", versions {', '.join(d.versions)}" if d.versions else ""
            question = f"promote {d.name} ({d.requests} request(s) from {', '.join(d.tiers)}{versions})?"
            if args.yes:
                print(f"{question} yes (--yes)")
            if await asyncio.to_thread(confirm, question, assume_yes=args.yes):
                chosen.append(d.name)
        if not chosen:
            print("nothing chosen: nothing changed")
            return 0
        plan = await service.plan_promotion(chosen, with_deps=args.with_deps, allow_similar=args.allow_similar,
                                            targets=targets(args, config))
        return await promote_set(service, plan, args)

    return run(args, call)


def register(commands: Commands) -> None:
    p = commands.add("explain", explain, "show, per tier, whether a project (or release) is in and which rule "
                                         "decides")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", nargs="?", metavar="VERSION")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = commands.add("check", check, "validate config and policies (exit 1 on any problem)")
    p.add_argument("--offline", action="store_true",
                   help="do not compare recorded uploaders with upstream nor re-verify its provenance")
    evidence.add_check_options(p)
    p = commands.add("audit", audit, "list policy changes: who changed what, when and why")
    p.add_argument("project", nargs="?", metavar="PROJECT")
    p.add_argument("--full", action="store_true", help="show whole before/after snippets")
    p = commands.add("demand", demand, "list what clients asked a tier for and did not get (--apply: promote it)")
    p.add_argument("--tier", choices=[t.value for t in Tier if t is not Tier.ALL])
    p.add_argument("--all", action="store_true", help="also list requests the tier serves by now")
    p.add_argument("--apply", action="store_true",
                   help="promote the projects asked for (each confirmed, or all with --yes), each through the "
                        "typo-squat gate")
    p.add_argument("--by", metavar="NAME", help="with --apply: who promotes")
    p.add_argument("--note", metavar="TEXT", help="with --apply: why (recorded in the files and the audit log)")
    promotion_options(p)
