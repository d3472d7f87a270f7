"""Dependency sets through a tier: per project, the release the tier serves and that release's metadata.

This is the service behind ``mirror promote --with-deps``, ``mirror prefetch`` and the hole checks: it answers
"which release of X does tier T serve for these requirements, and what does it depend on?" exactly as the
server would serve it, and drives :func:`mirror.core.closure.closure_async` with the answer.

- The release comes from the tier's view of upstream's page (:func:`mirror.core.tiers.decide_page`, the function
  that decides what the server serves), read through the mirror's page cache, and is chosen by
  :func:`mirror.core.sets.choose_release`. ``assume_reviewed`` plans a promotion: projects not yet reviewed are
  judged as if they were (blocks and tier rules still apply).
- The metadata comes from upstream's PEP 658 ``.metadata`` of one of its wheels, else from metadata the mirror
  extracted from a verified wheel, else from a wheel it downloads, else from the sdist's ``PKG-INFO`` (and its
  ``pyproject.toml`` when ``PKG-INFO`` lists no dependencies). Every byte comes through the file store: fetched
  once, verified against the hashes the tier serves, and kept (so the server serves it warm afterwards).
- A release some target installs from its sdist (no wheel fits) brings its build requirements along.

Concurrency is bounded (``concurrency`` projects at a time) and parsing runs in threads, never on the loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from mirror.core.buildsystem import build_requirements, static_dependencies
from mirror.core.closure import Closure, Need, Release, closure_async
from mirror.core.closure_model import Missing
from mirror.core.depfiles import DependencyFileError
from mirror.core.errors import MirrorError, ProjectNotFound, UpstreamError
from mirror.core.lru import LRU
from mirror.core.metadata import MAX_METADATA_BYTES, CoreMetadata, MetadataError, parse_metadata
from mirror.core.models import DistFile, Tier
from mirror.core.policy.model import PolicySet
from mirror.core.sets import Chosen, as_reviewed, choose_release
from mirror.core.targets import Target, default_target
from mirror.core.tiers import TierView, decide_page
from mirror.core.wheels import wheel_fits
from mirror.services.cpu import BACKGROUND, CpuLane
from mirror.services.evidence import EvidenceService
from mirror.services.fetching import FileFetcher
from mirror.services.pages import PageService
from mirror.services.sdists import MAX_MEMBER_BYTES, SdistFiles, read_sdist

log = logging.getLogger("mirror.closure")

#: Pages with more files than this are decided in the CPU lane.
_OFFLOAD_FILES = 1000
#: The reason (completing "<project> …") of a project upstream does not have.
NOT_UPSTREAM = "is not a project upstream has"
#: Largest sdist read whole into memory when the store is not a local file system.
_MAX_REMOTE_SDIST = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Followed:
    """A project's release as a tier serves it, and what it depends on: ``release`` (metadata and build
    requirements) for the walk, ``chosen`` (version and files served), ``source`` (where the metadata came
    from, e.g. ``PEP 658 metadata of foo-1.0-py3-none-any.whl``)."""

    chosen: Chosen
    release: Release
    source: str


@dataclass(frozen=True, slots=True)
class SetResult:
    """A closure through a tier: the walk's result, and per project the release followed."""

    tier: Tier
    closure: Closure
    followed: Mapping[NormalizedName, Followed]
    targets: tuple[Target, ...]


