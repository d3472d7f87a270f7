"""``block``, ``unblock`` and ``waive``: the commands that edit a project's ``[[block]]`` and ``[[waiver]]``
entries. Each is a :class:`~mirror.services.review.service.ReviewService` method; the work is here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mirror.core.errors import ReviewError
from mirror.core.policy import edit
from mirror.core.policy.commands import command
from mirror.core.policy.model import WaivedRule
from mirror.services.review.arguments import BlockTarget, by_and_reason, option_text, parse_target, until_time
from mirror.services.review.outcome import Outcome, nothing_changed, record
from mirror.services.review.wording import when

if TYPE_CHECKING:
    from mirror.services.review.service import ReviewService


async def block(svc: ReviewService, target: str, by: str, reason: str, *, force: bool = False) -> Outcome:
    """Add a ``[[block]]`` of the project, or of one release (``PROJECT==VERSION``). Refused (ReviewError)
    when a project the curated tiers serve needs what it blocks, unless ``force``."""
    from mirror.services.review.guard import Guarded, refuse_opening_holes

    t = BlockTarget.parse(target)
    by, reason = by_and_reason(by, reason)
    guarded = Guarded()
    async with svc.files.locked():
        text, policy = svc.files.read(t.name)
        for b in policy.blocks if policy else ():
            if (b.versions is None and t.spec is None) or (
                    b.versions is not None and t.spec is not None and str(b.versions) == t.spec):
                return nothing_changed(f"{t.shown} is already blocked by {b.signed.by} on {when(b.signed)}: "
                                       f"{b.reason} ({b.where})")
        now = svc.now()
        new = edit.add_block(text, t.spec, reason, by, now)
        if policy is not None and policy.review is not None:
            guarded = await refuse_opening_holes(svc, t.name, new, f"block {t.shown}", command(
                "mirror", "block", t.shown, "--by", by, "--reason", reason, "--force"), force=force)
        path, ids = await svc.change(t.name, new, [record(now, by, "block", t.shown, None,
                                                          edit.snippet(new, "block", t.spec),
                                                          guarded.audit_note(reason))])
    what = f"release {t.version} of {t.name}" if t.version else f"{t.name} (every release)"
    return svc.outcome((f"blocked {what} in every tier ({path})", *([guarded.note] if guarded.note else [])),
                       path, ids)


async def unblock(svc: ReviewService, target: str, by: str, reason: str) -> Outcome:
    """Remove the blocks of the project (``PROJECT``) or of one release (``PROJECT==VERSION``)."""
    t = BlockTarget.parse(target)
    by, reason = by_and_reason(by, reason)
    async with svc.files.locked():
        text, policy = svc.files.read(t.name)
        new, count = edit.remove_blocks(text, t.spec)
        if count == 0:
            existing = [f"{b.versions or 'whole project'} ({b.where})" for b in (policy.blocks if policy else ())]
            return nothing_changed(f"{t.shown} is not blocked; blocks of {t.name}: "
                                   + ("; ".join(existing) if existing else "none"))
        now = svc.now()
        path, ids = await svc.change(t.name, new, [record(now, by, "unblock", t.shown,
                                                          edit.snippet(text, "block", t.spec), None, reason)])
    return svc.outcome((f"unblocked {t.shown} ({count} block(s) removed from {path})",), path, ids)


async def waive(svc: ReviewService, target: str, rule: str, until: str, by: str, reason: str,
                advisory: str | None = None) -> Outcome:
    """Add a ``[[waiver]]``: ``rule`` (vulnerability, license, cooldown) does not hold release ``target``
    (``PROJECT==VERSION``) back until ``until``; ``advisory`` limits a vulnerability waiver to one advisory."""
    name, version = parse_target(target)
    if version is None:
        raise ReviewError(f"{target!r}: a waiver is for one release: give PROJECT==VERSION")
    if rule not in [w.value for w in WaivedRule]:
        raise ReviewError(f"--rule {rule!r}: one of {', '.join(w.value for w in WaivedRule)} (malware cannot be "
                          "waived)")
    advisory = option_text(advisory, "--id", required=False)
    if advisory is not None and rule != WaivedRule.VULNERABILITY:
        raise ReviewError("--id names an advisory: only with --rule vulnerability")
    by, reason = by_and_reason(by, reason)
    now = svc.now()
    expires = until_time(until, now)
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        new = edit.add_waiver(text, version, rule, expires, reason, by, now, advisory)
        path, ids = await svc.change(name, new, [record(now, by, "waive", f"{name}=={version}", None,
                                                        edit.snippet(new, "waiver", version), reason)])
    what = f"{rule}" + (f" ({advisory})" if advisory else "")
    lines = [f"waived {what} for {name} {version} until {expires:%Y-%m-%d %H:%M} UTC ({path}); it is held "
             "by that rule again afterwards"]
    if policy is None or policy.review is None:
        lines.append(f"note: {name} is not reviewed: the waiver matters only where a rule of 'all' applies")
    return svc.outcome(tuple(lines), path, ids)
