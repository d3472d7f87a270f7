"""The reviewer commands that change policies: ``promote``, ``demote``, ``vet``, ``unvet``, ``block``, ``unblock``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mirror.adapters.depfiles import read_lock, read_requirements, read_set
from mirror.cli.common import Commands, add_targets, confirm, done, load, run, say, signed, targets
from mirror.core.errors import MirrorError
from mirror.core.sets import SetInput
from mirror.services.review import ReviewService
from mirror.services.review.sets import PromotionPlan


def inputs(args: argparse.Namespace) -> list[SetInput]:
    """The requirements (``-r``) and lock files (``--lock``) of a command, read."""
    found = [read_requirements(Path(p)) for p in getattr(args, "requirement", None) or ()]
    return found + [read_lock(Path(p)) for p in getattr(args, "lock", None) or ()]


async def promote_set(service: ReviewService, plan: PromotionPlan, args: argparse.Namespace) -> int:
    """Show ``plan``, ask for confirmation when it promotes projects not named on the command line, apply it."""
    say(plan.lines())
    if plan.problems:
        raise MirrorError("refusing the plan, nothing changed:\n" + "\n".join(
            f"  {i.name}: {i.detail}" for i in plan.problems))
    if not plan.to_promote:
        print("nothing to promote: nothing changed")
        return 0
    question = f"promote these {len(plan.to_promote)} project(s)?"
    if plan.needs_confirmation and not await asyncio.to_thread(confirm, question, assume_yes=args.yes):
        print("not confirmed: nothing changed (--yes confirms without asking)", file=sys.stderr)
        return 1
    return done(await service.apply_promotion(plan, args.by, args.note, allow_similar=args.allow_similar))


def promote(args: argparse.Namespace) -> int:
    given = inputs(args)
    if not args.project and not given:
        raise MirrorError("name the projects to promote, or give -r FILE or --lock FILE")
    if len(args.project) == 1 and not given and not args.with_deps:
        return done(run(args, lambda s: s.promote(args.project[0], args.by, args.note,
                                                  allow_similar=args.allow_similar,
                                                  allow_missing=args.allow_missing, floor=args.floor,
                                                  no_floor=args.no_floor)))
    if args.floor is not None:
        raise MirrorError("--floor VERSION goes with one project; for a set, each project's floor is the release "
                          "'reviewed' serves (or the file pins); change one with: mirror floor PROJECT VERSION")
    if args.allow_missing and not (args.note or "").strip():
        raise MirrorError("--allow-missing needs --note saying why a project upstream does not have is promoted")
    config = load(args)

    async def call(service: ReviewService) -> int:
        plan = await service.plan_promotion(args.project, given, with_deps=args.with_deps,
                                            allow_similar=args.allow_similar, allow_missing=args.allow_missing,
                                            targets=targets(args, config), no_floor=args.no_floor)
        return await promote_set(service, plan, args)

    return run(args, call)


def vet(args: argparse.Namespace) -> int:
    if args.lock:
        if args.project or args.version:
            raise MirrorError("give either PROJECT VERSION or --lock FILE, not both")
        given = read_set(Path(args.lock))
        outcome = run(args, lambda s: s.vet_lock(given, args.by, args.note, promote=args.promote,
                                                 allow_similar=args.allow_similar,
                                                 override_uploaders=args.override_uploaders))
        say(outcome.lines)
        return 1 if outcome.refused else 0
    if not (args.project and args.version):
        raise MirrorError("give PROJECT VERSION, or --lock FILE")
    if args.promote:
        raise MirrorError("--promote goes with --lock; to promote one project: mirror promote PROJECT")
    return done(run(args, lambda s: s.vet(args.project, args.version, args.by, args.note,
                                          override_uploaders=args.override_uploaders,
                                          trust_publisher=args.trust_publisher)))


def demote(args: argparse.Namespace) -> int:
    return done(run(args, lambda s: s.demote(args.project, args.by, args.reason, force=args.force)))


def floor(args: argparse.Namespace) -> int:
    return done(run(args, lambda s: s.floor(args.project, args.version, args.by, args.reason)))


def unvet(args: argparse.Namespace) -> int:
    return done(run(args, lambda s: s.unvet(args.project, args.version, args.by, args.reason, force=args.force)))


def block(args: argparse.Namespace) -> int:
    return done(run(args, lambda s: s.block(args.target, args.by, args.reason, force=args.force)))


def unblock(args: argparse.Namespace) -> int:
    return done(run(args, lambda s: s.unblock(args.target, args.by, args.reason)))


def promotion_options(p: argparse.ArgumentParser) -> None:
    """``--with-deps``, ``--target``, ``--yes`` and the gate's overrides (promote, demand --apply)."""
    p.add_argument("--with-deps", action="store_true",
                   help="also promote every dependency (the closure of the releases 'reviewed' would serve)")
    add_targets(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--allow-similar", action="store_true",
                   help="promote names that look like a known project (needs --note)")


