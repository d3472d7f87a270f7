"""Tier views and prepared response bytes: a memo around :func:`mirror.core.tiers.decide_page`.

For each (tier, project) the view is kept with the *stamp* it was decided from — the upstream page revision, the
policy generation and the project's evidence revision — and the time until which it holds (a cooldown ending
admits a file). Each representation is rendered once per view (plus its gzip form and ETags). A warm request
compares the stamp and returns bytes: no parsing, deciding, rendering or database round-trip on the hot path.
Projects a tier keeps out are answered before any upstream fetch. Big pages are decided and rendered in the CPU
lane, off the event loop.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

import jinja2
import msgspec

from mirror.core.errors import FileNotListed, ProjectNotFound
from mirror.core.lru import LRU
from mirror.core.models import DistFile, Format, ProjectDetail, Tier
from mirror.core.policy.evaluate import decide_project
from mirror.core.policy.evidence import holds_vulnerable
from mirror.core.policy.explain import Explanation, explain
from mirror.core.policy.model import PolicySet
from mirror.core.simple.render import FragmentCache, render_project
from mirror.core.tiers import Evidence, Servable, TierView, decide_page, servable_page
from mirror.services.cache import Entry
from mirror.services.cpu import CpuLane

#: Pages smaller than this are not worth compressing.
_GZIP_MIN = 1024
#: Pages with more files than this are decided and rendered in the CPU lane.
_OFFLOAD_FILES = 1000
#: ...and so are pages whose files times advisories exceed this (matching them takes milliseconds).
_OFFLOAD_MATCHING = 20_000
_FOREVER = float("inf")

Stamp = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """Response bytes of one representation of one page, with strong ETags for each encoding."""

    stamp: Stamp
    valid_until: float
    body: bytes
    etag: str
    gzip_body: bytes | None
    gzip_etag: str | None
    serial: int | None
    prepared_ms: float


def prepare_bytes(stamp: Stamp, valid_until: float, fmt: Format, body: bytes, serial: int | None,
                  started: float) -> PreparedPage:
    """``body`` with its ETags and gzip form (blocking: hashing and compressing a big page takes milliseconds)."""
    digest = hashlib.sha256(fmt.value.encode() + b"\0" + body).hexdigest()[:32]
    # Big pages get a fast compression level: preparing them must stay quick (they still shrink ~8x).
    level = 6 if len(body) < 128 * 1024 else 1
    gz = gzip.compress(body, compresslevel=level, mtime=0) if len(body) >= _GZIP_MIN else None
    return PreparedPage(stamp=stamp, valid_until=valid_until, body=body, etag=f'"{digest}"', gzip_body=gz,
                        gzip_etag=f'"{digest}-gz"' if gz is not None else None, serial=serial,
                        prepared_ms=(time.perf_counter() - started) * 1000)


#: A filename that percent-encoding leaves as it is (quote's always-safe characters).
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]+")


def file_href(f: DistFile, project: str) -> str:
    """A file's URL relative to its project page ``/<tier>/simple/<project>/``."""
    name = f.filename
    # Most filenames need no quoting: skipping quote() matters on pages of 15,000 files.
    return f"../../files/{project}/{name if _UNQUOTED.fullmatch(name) else quote(name, safe='')}"


def _release_of(detail: ProjectDetail, filename: str) -> tuple[tuple[DistFile, ...], tuple[DistFile, ...]]:
    """The files of ``detail`` named ``filename`` (none, or one), and every file of their release."""
    listed = tuple(f for f in detail.files if f.filename == filename)
    if not listed:
        return (), ()
    version = listed[0].version
    return listed, tuple(f for f in detail.files if f.version == version)


class PageSource(Protocol):
    """The pages a tier view is decided from (:class:`mirror.services.pages.PageService`)."""

    def peek(self, project: str) -> Entry[ProjectDetail] | None: ...

    async def project(self, project: str) -> Entry[ProjectDetail]: ...


class PolicySource(Protocol):
    """The policies in force (:class:`mirror.services.policies.PolicyStore`)."""

    @property
    def current(self) -> PolicySet: ...

    @property
    def generation(self) -> int: ...


