"""The policies in force for a running server, re-read when policy files change.

A broken edit (an invalid file, or a directory that vanished or whose ``projects`` is not a directory) is
logged as an ERROR, kept as :attr:`PolicyStore.error` for ``/healthz``, and the last good :class:`PolicySet`
stays in force; ``generation`` counts successful reloads that changed the policies, so that prepared pages can
be keyed on it. Only a directory that exists and holds no project file (an explicit empty set) empties the
tiers; at start-up a missing directory is created as one (:meth:`PolicyStore.start`).

Nodes share one policy directory (docs/deployment.md). Each looks at it every ``interval`` seconds, and at the
database's policy *signal*, which a reviewer command leaves after changing a file (on any node): a new signal
makes the node re-read the directory at once, whatever the file system's attribute caches say, and again at each
look until it serves the version the signal names (for at most :data:`SIGNAL_CHASE` seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mirror.adapters.policy_dir import create_policy_dir, load_policies
from mirror.core.errors import MirrorError, PolicyError
from mirror.core.policy.model import PolicySet
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.policy")

#: Seconds after a signal during which a node whose directory does not show the signalled version yet re-reads it.
SIGNAL_CHASE = 60.0
#: Seconds between two log lines about an unreadable signal (the database is down).
_SIGNAL_WARN_EVERY = 60.0


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
class PolicySignal:
    """What a reviewer command leaves in the database after changing the policy directory: the version the
    directory then had (None if it could not be read), who changed it and how, and when (the database's clock)."""

    version: str | None
    by: str
    action: str
    at: float = 0.0

    def encode(self) -> str:
        return json.dumps({"version": self.version, "by": self.by, "action": self.action})

    @classmethod
    def decode(cls, text: str, at: float) -> PolicySignal | None:
        """The signal stored as ``text`` at ``at``; None when it is not one (an unknown format)."""
        try:
            data = json.loads(text)
            version = data.get("version")
            return cls(version if isinstance(version, str) else None, str(data.get("by", "")),
                       str(data.get("action", "")), at)
        except (ValueError, AttributeError):
            return None


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What ``/healthz`` reports: the version in force, when it was loaded, the last reload error, and the last
    signal seen in the database (None: none, or no database)."""

    version: str
    loaded_at: float | None
    error: PolicyError | None
    error_at: float | None
    signal: PolicySignal | None = None


class PolicyStore:
    """Holds the current PolicySet of one directory.

    ``signal()`` reads the database's policy signal (None: there is none); it may raise MirrorError when the
    database cannot be read (the directory is still watched).
    """

    def __init__(self, directory: Path, interval: float = 1.0, *,
                 signal: Callable[[], Awaitable[PolicySignal | None]] | None = None,
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.directory = directory
        self.interval = interval
        self._signal = signal
        self._telemetry = telemetry
        self.signal: PolicySignal | None = None
        self._signal_seen_at = 0.0
        self._signal_warned_at = 0.0
        self._signal_read = False
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
        if policies.version != self.current.version or self.generation == 0:
            self.current = policies
            self.generation += 1
            self._telemetry.policy_loaded(policies.version)
        return policies

    @property
    def state(self) -> PolicyState:
        return PolicyState(self.current.version, self.loaded_at, self.error, self.error_at, self.signal)

    async def reload_if_changed(self, *, force: bool = False) -> bool:
        """Reload when files changed (or when ``force``); returns True when new policies took effect."""
        fingerprint = await asyncio.to_thread(_fingerprint, self.directory)
        if fingerprint == self._fingerprint and not force:
            return False
        before = self.generation
        try:
            await asyncio.to_thread(self.load)
        except PolicyError as exc:
            if fingerprint != self._fingerprint or self.error is None or str(exc) != str(self.error):
                self._telemetry.policy_reload_failed()
            self._fingerprint = fingerprint  # report a broken edit once, not every poll
            self.error, self.error_at = exc, time.time()
            log.error("policy edit rejected, last good policy (version %s) stays in force: %s",
                      self.current.version, exc)
            return False
        if self.generation != before:
            log.info("policies reloaded version=%s projects=%d", self.current.version, len(self.current.projects))
            return True
        return False

    async def signalled(self) -> bool:
        """Whether the database's signal asks for a re-read now: a signal not seen before, or (for
        :data:`SIGNAL_CHASE` seconds after it) one naming a version other than the one in force."""
        if self._signal is None:
            return False
        try:
            signal = await self._signal()
        except MirrorError as exc:
            now = time.monotonic()
            if now - self._signal_warned_at > _SIGNAL_WARN_EVERY:
                self._signal_warned_at = now
                log.warning("cannot read the policy signal from the database (the directory is still watched): %s",
                            exc)
            return False
        first, self._signal_read = not self._signal_read, True
        if signal is None:
            return False
        if self.signal is None or signal.at != self.signal.at:
            # The signal found at start-up is history: the directory may well have changed since (a git pull).
            self.signal, self._signal_seen_at = signal, float("-inf") if first else time.monotonic()
            if not first:
                log.info("policy change signalled by=%s action=%s version=%s", signal.by, signal.action,
                         signal.version)
                return True
        chasing = time.monotonic() - self._signal_seen_at < SIGNAL_CHASE
        return chasing and signal.version is not None and signal.version != self.current.version

    async def watch(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reload_if_changed(force=await self.signalled())
            except Exception:  # keep watching whatever happens; the last good policy stays
                log.exception("policy reload failed")
