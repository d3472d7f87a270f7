"""Waivers expire by themselves: the views holding a waived release are decided again at the expiry (their
``valid_until``); this task only says so in the log, when it happens, so operators see a release fall back to
its rule. Waivers already expired at start-up are noted once (they can be removed from the policy file)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from mirror.core.policy.model import PolicySet, Waiver
from mirror.services.policies import PolicyStore

log = logging.getLogger("mirror.waivers")

#: The longest sleep between looks (policies may gain waivers meanwhile).
MAX_SLEEP = 60.0

Key = tuple[str, str, str, str | None, datetime]


def _key(project: str, w: Waiver) -> Key:
    return (project, w.version, w.rule.value, w.advisory, w.until)


class WaiverLog:
    """What :func:`watch` has said about each waiver: waivers seen in force, and expiries logged."""

    def __init__(self) -> None:
        self.active: set[Key] = set()
        self.expired: set[Key] = set()

    def look(self, policies: PolicySet, now: datetime) -> datetime | None:
        """Log the waivers that expired since the last look; returns the next expiry (None: none ahead)."""
        upcoming: datetime | None = None
        current: set[Key] = set()
        for policy in policies.projects.values():
            for w in policy.waivers:
                key = _key(policy.name, w)
                current.add(key)
                if w.active(now):
                    self.active.add(key)
                    upcoming = w.until if upcoming is None else min(upcoming, w.until)
                elif key not in self.expired:
                    self.expired.add(key)
                    what = f"{w.rule.value}" + (f" of {w.advisory}" if w.advisory else "")
                    if key in self.active:
                        log.warning("waiver expired: %s==%s is held by its %s rule again (waived by %s until %s: "
                                    "%s; %s)", policy.name, w.version, what, w.signed.by,
                                    f"{w.until:%Y-%m-%d %H:%M} UTC", w.reason, w.where)
                    else:
                        log.info("waiver of %s for %s==%s expired on %s; it can be removed (%s)", what,
                                 policy.name, w.version, f"{w.until:%Y-%m-%d %H:%M} UTC", w.where)
        self.active &= current
        self.expired &= current
        return upcoming


async def watch(policies: PolicyStore, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Log waivers as they expire, until cancelled."""
    state = WaiverLog()
    while True:
        upcoming = state.look(policies.current, now())
        delay = MAX_SLEEP if upcoming is None else min(MAX_SLEEP, max(0.05, (upcoming - now()).total_seconds()))
        await asyncio.sleep(delay)
