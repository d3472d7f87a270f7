"""The admin API's changes to the tiers: the very :class:`ReviewService` code the ``mirror`` command runs.

Each change gets a fresh ReviewService in a worker thread with its own event loop, exactly as one CLI
invocation would: the same argument checks, typo-squat gate, locked and validated policy edit, audit record
first. The reviewer commands read every policy file (the typo-squat gate) and may verify provenance offline:
blocking work that must never run on the server's event loop. The actor is the token's name. Once a change is
made the server reloads its policies at once, so the next page shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mirror.config import Config
from mirror.core.auth import Action
from mirror.core.errors import ReviewError
from mirror.services.policies import PolicyStore
from mirror.services.review import Outcome, ReviewService

#: Longest note or reason accepted (the policy files and the audit log keep them).
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Change:
    """One change asked of the API: the action, on a project or one of its releases, by whom, with what body."""

    action: Action
    project: str
    version: str | None
    by: str
    body: Mapping[str, Any]


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReviewError(f"'{key}' must be a string")
    if len(value) > MAX_TEXT:
        raise ReviewError(f"'{key}' is longer than {MAX_TEXT} characters")
    return value


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if isinstance(value, str):  # from an HTML form: a checkbox sends "on" (or "true") when checked
        return value.lower() in ("on", "true", "1", "yes")
    if not isinstance(value, bool):
        raise ReviewError(f"'{key}' must be true or false")
    return value


def _call(change: Change) -> Callable[[ReviewService], Awaitable[Outcome]]:
    """The ReviewService call that makes ``change`` (what the matching CLI command calls); the body is checked
    here, before any work. Raises ReviewError for a bad body."""
    body, name, version, by = change.body, change.project, change.version, change.by
    target = f"{name}=={version}" if version else name
    action = change.action
    if action is Action.PROMOTE:
        note, similar = _text(body, "note"), _flag(body, "allow_similar")
        return lambda s: s.promote(name, by, note, allow_similar=similar)
    if action is Action.VET:
        assert version is not None
        note, override = _text(body, "note"), _flag(body, "override_uploaders")
        publisher = _text(body, "trust_publisher") or None
        return lambda s: s.vet(name, version, by, note, override_uploaders=override, trust_publisher=publisher)
    reason = _text(body, "reason") or ""
    force = _flag(body, "force")  # over the hole check, as the CLI's --force (said and audited)
    if action is Action.DEMOTE:
        return lambda s: s.demote(name, by, reason, force=force)
    if action is Action.BLOCK:
        return lambda s: s.block(target, by, reason, force=force)
    if action is Action.UNBLOCK:
        return lambda s: s.unblock(target, by, reason)
    if action is Action.UNVET:
        assert version is not None
        return lambda s: s.unvet(name, version, by, reason, force=force)
    raise ReviewError(f"{action.value} is not a change of the tiers")


class AdminActions:
    """Runs API changes (at most ``concurrency`` at once) and reloads ``policies`` after each."""

    def __init__(self, config: Config, policies: PolicyStore, concurrency: int = 2) -> None:
        self._config = config
        self._policies = policies
        self._slots = asyncio.Semaphore(concurrency)

    async def apply(self, change: Change) -> Outcome:
        """Make ``change``; raises ReviewError (AuditUnavailable when the audit log cannot be written) saying why
        nothing changed."""
        call = _call(change)  # bad bodies are refused before any work
        config = self._config

        async def run() -> Outcome:
            async with ReviewService(config) as service:
                return await call(service)

        async with self._slots:
            outcome = await asyncio.to_thread(asyncio.run, run())
        await self._policies.reload_if_changed()
        return outcome
