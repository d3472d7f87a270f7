"""Reviewers work in whole sets: promotions planned from names, requirements and lock files (with or without
their dependency closure), and the demand queue turned into promotions.

A plan is computed first and changes nothing: each project is to be promoted, already reviewed, blocked, refused
by the typo-squat gate, or missing upstream, with the reason it is in the set ("needed by flask 3.0.0
(werkzeug>=3.0)"). Applying it promotes each project through the same gate and writes one audit record per
project, whose note says why it came along (``as a dependency of flask 3.0.0``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mirror.adapters.db.audit import DemandEntry
from mirror.core.closure_model import Edge
from mirror.core.errors import ReviewError
from mirror.core.models import Tier
from mirror.core.policy.evaluate import decide_project, decide_version
from mirror.core.policy.model import PolicySet
from mirror.core.sets import SetInput
from mirror.core.targets import Target, default_target
from mirror.services.closure import NOT_UPSTREAM
from mirror.services.review.arguments import option_text, project_name
from mirror.services.review.listing import summarized
from mirror.services.review.service import Outcome, ReviewService
from mirror.services.review.typosquat import typosquat_gate

PROMOTE, ALREADY, BLOCKED, REFUSED, MISSING = "promote", "already reviewed", "blocked", "refused", "missing"
_MARKS = {PROMOTE: "+", ALREADY: "=", BLOCKED: "!", REFUSED: "x", MISSING: "?"}


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One project of a plan: what will happen to it (``action``), the release ``reviewed`` would serve,
    why it is in the set (``why``, for the reviewer; ``context``, for its audit note) and ``detail``."""

    name: str
    action: str
    why: str
    version: str | None = None
    detail: str = ""
    context: str | None = None
    #: the floor its promotion records (see ReviewService.promotion_floor)
    floor: str | None = None


@dataclass(frozen=True, slots=True)
class PromotionPlan:
    """A promotion computed and not applied. ``problems`` (look-alikes, named projects upstream lacks) make
    the whole plan refused; ``notes`` are worth reading and change nothing."""

    items: tuple[PlanItem, ...]
    #: projects named on the command line; ``listed``: named by a requirements or lock file
    named: frozenset[str]
    listed: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    with_deps: bool = False

    @property
    def to_promote(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action == PROMOTE)

    @property
    def problems(self) -> tuple[PlanItem, ...]:
        asked = self.named | self.listed
        return tuple(i for i in self.items if i.action == REFUSED or (i.action == MISSING and i.name in asked))

    @property
    def needs_confirmation(self) -> bool:
        """True when it would promote a project the reviewer did not name on the command line."""
        return any(i.name not in self.named for i in self.to_promote)

    def lines(self) -> list[str]:
        count = len(self.to_promote)
        targets = f" (dependencies for {', '.join(self.targets)})" if self.with_deps and self.targets else ""
        out = [f"plan: promote {count} project(s) into 'reviewed'{targets}:"]
        labels = [f"{i.name} {i.version or ''}".strip() for i in self.items]
        width = max(map(len, labels), default=0)
        for i, label in zip(self.items, labels, strict=True):
            text = f"  {_MARKS[i.action]} {label:{width}s}  {i.action if i.action != PROMOTE else 'promote'}: {i.why}"
            out.append(text + (f"; {i.detail}" if i.detail else ""))
        if self.notes:
            out.append("notes:")
            out += [f"  {n}" for n in self.notes]
        return out


def _why(edges: Sequence[Edge], origins: dict[str, str], name: str) -> tuple[str, str | None]:
    """(why, audit context) of a project in a closure: a root (named, or listed in a file) or a dependency."""
    roots = [e for e in edges if e.parent is None]
    if roots or not edges:
        where = origins.get(name)
        return (f"listed in {where}", f"listed in {where}") if where else ("named", None)
    first = edges[0]
    return first.describe(), f"as a dependency of {first.source}"