class ClosureService:
    """See the module docstring. ``policies`` gives the policies in force (a running server's, or the policy
    directory's for a command)."""

    def __init__(self, pages: PageService, evidence: EvidenceService, fetcher: FileFetcher,
                 policies: Callable[[], PolicySet], *, cpu: CpuLane | None = None,
                 clock: Callable[[], float] = time.time, concurrency: int = 8) -> None:
        self._pages = pages
        self._evidence = evidence
        self._fetcher = fetcher
        self._policies = policies
        self._cpu = cpu
        self._clock = clock
        self.concurrency = concurrency
        #: (project, version, file sha256) → metadata and its source: a release's metadata never changes
        self._metadata: LRU[tuple[str, str, str, str], tuple[CoreMetadata, str]] = LRU(4096)
        self._build: LRU[tuple[str, str, str], tuple[Requirement, ...]] = LRU(4096)

    # ------------------------------------------------------------------ one project

    async def view(self, tier: Tier, name: str, policies: PolicySet | None = None) -> TierView:
        """The tier's view of ``name`` (normalized) as the server decides it now, with ``policies`` (default:
        those in force). Raises ProjectNotFound when upstream has no such project, UpstreamError when it
        cannot be read and nothing is cached."""
        policies = policies if policies is not None else self._policies()
        entry = self._pages.peek(name) or await self._pages.project(name)
        detail = entry.value
        evidence = await self._evidence.for_page(name, detail)
        now = datetime.fromtimestamp(self._clock(), UTC)
        if self._cpu is not None and (len(detail.files) > _OFFLOAD_FILES or BACKGROUND.get()):
            return await self._cpu.run(decide_page, tier, name, detail, evidence, policies, now)
        return decide_page(tier, name, detail, evidence, policies, now)

    async def follow(self, name: str, tier: Tier = Tier.REVIEWED, requirements: Sequence[Requirement] = (),
                     targets: Sequence[Target] = (), *, assume_reviewed: bool = False,
                     prefer: str | None = None, policies: PolicySet | None = None) -> Followed | Missing:
        """The release of ``name`` that ``tier`` serves for ``requirements`` on ``targets`` (default: the
        running Python on Linux), with its metadata; or Missing saying why there is none. ``policies``: those
        to decide with (default: those in force; another set answers "what if")."""
        name = canonicalize_name(name)
        targets = tuple(targets) or (default_target(),)
        policies = policies if policies is not None else self._policies()
        if assume_reviewed:
            policies = as_reviewed(policies, name)
        try:
            view = await self.view(tier, name, policies)
        except ProjectNotFound:
            return Missing(NOT_UPSTREAM)
        except (UpstreamError, MirrorError) as exc:
            return Missing(f"cannot be read from upstream now ({exc})")
        chosen = choose_release(view, requirements, targets, prefer=prefer)
        if isinstance(chosen, Missing):
            return chosen
        found = await self._metadata_of(name, chosen, targets)
        if isinstance(found, Missing):
            return found
        metadata, source = found
        build = await self._build_requires(name, chosen, targets)
        return Followed(chosen, Release(metadata, build), source)

    # ------------------------------------------------------------------ whole sets

    async def closure(self, roots: Iterable[Requirement], tier: Tier = Tier.REVIEWED,
                      targets: Sequence[Target] = (), *, assume_reviewed: bool = False,
                      pins: Mapping[str, str] | None = None, policies: PolicySet | None = None,
                      memo: dict[tuple[object, ...], Followed | Missing] | None = None) -> SetResult:
        """The dependency closure of ``roots`` through ``tier`` on ``targets``; ``pins`` (normalized name →
        version, e.g. from a lock file) fixes the release followed where the tier serves it; ``policies`` as
        in :meth:`follow`. ``memo``, shared by closures computed with the same ``policies`` and ``targets``
        (many at once), keeps each answer of :meth:`follow` so that each is decided once."""
        targets = tuple(targets) or (default_target(),)
        pins = {canonicalize_name(k): v for k, v in (pins or {}).items()}
        followed: dict[NormalizedName, Followed] = {}

        async def provide(need: Need) -> Release | Missing:
            key = (tier, need.project, tuple(sorted(str(r) for r in need.requirements)), assume_reviewed,
                   pins.get(need.project))
            answer = memo.get(key) if memo is not None else None
            if answer is None:
                answer = await self.follow(need.project, tier, need.requirements, targets,
                                           assume_reviewed=assume_reviewed, prefer=pins.get(need.project),
                                           policies=policies)
                if memo is not None:
                    memo[key] = answer
            if isinstance(answer, Missing):
                return answer
            followed[need.project] = answer
            return answer.release

        result = await closure_async(list(roots), provide, targets, concurrency=self.concurrency)
        return SetResult(tier, result, {n: f for n, f in followed.items() if n in result.projects}, targets)

    # ------------------------------------------------------------------ metadata

    async def _metadata_of(self, name: str, chosen: Chosen, targets: Sequence[Target]
                           ) -> tuple[CoreMetadata, str] | Missing:
        """The release's metadata from the cheapest verified source; Missing when none can be read."""
        problems: list[str] = []
        for dist, kind in _sources(chosen, targets):
            key = (name, chosen.version, dist.sha256 or dist.filename, kind)
            known = self._metadata.get(key)
            if known is not None:
                return known
            try:
                metadata, source = await self._read(name, dist, kind)
            except (MirrorError, MetadataError, ValueError) as exc:
                problems.append(f"{dist.filename}: {exc}")
                log.warning("no metadata from project=%s file=%s source=%s: %s", name, dist.filename, kind, exc)
                continue
            self._metadata[key] = (metadata, source)
            return metadata, source
        detail = "; ".join(problems[:3]) if problems else "no file to read it from"
        return Missing(f"{chosen.version}'s metadata cannot be read ({detail})")

    async def _read(self, name: str, dist: DistFile, kind: str) -> tuple[CoreMetadata, str]:
        fetcher = self._fetcher
        if kind == "pep658":
            stored, _ = await fetcher.fetch(name, dist, metadata=True)
            data = await fetcher.read(stored, MAX_METADATA_BYTES)
            return await asyncio.to_thread(parse_metadata, data), f"PEP 658 metadata of {dist.filename}"
        if kind == "extracted":
            extracted = await fetcher.store.find(dist.local_metadata or "")
            if extracted is None:
                raise MirrorError("the extracted metadata is no longer stored")
            data = await fetcher.read(extracted, MAX_METADATA_BYTES)
            return await asyncio.to_thread(parse_metadata, data), f"METADATA of {dist.filename}"
        if kind == "wheel":
            wheel, _ = await fetcher.fetch(name, dist)
            if fetcher.extractor is None:
                raise MirrorError("no metadata extractor")
            found = await fetcher.extractor.read_metadata(wheel)
            if found is None:
                raise MirrorError("the wheel has no single .dist-info/METADATA")
            return await asyncio.to_thread(parse_metadata, found), f"METADATA of {dist.filename}"
        files = await self._sdist_files(name, dist)
        if files.pkg_info is None:
            raise MirrorError("the sdist has no PKG-INFO")
        metadata = await asyncio.to_thread(parse_metadata, files.pkg_info)
        source = f"PKG-INFO of {dist.filename}"
        if not metadata.requires_dist and files.pyproject is not None:
            metadata, source = _with_static_dependencies(metadata, files.pyproject, dist.filename, source)
        return metadata, source

    async def _sdist_files(self, name: str, dist: DistFile) -> SdistFiles:
        stored, _ = await self._fetcher.fetch(name, dist)
        if stored.local_path is not None:
            return await asyncio.to_thread(read_sdist, stored.local_path, dist.filename)
        data = await self._fetcher.read(stored, _MAX_REMOTE_SDIST)
        return await asyncio.to_thread(read_sdist, io.BytesIO(data), dist.filename)

    async def _build_requires(self, name: str, chosen: Chosen, targets: Sequence[Target]) -> tuple[Requirement, ...]:
        """The build requirements of the release's sdist when some target installs from it; () otherwise."""
        if not chosen.built_on(targets) or not chosen.sdists:
            return ()
        sdist = chosen.sdists[0]
        key = (name, chosen.version, sdist.sha256 or sdist.filename)
        known = self._build.get(key)
        if known is not None:
            return known
        try:
            files = await self._sdist_files(name, sdist)
            text = files.pyproject.decode("utf-8", "replace") if files.pyproject is not None else None
            found = build_requirements(text, f"{sdist.filename}/pyproject.toml").requires
        except (MirrorError, ValueError) as exc:  # DependencyFileError is a MirrorError
            log.warning("no build requirements from project=%s file=%s: %s", name, sdist.filename, exc)
            found = ()
        self._build[key] = found
        return found


