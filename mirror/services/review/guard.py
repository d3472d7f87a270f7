"""``demote``, ``block`` and ``unvet`` refuse to open a hole in a curated tier, the way a package manager refuses to
remove a package others need: the change is decided against the closures of ``reviewed`` and ``vetted`` before and after
(:func:`mirror.services.holes.opened`), and refused with the dependents and the complete ``--force`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mirror.core.errors import PolicyError, ReviewError
from mirror.core.policy.load import parse_project
from mirror.core.policy.model import PolicySet
from mirror.core.targets import Target
from mirror.services.holes import MAX_VETTED_RELEASES, opened, tier_holes
from mirror.services.review.inspection import Problem
from mirror.services.review.listing import summarized

if TYPE_CHECKING:
    from mirror.services.review.service import ReviewService

def configured_targets(svc: ReviewService) -> tuple[Target, ...]:
    """``[dependencies] targets`` of the configuration (empty: the running Python on Linux)."""
    return tuple(Target.parse(t) for t in svc.config.dependencies.targets)


async def refuse_opening_holes(svc: ReviewService, name: str, new_text: str, what: str, override: str, *,
                               instead: str = "Promote what they need instead") -> str | None:
    """Raise ReviewError (nothing changed) when making ``new_text`` the policy of ``name`` leaves a dependency
    of a project in ``reviewed`` or ``vetted`` unserved; ``what`` names the change (``demote idna``),
    ``override`` is the complete command that does it anyway, ``instead`` the way that keeps the dependents
    served. Returns a note when the check could not be made."""
    try:
        before = svc.policies()
        changed = parse_project(new_text, str(svc.project_path(name)), name)
    except PolicyError as exc:
        return f"note: dependents not checked: the policies do not load ({exc})"
    after = PolicySet(before.rules, {**before.projects, changed.name: changed}, before.version + "+change")
    try:
        runtime = await svc.runtime()
        gaps = await opened(runtime.closure, before, after, configured_targets(svc))
    except Exception as exc:  # noqa: BLE001 - any store or database failure: the change goes on, saying so
        return f"note: dependents not checked ({exc})"
    if not gaps:
        return None
    dependents = sorted({g.dependent for g in gaps if g.dependent})
    lines = [f"refusing to {what}: {summarized(dependents)} need(s) it, and the tier would no longer serve what "
             "they need:"]
    lines += [f"  {g.text}" for g in gaps]
    lines.append(f"nothing changed. {instead}, or do it anyway: {override}")
    raise ReviewError("\n".join(lines))


async def hole_problems(svc: ReviewService) -> list[Problem]:
    """``check``'s holes: the rows of :func:`mirror.services.holes.tier_holes` (those the UI shows), each at the
    dependent's vetting or ``[review]``; a proposal (not a failure) when they cannot be computed."""
    try:
        policies = svc.policies()
    except PolicyError:
        return []  # reported by the policy checks
    found: list[Problem] = []
    try:
        runtime = await svc.runtime()
        report = await tier_holes(runtime.closure, policies, configured_targets(svc))
    except Exception as exc:  # noqa: BLE001 - any store or database failure: said, not a crash
        return [Problem(str(svc.directory), None, f"holes not checked: {exc}", advice=True)]
    for gap in report.gaps:
        if gap.where is not None:  # always: tier_holes keeps only gaps of a dependent the tier holds
            found.append(Problem(gap.where.file, gap.where.line, gap.message))
    if report.unchecked:
        found.append(Problem(str(svc.directory), None, f"holes of {report.unchecked} vetted release(s) not "
                             f"checked: over {MAX_VETTED_RELEASES} vetted releases", advice=True))
    return found
