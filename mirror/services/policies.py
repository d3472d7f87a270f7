"""The policies in force for a running server, re-read when policy files change.

An invalid edit is logged and the last good :class:`PolicySet` stays in force; ``generation`` counts
successful reloads so that prepared pages can be keyed on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from mirror.adapters.policy_dir import load_policies
from mirror.core.errors import PolicyError
from mirror.core.policy.model import PolicySet

log = logging.getLogger("mirror.policy")


def _fingerprint(directory: Path) -> tuple:
    """(path, mtime_ns, size) of every file under ``directory``: changes when any file does."""
    entries = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            entries.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


class PolicyStore:
    """Holds the current PolicySet of one directory."""

    def __init__(self, directory: Path, interval: float = 1.0) -> None:
        self.directory = directory
        self.interval = interval
        self.current = PolicySet()
        self.generation = 0
        self._fingerprint: tuple = ()

    def load(self) -> PolicySet:
        """Load now (blocking); raises PolicyError, leaving the current policies unchanged."""
        fingerprint = _fingerprint(self.directory)
        policies = load_policies(self.directory)
        self._fingerprint = fingerprint
        if policies.version != self.current.version:
            self.current = policies
            self.generation += 1
        return policies

    async def reload_if_changed(self) -> bool:
        """Reload when files changed; returns True when new policies took effect."""
        fingerprint = await asyncio.to_thread(_fingerprint, self.directory)
        if fingerprint == self._fingerprint:
            return False
        before = self.generation
        try:
            await asyncio.to_thread(self.load)
        except PolicyError as exc:
            self._fingerprint = fingerprint  # report a broken edit once, not every poll
            log.error("policy edit rejected, last good policy stays in force: %s", exc)
            return False
        if self.generation != before:
            log.info("policies reloaded version=%s projects=%d", self.current.version, len(self.current.projects))
            return True
        return False

    async def watch(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reload_if_changed()
            except Exception:  # keep watching whatever happens; the last good policy stays
                log.exception("policy reload failed")