def register(commands: Commands) -> None:
    p = commands.add("promote", promote, "admit projects (or a requirements/lock file's, with their dependencies) "
                                         "to the 'reviewed' tier")
    p.add_argument("project", nargs="*", metavar="PROJECT")
    p.add_argument("-r", "--requirement", action="append", metavar="FILE", help="promote what a requirements file "
                                                                              "names (repeatable)")
    p.add_argument("--lock", action="append", metavar="FILE", help="promote what a lock file names: pylock.toml "
                                                                   "(PEP 751) or uv.lock (repeatable)")
    signed(p, "note")
    promotion_options(p)
    p.add_argument("--allow-missing", action="store_true",
                   help="promote a name upstream does not have (yet), e.g. a project about to be published "
                        "(needs --note)")
    p.add_argument("--floor", metavar="VERSION",
                   help="the oldest release 'reviewed' admits (default: the newest release it admits now, or the "
                        "release a lock or requirements file pins; see [reviewed] floor in tiers.toml)")
    p.add_argument("--no-floor", action="store_true",
                   help="record no floor: resolvers may then fall back to any old release")
    p = commands.add("vet", vet, "admit a release (or every release a lock file pins) to the 'vetted' tier, "
                                 "pinning its files' sha256")
    p.add_argument("project", nargs="?", metavar="PROJECT")
    p.add_argument("version", nargs="?", metavar="VERSION")
    p.add_argument("--lock", metavar="FILE", help="vet exactly the files a lock file names, with its hashes: "
                                                  "pylock.toml, uv.lock, or a requirements file with --hash")
    p.add_argument("--promote", action="store_true", help="with --lock: promote the projects not reviewed yet")
    p.add_argument("--allow-similar", action="store_true", help="with --promote: see mirror promote")
    signed(p, "note")
    p.add_argument("--override-uploaders", action="store_true",
                   help="accept uploaders that differ from the recorded ones (needs --note)")
    p.add_argument("--trust-publisher", metavar="IDENTITY",
                   help="pin this trusted publisher (e.g. 'GitHub:owner/repo@release.yml', 'Google:EMAIL') "
                        "after review; the release's provenance must be signed by it (verified offline)")
    p = commands.add("demote", demote, "remove a project from the 'reviewed' tier")
    p.add_argument("project", metavar="PROJECT")
    signed(p, "reason")
    p.add_argument("--force", action="store_true", help="demote even though projects in the curated tiers need it")
    p = commands.add("floor", floor, "set (or with 'none' remove) the oldest release of a reviewed project that "
                                     "'reviewed' admits")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", metavar="VERSION|none")
    signed(p, "reason")
    p = commands.add("unvet", unvet, "remove a release from the 'vetted' tier")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("version", metavar="VERSION")
    signed(p, "reason")
    p.add_argument("--force", action="store_true",
                   help="unvet even though vetted releases need it and no other vetted release fits them")
    p = commands.add("block", block, "exclude a project or one release (PROJECT==VERSION) from every tier")
    p.add_argument("target", metavar="PROJECT[==VERSION]")
    signed(p, "reason")
    p.add_argument("--force", action="store_true", help="block even though projects in the curated tiers need it")
    p = commands.add("unblock", unblock, "remove the block of a project or of one release")
    p.add_argument("target", metavar="PROJECT[==VERSION]")
    signed(p, "reason")
