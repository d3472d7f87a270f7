"""One fetch per key across every process and node sharing the database.

Inside one process, concurrent requests for a cold page or file already share one fetch (the caches' and the
downloader's single flight). :class:`SharedFlight` extends that to every process (``[server] workers``) and
node sharing the database, with the leases of :mod:`mirror.adapters.db.leases`:

- the process that takes a key's lease *leads*: it fetches, stores the result (the page record, the verified
  file), then releases the lease, leaving how it ended (ok, gone, failed, timeout) for the others;
- every other process *follows*: it waits, looking at the lease (never at upstream) with a growing pause up to
  ``[cluster] lease_poll``; once the lease is released it reads the result from the database or the store, or
  takes the failure the leader met; once the lease has *expired* (its holder died: a node renews its leases every
  third of ``[cluster] lease_ttl``), it takes the lease over and fetches itself;
- a follower waits at most ``wait`` seconds (the leader's own deadline plus a lease period), then gives up with
  UpstreamTimeout.

When the database cannot be used for leases, the process fetches on its own (logged, counted): availability
comes first, duplicates are only a cost. A leader that gives up for a reason of its own (its store failed, it
is shutting down, every client left) releases without an outcome, so a follower takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mirror.adapters.db.leases import LeaseRow
from mirror.core.errors import DatabaseError, IntegrityError, MirrorError, ParseError, UpstreamError, UpstreamTimeout
from mirror.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("mirror.leases")
T = TypeVar("T")

#: Outcomes a released lease carries (None: given up, the next node takes over).
OK, GONE, FAILED, TIMEOUT, REFUSED = "ok", "gone", "failed", "timeout", "refused"
#: The first pause of a waiting node (it doubles up to ``lease_poll``): most cold fetches take well under a second.
_FIRST_PAUSE = 0.02


class LeaseStore(Protocol):
    """The lease queries (:class:`mirror.adapters.db.leases.LeaseTable`); each raises DatabaseError."""

    async def read(self, key: str) -> LeaseRow | None: ...

    async def take(self, key: str, owner: str, ttl: float) -> bool: ...

    async def renew(self, owner: str, keys: set[str], ttl: float) -> set[str]: ...

    async def release(self, key: str, owner: str, outcome: str | None, detail: str | None = None) -> bool: ...

    async def prune(self, keep: float) -> int: ...


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """``ttl``: seconds a lease lasts unless renewed; ``poll``: the longest pause between two looks of a waiting
    process; ``keep``: seconds released and expired rows are kept (for the nodes still waiting) before pruning."""

    ttl: float = 10.0
    poll: float = 0.5
    keep: float = 60.0


class LeaseBusy(MirrorError):
    """Another process held a lease for longer than this one could wait."""


def new_owner(node: str) -> str:
    """A lease owner name unique to this process (and to this start of it): ``node/pid/random``."""
    return f"{node}/{os.getpid()}/{secrets.token_hex(4)}"


class Leases:
    """The leases of this process: taken, renewed together by one heartbeat task while any is held, released.

    ``owner`` names this process in every lease it takes (:func:`new_owner`).
    """

    def __init__(self, store: LeaseStore, owner: str, settings: LeaseSettings = LeaseSettings(),
                 telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.store = store
        self.owner = owner
        self.settings = settings
        self._telemetry = telemetry
        self._held: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._pruned_at = time.monotonic()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def take(self, key: str) -> bool:
        """Take ``key``'s lease if nobody holds it; True when this process holds it now. Raises DatabaseError."""
        if not await self.store.take(key, self.owner, self.settings.ttl):
            return False
        self._held.add(key)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._renew_while_held())
        return True

    async def read(self, key: str) -> LeaseRow | None:
        """The lease of ``key`` as stored; raises DatabaseError."""
        return await self.store.read(key)

    async def release(self, key: str, outcome: str | None, detail: str | None = None) -> None:
        """Release ``key`` (never raises: a lease that cannot be released expires by itself within ``ttl``)."""
        self._held.discard(key)
        try:
            if not await self.store.release(key, self.owner, outcome, detail):
                log.warning("lease key=%s had expired before it was released (another node may have fetched "
                            "it too)", key)
            if time.monotonic() - self._pruned_at > self.settings.keep:
                self._pruned_at = time.monotonic()
                await self.store.prune(self.settings.keep)
        except DatabaseError as exc:
            log.warning("could not release lease key=%s (it expires in %g s): %s", key, self.settings.ttl, exc)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, wait: float) -> AsyncIterator[None]:
        """Hold ``key``'s lease for the block, waiting up to ``wait`` seconds for it (a lock across processes and
        nodes that a dead holder loses within ``ttl``). Raises LeaseBusy after ``wait``, DatabaseError."""
        deadline = time.monotonic() + wait
        pause = _FIRST_PAUSE
        while not await self.take(key):
            if time.monotonic() > deadline:
                raise LeaseBusy(f"another process has held {key!r} for more than {wait:g} s; try again")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.poll)
        try:
            yield
        finally:
            await self.release(key, None)

    async def _renew_while_held(self) -> None:
        while self._held:
            await asyncio.sleep(self.settings.ttl / 3)
            keys = set(self._held)
            if not keys:
                break
            try:
                kept = await self.store.renew(self.owner, keys, self.settings.ttl)
            except DatabaseError as exc:
                log.warning("could not renew %d lease(s): %s", len(keys), exc)
                continue
            for key in (keys & self._held) - kept:
                self._held.discard(key)
                self._telemetry.lease_lost(key.split(":", 1)[0])
                log.warning("lease lost key=%s: it expired before it was renewed (another node may fetch it too)",
                            key)

    async def close(self) -> None:
        """Stop renewing (at shutdown); leases still held expire within ``ttl``."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None


def ending_of(exc: BaseException, absent: type[Exception] | None) -> tuple[str | None, str | None]:
    """The outcome (and detail) a leader that failed with ``exc`` leaves for its followers. Only upstream's
    answers are passed on; a failure of this process's own (store, database, shutdown) leaves None, so that a
    follower fetches instead."""
    if absent is not None and isinstance(exc, absent):
        return GONE, None
    if isinstance(exc, UpstreamTimeout):
        return TIMEOUT, exc.public or str(exc)
    if isinstance(exc, IntegrityError):
        return REFUSED, str(exc)
    if isinstance(exc, (UpstreamError, ParseError)):
        return FAILED, str(exc)
    return None, None


def failure_of(key: str, row: LeaseRow, absent: type[Exception] | None) -> Exception | None:
    """What a follower raises for a lease released with a failure (None for "ok" or no outcome)."""
    detail = row.detail or "no detail"
    if row.outcome == GONE and absent is not None:
        return absent(key)
    if row.outcome == TIMEOUT:
        return UpstreamTimeout(key, f"another node's fetch timed out: {detail}", public=row.detail)
    if row.outcome == REFUSED:
        return IntegrityError(key, "the advertised hashes", f"other bytes (another node's download: {detail})")
    if row.outcome in (FAILED, GONE):
        return UpstreamError(key, f"another node's fetch failed: {detail}")
    return None


class _TakeOver:
    """The lease is free and nothing landed: try to lead."""


_TAKE_OVER = _TakeOver()


class SharedFlight:
    """One fetch per key across processes and nodes (see the module docstring); ``kind`` prefixes the lease
    keys (``page``, ``file``...) and labels the telemetry."""

    def __init__(self, leases: Leases, kind: str, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._leases = leases
        self.kind = kind
        self._telemetry = telemetry
        self._warned_at = 0.0

    async def run(self, key: str, lead: Callable[[], Awaitable[T]], follow: Callable[[], Awaitable[T | None]], *,
                  wait: float, absent: type[Exception] | None = None) -> T:
        """``lead()`` if this process takes the lease of ``key``, else wait for the process that holds it and
        return ``follow()`` (the result it stored: None while there is none).

        ``follow()`` is also asked once right after the lease is taken (the result may have landed just before).
        Raises what ``lead()`` raises; as a follower, the failure the leader met (``absent(key)`` for a key
        upstream does not have, UpstreamError, UpstreamTimeout, IntegrityError), or UpstreamTimeout after
        ``wait`` seconds.
        """
        lease = f"{self.kind}:{key}"
        deadline = time.monotonic() + wait
        began: float | None = None
        while True:
            try:
                taken = await self._leases.take(lease)
            except DatabaseError as exc:
                self._uncoordinated(lease, exc)
                return await lead()
            if taken:
                result = await self._lead(lease, lead, follow, absent)
                if began is not None:
                    self._telemetry.lease_wait(self.kind, time.monotonic() - began, "took_over")
                return result
            if began is None:
                began = time.monotonic()
            try:
                found = await self._follow(key, lease, follow, deadline, absent)
            except UpstreamTimeout:
                self._telemetry.lease_wait(self.kind, time.monotonic() - began, "timeout")
                raise
            except Exception as exc:
                how = "gone" if absent is not None and isinstance(exc, absent) else "failed"
                self._telemetry.lease_wait(self.kind, time.monotonic() - began, how)
                raise
            if not isinstance(found, _TakeOver):
                self._telemetry.lease_wait(self.kind, time.monotonic() - began, "landed")
                return found

    async def _lead(self, lease: str, lead: Callable[[], Awaitable[T]], follow: Callable[[], Awaitable[T | None]],
                    absent: type[Exception] | None) -> T:
        outcome: str | None = None
        detail: str | None = None
        try:
            found = await follow()  # landed between this process's look and its lease
            result = found if found is not None else await lead()
            outcome = OK
            return result
        except BaseException as exc:
            outcome, detail = ending_of(exc, absent)
            raise
        finally:
            await self._leases.release(lease, outcome, detail)

    async def _follow(self, key: str, lease: str, follow: Callable[[], Awaitable[T | None]], deadline: float,
                      absent: type[Exception] | None) -> T | _TakeOver:
        """Wait until the lease is free; the result that landed, the leader's failure, or _TAKE_OVER."""
        pause = _FIRST_PAUSE
        since: float | None = None  # the database's clock when this process began to wait
        while True:
            try:
                row = await self._leases.read(lease)
            except DatabaseError as exc:
                self._uncoordinated(lease, exc)
                found = await follow()
                return found if found is not None else _TAKE_OVER
            if since is None and row is not None:
                since = row.now
            if row is None or not row.held:
                found = await follow()
                if found is not None:
                    return found
                if row is not None and row.owner is None and since is not None and row.changed_at >= since:
                    failure = failure_of(key, row, absent)
                    if failure is not None:
                        raise failure
                if row is not None and row.owner is not None:
                    log.warning("lease key=%s of %s expired: taking over", lease, row.owner)
                return _TAKE_OVER
            if time.monotonic() >= deadline:
                raise UpstreamTimeout(key, f"{row.owner} has been fetching it for longer than this node waits",
                                      public="another node's fetch took too long")
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, self._leases.settings.poll)

    def _uncoordinated(self, lease: str, exc: DatabaseError) -> None:
        self._telemetry.coordination_failed()
        now = time.monotonic()
        if now - self._warned_at > 60:  # one line a minute, not one per request, while the database is down
            self._warned_at = now
            log.warning("cannot coordinate fetches through the database, fetching without a lease (key=%s): %s",
                        lease, exc)
