"""``demote``, ``block`` and ``unvet`` refuse to open a hole in a curated tier, the way a package manager refuses to
remove a package others need: the change is decided against the closures of ``reviewed`` and ``vetted`` before and after
(:func:`mirror.services.holes.opened`), and refused with the dependents and the complete ``--force`` command."""

from __future__ import annotations

from dataclasses import dataclass
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


#: Gaps a forced change names one by one in its warning and audit note.
_FORCED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Guarded:
    """What the hole check let through: ``note`` is said to the reviewer (the check could not be made, or what a
    forced change leaves unserved); ``forced`` names, for the audit record, the holes a forced change opened."""

    note: str | None = None
    forced: str | None = None

    def audit_note(self, reason: str) -> str:
        """The audit record's note: the reason, and the holes when the change was forced over them."""
        return reason if self.forced is None else f"{reason} [forced; it left unserved: {self.forced}]"


def unserved_text(gaps: list[str]) -> str:
    """What a forced change leaves unserved, in one line: the first :data:`_FORCED_SHOWN` gaps, then how many more
    (the warning and the audit note stay readable whatever the change breaks)."""
    shown = "; ".join(gaps[:_FORCED_SHOWN])
    return shown + (f"; and {len(gaps) - _FORCED_SHOWN} more" if len(gaps) > _FORCED_SHOWN else "")


async def refuse_opening_holes(svc: ReviewService, name: str, new_text: str, what: str, override: str, *,
                               instead: str = "Promote what they need instead", force: bool = False) -> Guarded:
    """Raise ReviewError (nothing changed) when making ``new_text`` the policy of ``name`` leaves a dependency
    of a project in ``reviewed`` or ``vetted`` unserved; ``what`` names the change (``demote idna``),
    ``override`` is the complete command that does it anyway, ``instead`` the way that keeps the dependents
    served. With ``force`` the change goes on, and what it leaves unserved is said and audited (a forced change
    is never silent). The note says when the check could not be made."""
    try:
        before = svc.policies()
        changed = parse_project(new_text, str(svc.project_path(name)), name)
    except PolicyError as exc:
        return Guarded(f"note: dependents not checked: the policies do not load ({exc})")
    after = PolicySet(before.rules, {**before.projects, changed.name: changed}, before.version + "+change")
    try:
        runtime = await svc.runtime()
        gaps = await opened(runtime.closure, before, after, configured_targets(svc))
    except Exception as exc:  # noqa: BLE001 - any store or database failure: the change goes on, saying so
        return Guarded(f"note: dependents not checked ({exc})")
    if not gaps:
        return Guarded()
    if force:
        left = unserved_text([g.text for g in gaps])
        return Guarded(f"warning: forced: the tiers no longer serve what their projects need: {left} (see mirror "
                       "check)", left)
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