async def plan_promotion(svc: ReviewService, names: Sequence[str], inputs: Sequence[SetInput] = (), *,
                         with_deps: bool = False, allow_similar: bool = False, allow_missing: bool = False,
                         targets: Sequence[Target] = (), no_floor: bool = False) -> PromotionPlan:
    """What promoting ``names`` and what ``inputs`` list (with their dependency closure when ``with_deps``)
    would do; changes nothing. Every project to promote goes through the typo-squat gate here, and again
    when the plan is applied."""
    named = [project_name(n) for n in names]
    roots = [Requirement(n) for n in named]
    origins: dict[str, str] = {}
    notes: list[str] = []
    pins: dict[str, str] = {}
    for given in inputs:
        roots += given.roots
        origins.update({k: v for k, v in given.origins.items() if k not in origins})
        notes += [f"not promotable: {u}" for u in given.unservable] + list(given.notes)
        pins.update(given.pins)
    targets = tuple(targets) or (default_target(),)
    policies = svc.policies()
    found: dict[str, PlanItem] = {}
    if with_deps:
        result = await (await svc.runtime()).closure.closure(roots, Tier.REVIEWED, targets, assume_reviewed=True,
                                                             pins=pins)
        walk = result.closure
        for name, project in walk.projects.items():
            why, context = _why(project.needed_by, origins, name)
            # the release 'reviewed' serves (the lock's pin where it names one) is the floor
            floor = svc.promotion_floor(name, None, no_floor=no_floor, pinned=project.version)
            found[name] = PlanItem(name, PROMOTE, why, project.version, context=context, floor=floor)
        for hole in walk.holes:
            name = hole.edge.child
            if name in found:
                continue
            why, context = _why((hole.edge,) if hole.edge.parent else (), origins, name)
            missing = hole.reason == NOT_UPSTREAM
            found[name] = PlanItem(name, MISSING if missing else PROMOTE, why,
                                   detail=hole.reason if missing else f"its dependencies are not followed: {name} "
                                                                        f"{hole.reason}", context=context)
        notes += [u.describe() for u in walk.unsatisfied]
        notes += [f"{n.project}: {n.text}" for n in (*walk.notes, *walk.skipped)]
    else:
        wanted = list(dict.fromkeys(canonicalize_name(r.name) for r in roots))
        limit = asyncio.Semaphore(8)

        async def exists(name: str) -> tuple[bool, str | None]:
            """Whether upstream has it (or need not), and the floor its promotion records."""
            policy = policies.of(name)
            if policy is not None and policy.review is not None:
                return True, None
            if no_floor or (allow_missing and name in pins):
                return True, svc.promotion_floor(name, None, no_floor=no_floor, pinned=pins.get(name))
            async with limit:
                try:
                    detail = await svc.upstream_detail(name)
                except ReviewError:
                    if not allow_missing:
                        raise
                    detail = None
            there = detail is not None or allow_missing
            return there, svc.promotion_floor(name, detail, pinned=pins.get(name)) if there else None

        answers = await asyncio.gather(*(exists(n) for n in wanted))
        for name, (there, floor) in zip(wanted, answers, strict=True):
            why, context = _why((), origins, name)
            found[name] = PlanItem(name, PROMOTE if there else MISSING, why, detail="" if there else NOT_UPSTREAM,
                                   context=context, floor=floor)
    asked = set(named) | set(origins)
    items = [_judge(svc, policies, item, allow_similar, allow_missing, asked) for item in found.values()]
    return PromotionPlan(tuple(items), frozenset(named), frozenset(origins), tuple(t.label for t in targets),
                         tuple(dict.fromkeys(notes)), with_deps)


def _judge(svc: ReviewService, policies: PolicySet, item: PlanItem, allow_similar: bool, allow_missing: bool,
           named: set[str]) -> PlanItem:
    """``named``: the projects the reviewer asked for (command line and files)."""
    """The item with the policies and the gate applied: already reviewed, blocked (a dependency is not
    promoted over a block; a named project is, and stays blocked), refused, or missing upstream."""
    policy = policies.of(item.name)
    if policy is not None and policy.review is not None:
        return PlanItem(item.name, ALREADY, item.why, item.version, f"by {policy.review.signed.by}", item.context)
    if item.action == MISSING:
        if item.name in named and allow_missing:
            return PlanItem(item.name, PROMOTE, item.why, None, "upstream does not have it (--allow-missing)",
                            item.context, item.floor)
        hint = svc.missing_upstream(item.name) if item.name in named else None
        detail = str(hint).split("\n")[0] if hint else item.detail
        return PlanItem(item.name, MISSING, item.why, None, detail, item.context)
    block = policy.project_block if policy is not None else None
    if block is not None and item.name not in named:
        return PlanItem(item.name, BLOCKED, item.why, item.version, f"{block.reason} (not promoted)", item.context)
    try:
        typosquat_gate(item.name, svc.files.reviewed_names(besides=item.name), allow_similar=allow_similar)
    except ReviewError as exc:
        return PlanItem(item.name, REFUSED, item.why, item.version, str(exc).split("\n")[0], item.context)
    return item


