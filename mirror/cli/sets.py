"""``mirror prefetch``: everything a requirements or lock file needs, downloaded through a tier."""

from __future__ import annotations

import argparse
from pathlib import Path

from mirror.adapters.depfiles import read_lock, read_requirements
from mirror.cli.common import Commands, add_targets, load, run, say, targets
from mirror.cli.progress import human, progress_for
from mirror.core.errors import MirrorError
from mirror.core.models import Tier
from mirror.services.review import ReviewService


def prefetch(args: argparse.Namespace) -> int:
    if bool(args.requirement) == bool(args.lock):
        raise MirrorError("give one of -r FILE or --lock FILE")
    locked = bool(args.lock)
    given = read_lock(Path(args.lock)) if locked else read_requirements(Path(args.requirement))
    tier = Tier(args.tier)
    config = load(args)

    async def call(service: ReviewService) -> int:
        prefetcher = await service.prefetcher()
        plan = await prefetcher.plan(given, tier, targets(args, config), locked=locked)
        print(f"{given.file} through '{tier.value}': {plan.projects} project(s), {len(plan.files)} file(s), "
              f"{human(plan.total_bytes)}", flush=True)
        report = await prefetcher.run(plan, progress_for())
        say([f"fetched {len(report.fetched)} file(s) ({human(report.bytes_fetched)}), "
             f"{len(report.cached)} already stored, {len(report.failed)} failed"])
        say(f"failed: {label}: {why}" for label, why in sorted(report.failed.items()))
        if plan.notes:
            say(["notes:", *(f"  {n}" for n in plan.notes)])
        if plan.missing:
            say([f"'{tier.value}' is missing {len(plan.missing)} thing(s) {given.file} needs:",
                 *(f"  {m}" for m in plan.missing)])
        return 1 if plan.missing or report.failed else 0

    return run(args, call)


def register(commands: Commands) -> None:
    p = commands.add("prefetch", prefetch, "download through a tier everything a requirements or lock file needs "
                                           "(dependencies included), and report what the tier is missing")
    p.add_argument("-r", "--requirement", metavar="FILE", help="a requirements file (its dependency closure is "
                                                               "followed through the tier)")
    p.add_argument("--lock", metavar="FILE", help="a lock file, pylock.toml or uv.lock (exactly its files)")
    p.add_argument("--tier", choices=[t.value for t in Tier], default=Tier.ALL.value,
                   help="the tier to fetch through (default: all)")
    add_targets(p)
