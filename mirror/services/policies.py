"""The policies in force for a running server, re-read when policy files change.

A broken edit (an invalid file, or a directory that vanished or whose ``projects`` is not a directory) is
logged as an ERROR, kept as :attr:`PolicyStore.error` for ``/healthz``, and the last good :class:`PolicySet`
stays in force; ``generation`` counts successful reloads that changed the policies, so that prepared pages can
be keyed on it. Only a directory that exists and holds no project file (an explicit empty set) empties the
tiers; at start-up a missing directory is created as one (:meth:`PolicyStore.start`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mirror.adapters.policy_dir import create_policy_dir, load_policies
from mirror.core.errors import PolicyError
from mirror.core.policy.model import PolicySet

log = logging.getLogger("mirror.policy")


def _fingerprint(directory: Path) -> tuple:
    """(path, mtime_ns, size) of every file under ``directory``, and what ``directory`` itself is: changes when
    any file does, and when the directory appears, vanishes or is replaced."""
    try:
        st = os.stat(directory)
        top: tuple = (st.st_ino, st.st_dev, st.st_mode)
    except OSError as exc:
        top = ("missing", exc.errno)
    entries = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            entries.append((path, st.st_mtime_ns, st.st_size, st.st_mode))
    return (top, tuple(sorted(entries)))


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What ``/healthz`` reports: the version in force, when it was loaded, and the last reload error."""

    version: str
    loaded_at: float | None
    error: PolicyError | None
    error_at: float | None


class PolicyStore:
    """Holds the current PolicySet of one directory."""

    def __init__(self, directory: Path, interval: float = 1.0) -> None:
        self.directory = directory
        self.interval = interval
        self.current = PolicySet()
        self.generation = 0
        self.loaded_at: float | None = None
        #: The last reload's error while it is not fixed (the last good policy is in force meanwhile).
        self.error: PolicyError | None = None
        self.error_at: float | None = None
        self._fingerprint: tuple = ()

    def start(self) -> PolicySet:
        """The first load (blocking): a missing directory is created as an explicit empty set, and logged.

        Raises PolicyError when the directory cannot be created or holds an invalid policy.
        """
        if create_policy_dir(self.directory):
            log.warning("policy directory %s did not exist: created it empty, so 'reviewed' and 'vetted' are "
                        "empty until a reviewer promotes a project", self.directory)
        return self.load()

    def load(self) -> PolicySet:
        """Load now (blocking); raises PolicyError, leaving the current policies unchanged."""
        fingerprint = _fingerprint(self.directory)
        policies = load_policies(self.directory)
        self._fingerprint = fingerprint
        self.loaded_at = time.time()
        if self.error is not None:
            log.info("policy directory usable again: version=%s", policies.version)
        self.error, self.error_at = None, None
        if policies.version != self.current.version:
            self.current = policies
            self.generation += 1
        return policies

    @property
    def state(self) -> PolicyState:
        return PolicyState(self.current.version, self.loaded_at, self.error, self.error_at)

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
            self.error, self.error_at = exc, time.time()
            log.error("policy edit rejected, last good policy (version %s) stays in force: %s",
                      self.current.version, exc)
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
