"""``promote``, ``demote`` and ``floor``: the commands that edit a project's ``[review]`` (whole sets are in
:mod:`.sets`). Each is a :class:`~mirror.services.review.service.ReviewService` method; the work is here."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from mirror.core.errors import ReviewError
from mirror.core.policy import edit
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import TierRules
from mirror.services.review.arguments import by_and_reason, option_text, project_name, release_version
from mirror.services.review.outcome import Outcome, nothing_changed, record
from mirror.services.review.typosquat import Resemblance, typosquat_gate
from mirror.services.review.wording import when

if TYPE_CHECKING:
    from mirror.services.review.service import ReviewService


def allow_missing_command(name: str) -> str:
    return command("mirror", "promote", name, "--allow-missing", "--by", "NAME", "--note", "TEXT")


def floor_line(name: str, floor: str | None, rules: TierRules) -> str:
    """What a promotion says about the floor it recorded (or did not)."""
    change = command("mirror", "floor", name, "VERSION", "--by", "NAME", "--reason", "TEXT")
    if floor is not None:
        return f"  floor {floor}: older releases of {name} stay out of 'reviewed' (to change: {change})"
    from mirror.core.policy.model import FloorMode

    why = ("floor = \"none\" in tiers.toml" if rules.floor is FloorMode.NONE
           else "no release of it is admitted yet, or --no-floor")
    return f"  no floor ({why}): resolvers may fall back to any old release of {name}; to set one: {change}"


async def promote(svc: ReviewService, project: str, by: str, note: str | None = None, *, allow_similar: bool = False,
                  allow_missing: bool = False, floor: str | None = None, no_floor: bool = False) -> Outcome:
    """Add ``[review]``: the project enters ``reviewed``, with its floor (see :meth:`promotion_floor`).
    Refuses look-alikes of known projects, and names upstream does not have unless ``allow_missing`` (with a
    note)."""
    name = project_name(project)
    by = option_text(by, "--by", required=True)
    note = option_text(note, "--note", required=False)
    if allow_similar and not note:
        raise ReviewError("--allow-similar needs --note saying why this is not a typo-squat")
    if allow_missing and not note:
        raise ReviewError("--allow-missing needs --note saying why a project upstream does not have is promoted")
    _, current = svc.files.read(name)
    if current is not None and current.review is not None:
        r = current.review
        return nothing_changed(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)} ({r.where})")
    typosquat_gate(name, svc.files.reviewed_names(besides=name), allow_similar=allow_similar)
    if floor is not None and no_floor:
        raise ReviewError("give --floor VERSION or --no-floor, not both")
    detail = None
    if not allow_missing:
        detail = await svc.upstream_detail(name)
        if detail is None:
            raise svc.missing_upstream(name)
    elif floor is None and not no_floor:
        with contextlib.suppress(ReviewError):
            detail = await svc.upstream_detail(name)
    chosen = svc.promotion_floor(name, detail, floor=floor, no_floor=no_floor)
    return await svc.promote_checked(name, by, note, allow_similar=allow_similar, floor=chosen)


async def promote_checked(svc: ReviewService, name: str, by: str, note: str | None, *, allow_similar: bool,
                          context: str | None = None, floor: str | None = None) -> Outcome:
    """Promote ``name`` (normalized; upstream's answer already checked) under the lock: the gate again
    (another command may have promoted a look-alike meanwhile), then the edit and its audit record, whose
    note ends with ``context`` (``as a dependency of flask 3.0.0``); ``floor`` is recorded when given."""
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        if policy is not None and policy.review is not None:
            r = policy.review
            return nothing_changed(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)}")
        similar: Resemblance = typosquat_gate(name, svc.files.reviewed_names(besides=name),
                                              allow_similar=allow_similar)
        now = svc.now()
        new = edit.set_review(text, by, now, note, floor=floor)
        audit_note = " ".join(p for p in (note, f"({context})" if context else None,
                                          f"[allowed although similar to {', '.join(similar.names)}]"
                                          if similar else None) if p)
        path, ids = await svc.change(name, new, [record(now, by, "promote", name, edit.snippet(text, "review"),
                                                        edit.snippet(new, "review"), audit_note)])
    lines = [f"promoted {name} into 'reviewed' ({path})"]
    if similar:
        lines.append(f"note: allowed although it looks like {similar.described}")
    if policy is not None and policy.project_block is not None:
        lines.append(f"note: {name} is blocked ({policy.project_block.reason}): it stays out of every tier until "
                     f"`{command('mirror', 'unblock', name, '--by', 'NAME', '--reason', 'TEXT')}`")
    lines.append(floor_line(name, floor, svc.tier_rules()))
    return svc.outcome(lines, path, ids)


async def demote(svc: ReviewService, project: str, by: str, reason: str, *, force: bool = False) -> Outcome:
    """Remove ``[review]``: the project leaves ``reviewed`` (and ``vetted``). Refused (ReviewError) when a
    project the tiers serve needs it, unless ``force``."""
    from mirror.services.review.guard import refuse_opening_holes

    name = project_name(project)
    by, reason = by_and_reason(by, reason)
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        if policy is None or policy.review is None:
            return nothing_changed(f"{name} is not reviewed (no [review] in {svc.files.project_path(name)})")
        new = edit.remove_review(text)
        guarded = await refuse_opening_holes(svc, name, new, f"demote {name}", command(
            "mirror", "demote", name, "--by", by, "--reason", reason, "--force"), force=force)
        now = svc.now()
        path, ids = await svc.change(name, new, [record(now, by, "demote", name, edit.snippet(text, "review"),
                                                        None, guarded.audit_note(reason))])
    lines = [f"demoted {name}: it is no longer in 'reviewed' or 'vetted' ({path})",
             *([guarded.note] if guarded.note else [])]
    if policy.vettings:
        lines.append(f"note: {len(policy.vettings)} vetted release(s) stay in the file; they take effect "
                     f"again if {name} is promoted again")
    return svc.outcome(lines, path, ids)


async def floor(svc: ReviewService, project: str, version: str, by: str, reason: str) -> Outcome:
    """Set the floor of a reviewed project (``version``), or remove it (``none``)."""
    name = project_name(project)
    floor = None if version.strip().lower() == "none" else release_version(version)
    by, reason = by_and_reason(by, reason)
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        if policy is None or policy.review is None:
            raise ReviewError(f"{name} is not reviewed, so it has no floor; promote it first: "
                              f"{command('mirror', 'promote', name, '--by', 'NAME', '--note', 'TEXT')}")
        if (canonical_version(floor) if floor else None) == policy.review.floor:
            return nothing_changed(f"the floor of {name} is already {floor or 'none'}")
        now = svc.now()
        new = edit.set_floor(text, floor)
        path, ids = await svc.change(name, new, [record(now, by, "floor", name, edit.snippet(text, "review"),
                                                        edit.snippet(new, "review"), reason)])
    shown = (f"floor of {name} set to {floor}: older releases stay out of 'reviewed'" if floor
             else f"floor of {name} removed: 'reviewed' admits its old releases again")
    return svc.outcome((f"{shown} ({path})",), path, ids)