def _sources(chosen: Chosen, targets: Sequence[Target]) -> list[tuple[DistFile, str]]:
    """Where the release's metadata can be read, cheapest first: upstream's PEP 658 file of a wheel (one that
    fits a target first), metadata the mirror extracted, a wheel (smallest first), an sdist."""
    def fits(f: DistFile) -> bool:
        return any(wheel_fits(f.filename, t) for t in targets)

    wheels = sorted(chosen.wheels, key=lambda f: (not fits(f), f.size or 0))
    found: list[tuple[DistFile, str]] = [(f, "pep658") for f in wheels if f.core_metadata and
                                         f.core_metadata.get("sha256") != f.local_metadata]
    found += [(f, "extracted") for f in wheels if f.local_metadata]
    found += [(f, "wheel") for f in wheels]
    found += [(f, "sdist") for f in chosen.sdists]
    return found


def _with_static_dependencies(metadata: CoreMetadata, pyproject: bytes, filename: str,
                              source: str) -> tuple[CoreMetadata, str]:
    """``metadata`` (an sdist's PKG-INFO listing no dependency) with the dependencies its ``pyproject.toml``
    declares statically; noted as unknown when they are computed at build time."""
    try:
        static = static_dependencies(pyproject[:MAX_MEMBER_BYTES].decode("utf-8", "replace"),
                                     f"{filename}/pyproject.toml")
    except DependencyFileError as exc:
        return replace(metadata, problems=(*metadata.problems, f"pyproject.toml unreadable: {exc.problem}")), source
    if static is None:
        note = "its dependencies are computed when it is built (dynamic): they are not followed"
        return replace(metadata, problems=(*metadata.problems, note)), source
    extras = tuple(dict.fromkeys((*metadata.provides_extra, *(canonicalize_name(e) for e in static.extras))))
    return (replace(metadata, requires_dist=static.requires, provides_extra=extras),
            f"{source} and pyproject.toml")