async def apply_promotion(svc: ReviewService, plan: PromotionPlan, by: str, note: str | None, *,
                          allow_similar: bool = False) -> Outcome:
    """Promote every project the plan promotes, one policy file and one audit record each. Raises ReviewError
    (nothing changed) for a plan with problems; a failure part-way says what was promoted before it."""
    by = option_text(by, "--by", required=True)
    note = option_text(note, "--note", required=False)
    if plan.problems:
        raise ReviewError("nothing changed: " + "; ".join(f"{i.name}: {i.detail}" for i in plan.problems))
    lines: list[str] = []
    ids: list[int] = []
    done: list[str] = []
    for item in plan.to_promote:
        try:
            outcome = await svc.promote_checked(item.name, by, note, allow_similar=allow_similar,
                                                context=item.context, floor=item.floor)
        except ReviewError as exc:
            before = f"promoted before the failure: {summarized(done)}" if done else "nothing was promoted"
            raise ReviewError(f"{item.name}: {exc}\n{before}") from exc
        lines += outcome.lines
        ids += outcome.audit_ids
        if outcome.changed:
            done.append(item.name)
    kept = [i.name for i in plan.items if i.action in (BLOCKED, MISSING)]
    if kept:
        lines.append(f"not promoted: {summarized(kept)} (see the plan)")
    lines.append(f"{len(done)} project(s) promoted, {len(plan.items) - len(plan.to_promote)} left as they were")
    return Outcome(tuple(lines), svc.directory if done else None, tuple(ids))


# --------------------------------------------------------------------------- demand


def serves(policies: PolicySet, entry: DemandEntry) -> bool:
    """Whether the tier now serves what the demand entry asked for (the project, or that version of it), as far
    as the policies decide: promoted or vetted since it was asked for."""
    tier = Tier(entry.tier)
    if entry.version:
        return decide_version(tier, entry.project, entry.version, policies, datetime.now(UTC)).admitted
    return decide_project(tier, entry.project, policies).admitted


@dataclass(frozen=True, slots=True)
class Demanded:
    """A project clients asked a curated tier for: how often, in which tiers, and what promoting does."""

    name: str
    requests: int
    tiers: tuple[str, ...]
    versions: tuple[str, ...] = field(default=())


def demanded_projects(policies: PolicySet, entries: Iterable[DemandEntry]) -> tuple[list[Demanded], list[str]]:
    """The projects of the demand queue a promotion would serve (not reviewed, not blocked), most requested
    first; and lines about the others (blocked ones; reviewed ones that need a vetting instead)."""
    grouped: dict[str, list[DemandEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.project, []).append(entry)
    wanted: list[Demanded] = []
    other: list[str] = []
    for name, rows in grouped.items():
        policy = policies.of(name)
        if policy is not None and policy.project_block is not None:
            other.append(f"{name}: blocked ({policy.project_block.reason}), not promoted")
            continue
        if policy is not None and policy.review is not None:
            versions = sorted({r.version for r in rows if r.version})
            other.append(f"{name}: reviewed already; clients of 'vetted' asked for "
                         + (summarized(versions) if versions else "it") + ": that needs a vetting (mirror vet)")
            continue
        wanted.append(Demanded(name, sum(r.count for r in rows), tuple(sorted({r.tier for r in rows})),
                               tuple(sorted({r.version for r in rows if r.version}))))
    wanted.sort(key=lambda d: (-d.requests, d.name))
    return wanted, other