class EvidenceSource(Protocol):
    """The mirror's own evidence (:class:`mirror.services.evidence.EvidenceService`)."""

    def revision(self, project: str) -> int: ...

    async def for_page(self, project: str, detail: ProjectDetail, *, wait_for_advisories: bool = True
                       ) -> Evidence: ...

    def wants_licenses(self, project: str) -> bool:
        """Whether a licence rule applies to ``project`` (the evidence then includes its licences)."""
        ...

    def observe(self, view: TierView) -> None:
        """Log and count what a newly decided view serves under a rule in shadow mode."""
        ...

    @property
    def quarantined(self) -> frozenset[str]:
        """Projects a malware report covers entirely: listed in no tier."""
        ...

    @property
    def list_revision(self) -> int:
        """Changes whenever :attr:`quarantined` does."""
        ...


@dataclass(frozen=True, slots=True)
class _Known:
    stamp: Stamp
    valid_until: float
    view: TierView
    stale: bool


class PreparedPages:
    """Tier views of :class:`PageService` pages and their prepared bytes (see the module docstring)."""

    def __init__(self, pages: PageSource, evidence: EvidenceSource, env: jinja2.Environment,
                 policies: PolicySource, cpu: CpuLane, clock: Callable[[], float] = time.time,
                 capacity: int = 8192) -> None:
        self._pages = pages
        self._evidence = evidence
        self._env = env
        self._policies = policies
        self._cpu = cpu
        self._clock = clock
        # Bounded so that memory stays flat however many projects clients ask for.
        self._prepared: LRU[tuple[Tier, str, Format], PreparedPage] = LRU(capacity)
        self._views: LRU[tuple[Tier, str], _Known] = LRU(capacity)
        #: per project: the key it was gathered for, the evidence, the servable files, whether it waited
        self._servable: LRU[str, tuple[Stamp, Evidence, tuple[Servable, ...], bool]] = LRU(capacity)
        self._fragments = FragmentCache()

    def _stamp(self, revision: str, project: str) -> Stamp:
        return (revision, self._policies.generation, self._evidence.revision(project))

    async def project(self, tier: Tier, project: str, fmt: Format) -> tuple[PreparedPage, bool]:
        """The prepared page and whether it is stale; raises ProjectNotFound / UpstreamError."""
        key = (tier, project, fmt)
        prepared = self._prepared.get(key)
        cached = self._pages.peek(project)
        if (prepared is not None and cached is not None and self._clock() < prepared.valid_until
                and prepared.stamp == self._stamp(cached.revision, project)):
            return prepared, cached.stale  # the hot path: no I/O, no deciding, no rendering
        known = await self._known(tier, project)
        if prepared is None or prepared.stamp != known.stamp or self._clock() >= prepared.valid_until:
            started = time.perf_counter()
            detail = known.view.detail
            if len(detail.files) > _OFFLOAD_FILES:
                prepared = await self._cpu.run(self._render, known, fmt, started)
            else:
                prepared = self._render(known, fmt, started)
            self._prepared[key] = prepared
        return prepared, known.stale

    def _render(self, known: _Known, fmt: Format, started: float) -> PreparedPage:
        detail = known.view.detail
        body = render_project(detail, fmt, self._env, lambda f: file_href(f, detail.name), self._fragments)
        return prepare_bytes(known.stamp, known.valid_until, fmt, body, detail.last_serial, started)

    async def view(self, tier: Tier, project: str) -> TierView:
        """The tier's view of ``project``; raises ProjectNotFound when the tier does not list it (or upstream
        has no such project), UpstreamError when upstream fails and nothing is cached."""
        return (await self._known(tier, project)).view

    async def admitted_file(self, tier: Tier, project: str, filename: str) -> DistFile:
        """The file as the tier lists it; raises FileNotListed or ProjectNotFound.

        When the tier's view of the page is out of date (evidence changed: a wheel's metadata was just
        extracted, a sighting recorded; or the policies, or the clock), only this file is decided again, by the
        same :func:`decide_page` on the page reduced to this file: downloading one wheel of a 15,000-file
        project must not cost a decision over 15,000 files. The page's view is decided again when the page is
        asked for."""
        known = self._views.get((tier, project))
        entry = self._pages.peek(project)
        policies = self._policies.current
        if known is None or entry is None or not decide_project(tier, project, policies).admitted:
            view = (await self._known(tier, project)).view  # first sight of the page, or the tier keeps it out
        elif known.stamp == self._stamp(entry.revision, project) and self._clock() < known.valid_until:
            view = known.view
        else:
            view = await self._file_view(tier, project, entry.value, filename, policies)
        found = view.file(filename)
        if found is None:
            raise FileNotListed(project, filename)
        return found

    async def _file_view(self, tier: Tier, project: str, detail: ProjectDetail, filename: str,
                         policies: PolicySet) -> TierView:
        """The tier's view of ``detail`` reduced to ``filename`` (empty when the page does not list it), decided
        from the evidence about the files of its release: evidence that holds for a release as a whole (the
        licences its files declare) is gathered as the page's view gathers it, never from one file alone."""
        if len(detail.files) > _OFFLOAD_FILES:  # a pass over every file: off the event loop for big pages
            listed, release = await self._cpu.run(_release_of, detail, filename)
        else:
            listed, release = _release_of(detail, filename)
        evidence = await self._evidence.for_page(project, msgspec.structs.replace(detail, files=release),
                                                 wait_for_advisories=holds_vulnerable(policies, tier))
        one = msgspec.structs.replace(detail, files=listed)
        view = decide_page(tier, project, one, evidence, policies, datetime.fromtimestamp(self._clock(), UTC))
        self._evidence.observe(view)
        return view

    async def _known(self, tier: Tier, project: str) -> _Known:
        policies = self._policies.current
        decision = decide_project(tier, project, policies)
        if not decision.admitted:
            policy = policies.of(project)
            if policy is None or policy.project_block is None:
                # Before any upstream fetch: asking a curated tier for an unreviewed name costs nothing.
                raise ProjectNotFound(project, decision.rule, decision.change)
            view = decide_page(tier, project, None, Evidence(), policies, datetime.now(UTC))
            return _Known(("blocked", self._policies.generation, 0), _FOREVER, view, False)
        entry = self._pages.peek(project) or await self._pages.project(project)
        stamp = self._stamp(entry.revision, project)
        known = self._views.get((tier, project))
        if known is not None and known.stamp == stamp and self._clock() < known.valid_until:
            return known if known.stale == entry.stale else _Known(known.stamp, known.valid_until, known.view,
                                                                    entry.stale)
        # Only a tier that holds vulnerable releases waits for upstream's advisories of a project seen first.
        wait = holds_vulnerable(policies, tier)
        evidence, servable = await self._servable_of(project, entry.value, stamp, wait)
        now = datetime.fromtimestamp(self._clock(), UTC)
        # Matching releases against advisories costs about files x advisories: many of both go to the lane too.
        matching = len(entry.value.files) * len(evidence.advisories.items)
        if len(entry.value.files) > _OFFLOAD_FILES or matching > _OFFLOAD_MATCHING:
            view = await self._cpu.run(decide_page, tier, project, entry.value, evidence, policies, now,
                                       servable=servable)
        else:
            view = decide_page(tier, project, entry.value, evidence, policies, now, servable=servable)
        self._evidence.observe(view)  # rules in shadow mode: logged and counted
        valid_until = view.valid_until.timestamp() if view.valid_until else _FOREVER
        known = _Known(stamp, valid_until, view, entry.stale)
        self._views[(tier, project)] = known
        return known

    async def _servable_of(self, project: str, detail: ProjectDetail, stamp: Stamp, wait: bool = True
                           ) -> tuple[Evidence, tuple[Servable, ...]]:
        """The evidence and the servable files of one page revision: shared by every tier's view of it. With
        ``wait``, evidence gathered without waiting for upstream's advisories is gathered again, waiting."""
        # Policies do not change what is servable; they only decide whether licences are evidence to gather.
        key: Stamp = (stamp[0], int(self._evidence.wants_licenses(project)), stamp[2])
        known = self._servable.get(project)
        if known is not None and known[0] == key and (known[3] or not wait):
            return known[1], known[2]
        evidence = await self._evidence.for_page(project, detail, wait_for_advisories=wait)
        if len(detail.files) > _OFFLOAD_FILES:
            servable = await self._cpu.run(servable_page, detail, evidence)
        else:
            servable = servable_page(detail, evidence)
        self._servable[project] = (key, evidence, servable, wait)
        return evidence, servable

    async def explain(self, project: str, version: str | None) -> Explanation:
        """``mirror explain``'s answer as this server decides: the same pages, evidence and policies."""
        policies = self._policies.current
        detail: ProjectDetail | None = None
        evidence = Evidence()
        missing = False
        try:
            entry = self._pages.peek(project) or await self._pages.project(project)
            detail = entry.value
            evidence, _ = await self._servable_of(project, detail, self._stamp(entry.revision, project))
        except ProjectNotFound:
            missing = True
        except Exception:  # upstream down and nothing cached: explained from the policies alone (it says so)
            detail = None
        return explain(project, version, detail, policies, datetime.fromtimestamp(self._clock(), UTC), evidence,
                       upstream_missing=missing)
