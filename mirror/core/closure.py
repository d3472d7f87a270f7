"""The dependency closure of root requirements, over metadata the caller provides.

A curated tier is only installable when it holds a whole dependency set: resolvers otherwise backtrack to
ancient releases whose dependencies happen to fit. This module computes that set. The caller decides which
release of each project to follow (the newest one a tier admits, the one a lock file names…) by answering
:class:`Need` requests with that release's metadata; the walk evaluates environment markers and extras
for every target environment, follows extras of dependencies (``foo[bar]``), survives cycles, stops at a
depth and a size bound, and reports every edge — "needed by X (requirement)" — and every hole.

One mechanism, two drivers: :class:`ClosureWalk` is a pure state machine (ask :meth:`~ClosureWalk.needs`,
answer with :meth:`~ClosureWalk.provide`); :func:`closure` drives it with a plain function and
:func:`closure_async` with a coroutine, fetching each level's metadata concurrently. The walk goes level
by level, so the result does not depend on the order in which answers arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .closure_model import (
    BUILD,
    RUN,
    Answer,
    Closure,
    ClosureProject,
    Edge,
    Hole,
    Missing,
    Need,
    Note,
    Release,
    Unsatisfied,
)
from .metadata import CoreMetadata
from .targets import Target, default_target, marker_applies

__all__ = ["BUILD", "RUN", "Answer", "Closure", "ClosureProject", "ClosureWalk", "Edge", "Hole", "Missing", "Need",
           "Note", "Release", "Unsatisfied", "closure", "closure_async"]

#: Longest chain of dependencies followed (real ones stay under 20; a cycle never gets this far).
MAX_DEPTH = 64
#: Most projects a closure may hold (a large application has a few hundred).
MAX_PROJECTS = 2000


@dataclass
class _Node:
    name: NormalizedName
    depth: int
    state: str = "new"  # new → asked → known | missing
    release: Release | None = None
    reason: str = ""
    fix: str | None = None
    requirements: dict[str, Requirement] = field(default_factory=dict)
    edges: dict[tuple[object, ...], tuple[Edge, set[int]]] = field(default_factory=dict)
    active: dict[str, set[int]] = field(default_factory=dict)
    used_extras: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Task:
    project: NormalizedName
    extra: str
    targets: frozenset[int]
    depth: int


class ClosureWalk:
    """The closure as a state machine: call :meth:`needs`, answer each with :meth:`provide`, repeat until
    :meth:`needs` is empty, then take :meth:`result`. Pure: no I/O, no clock, no randomness."""

    def __init__(self, roots: Iterable[Requirement], targets: Sequence[Target] | None = None, *,
                 max_depth: int = MAX_DEPTH, max_projects: int = MAX_PROJECTS) -> None:
        self._targets = tuple(targets) if targets else (default_target(),)
        self._max_depth, self._max_projects = max_depth, max_projects
        self._nodes: dict[NormalizedName, _Node] = {}
        self._frontier: list[_Task] = []
        self._skipped: dict[tuple[object, ...], tuple[Edge, set[int], str]] = {}
        self._root_notes: list[Note] = []
        self._verdicts: dict[tuple[str, int, str], bool] = {}
        every = frozenset(range(len(self._targets)))
        for requirement in roots:
            holds = self._holds(requirement.marker, every, "")
            edge = Edge(canonicalize_name(requirement.name), requirement)
            if holds:
                self._follow(None, edge, holds, 0)
            else:
                self._root_notes.append(Note(edge.child, f"root requirement {requirement} is not needed: its "
                                                         "marker holds on none of the targets", edge))

    def needs(self) -> tuple[Need, ...]:
        """The projects whose metadata the walk waits for; empty when the closure is complete."""
        while True:
            waiting = [self._nodes[p] for p in dict.fromkeys(t.project for t in self._frontier)
                       if self._nodes[p].state in ("new", "asked")]
            if waiting:
                for node in waiting:
                    node.state = "asked"
                return tuple(Need(node.name, tuple(node.requirements.values())) for node in waiting)
            if not self._frontier:
                return ()
            frontier, self._frontier = self._frontier, []
            for task in frontier:
                self._expand(task)

    def provide(self, project: str, answer: Answer) -> None:
        """Answer a :class:`Need`. A release whose metadata names another project is a hole (an upstream
        that lies must not smuggle a project in). Raises ValueError for a project that was not asked for."""
        node = self._nodes.get(canonicalize_name(project))
        if node is None or node.state != "asked":
            raise ValueError(f"{project!r} was not asked for")
        if isinstance(answer, CoreMetadata):
            answer = Release(answer)
        if isinstance(answer, Release) and answer.metadata.canonical_name != node.name:
            answer = Missing(f"has metadata that names another project ({answer.metadata.name!r})")
        if isinstance(answer, Release):
            node.state, node.release = "known", answer
        else:
            missing = answer or Missing()
            node.state, node.reason, node.fix = "missing", missing.reason, missing.fix

    @property
    def done(self) -> bool:
        return not self._frontier

    def result(self) -> Closure:
        """The closure; raises ValueError while :meth:`needs` still has requests."""
        if not self.done:
            raise ValueError("the walk still needs metadata")
        labels = [t.label for t in self._targets]
        projects: dict[NormalizedName, ClosureProject] = {}
        holes: list[Hole] = []
        unsatisfied: list[Unsatisfied] = []
        notes: list[Note] = list(self._root_notes)
        for node in self._nodes.values():
            edges = [self._frozen(edge, where) for edge, where in node.edges.values()]
            if node.release is None:
                holes += [Hole(edge, node.reason, node.fix) for edge in edges]
                continue
            metadata = node.release.metadata
            projects[node.name] = ClosureProject(
                node.name, metadata.version, node.depth, metadata, tuple(edges),
                tuple(sorted(x for x in node.active if x)), tuple(labels[i] for i in sorted(node.active.get("", ()))))
            unsatisfied += [Unsatisfied(e, metadata.version) for e in edges if not _satisfies(e.requirement, metadata)]
            notes += _notes(node, metadata, edges, [self._targets[i] for i in sorted(node.active.get("", ()))])
        skipped = [Note(edge.child, why, self._frozen(edge, where)) for edge, where, why in self._skipped.values()]
        return Closure(MappingProxyType(projects), tuple(holes), tuple(unsatisfied), tuple(skipped), tuple(notes),
                       tuple(labels))

    # --- the walk ----------------------------------------------------------------------------------------

    def _holds(self, marker: Marker | None, targets: Iterable[int], extra: str) -> set[int]:
        """The targets where ``marker`` holds with ``extra``; for an extra, only where it would not hold
        without it (those edges were followed with the base requirements already)."""
        return {i for i in targets if self._applies(marker, i, extra) and not (extra and self._applies(marker, i, ""))}

    def _applies(self, marker: Marker | None, target: int, extra: str) -> bool:
        """:func:`marker_applies`, remembered by marker text: the same few markers recur across a whole
        closure, and evaluating one is the walk's main cost."""
        if marker is None:
            return True
        key = (str(marker), target, extra)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = marker_applies(marker, self._targets[target], extra)
        return verdict

    def _expand(self, task: _Task) -> None:
        node = self._nodes[task.project]
        if node.release is None:
            return  # a hole: reported from its edges
        done = node.active.setdefault(task.extra, set())
        new = task.targets - done
        if not new:
            return
        done |= new
        metadata = node.release.metadata
        wanted = [(r, RUN) for r in metadata.requires_dist]
        if not task.extra:
            wanted += [(r, BUILD) for r in node.release.build_requires]
        for requirement, kind in wanted:
            holds = self._holds(requirement.marker, new, task.extra)
            if not holds:
                continue
            if task.extra:
                node.used_extras.add(task.extra)
            edge = Edge(canonicalize_name(requirement.name), requirement, node.name, metadata.version, kind,
                        task.extra or None)
            if edge.child == node.name and kind == RUN:  # ``foo[all]`` needing ``foo[a,b]``: more of itself
                self._schedule(node.name, requirement, holds, task.depth, with_base=False)
            elif task.depth >= self._max_depth:
                self._skip(edge, holds, f"not followed: deeper than {self._max_depth} levels")
            else:
                self._follow(node.name, edge, holds, task.depth + 1)

    def _follow(self, parent: NormalizedName | None, edge: Edge, holds: set[int], depth: int) -> None:
        node = self._nodes.get(edge.child)
        if node is None:
            if len(self._nodes) >= self._max_projects:
                self._skip(edge, holds, f"not followed: the closure reached {self._max_projects} projects")
                return
            node = self._nodes[edge.child] = _Node(edge.child, depth)
        text = str(edge.requirement)
        _, where = node.edges.setdefault((parent, text, edge.kind, edge.extra), (edge, set()))
        where |= holds
        node.requirements.setdefault(text, edge.requirement)
        self._schedule(edge.child, edge.requirement, holds, depth, with_base=True)

    def _schedule(self, project: NormalizedName, requirement: Requirement, holds: set[int], depth: int, *,
                  with_base: bool) -> None:
        extras = sorted(canonicalize_name(e) for e in requirement.extras)
        for extra in ([""] if with_base else []) + extras:
            self._frontier.append(_Task(project, extra, frozenset(holds), depth))

    def _skip(self, edge: Edge, holds: set[int], reason: str) -> None:
        key = (edge.parent, str(edge.requirement), edge.kind, edge.extra)
        _, where, _ = self._skipped.setdefault(key, (edge, set(), reason))
        where |= holds

    def _frozen(self, edge: Edge, where: set[int]) -> Edge:
        return Edge(edge.child, edge.requirement, edge.parent, edge.parent_version, edge.kind, edge.extra,
                    tuple(self._targets[i].label for i in sorted(where)))


def _satisfies(requirement: Requirement, metadata: CoreMetadata) -> bool:
    """Whether the followed release is inside the requirement's specifier (pre-releases count: the
    caller chose the release, the question is only whether the edge accepts it)."""
    if not requirement.specifier:
        return True
    return requirement.specifier.contains(metadata.version, prereleases=True)


def _notes(node: _Node, metadata: CoreMetadata, edges: list[Edge], targets: list[Target]) -> list[Note]:
    notes = [Note(node.name, f"{metadata.name} {metadata.version}: {problem}") for problem in metadata.problems]
    notes += [Note(node.name, f"{metadata.name} {metadata.version}: invalid requirement {bad.text!r} ignored "
                              f"({bad.problem})") for bad in metadata.invalid_requires_dist]
    provided = set(metadata.provides_extra) | node.used_extras
    for edge in edges:
        for extra in sorted(canonicalize_name(e) for e in edge.requirement.extras):
            if extra not in provided:
                notes.append(Note(node.name, f"{metadata.name} {metadata.version} has no extra {extra!r}", edge))
    if metadata.requires_python is not None:
        unmet = [t.label for t in targets if not metadata.requires_python.contains(t.full_version, prereleases=True)]
        if unmet:
            notes.append(Note(node.name, f"{metadata.name} {metadata.version} requires Python "
                                         f"{metadata.requires_python}, not met on {', '.join(unmet)}"))
    return notes


Provider = Callable[[Need], Answer]
AsyncProvider = Callable[[Need], Awaitable[Answer]]


def closure(roots: Iterable[Requirement], provider: Provider, targets: Sequence[Target] | None = None, *,
            max_depth: int = MAX_DEPTH, max_projects: int = MAX_PROJECTS) -> Closure:
    """The closure of ``roots``, asking ``provider`` for each project's release (once per project).

    Exceptions from ``provider`` propagate unchanged.
    """
    walk = ClosureWalk(roots, targets, max_depth=max_depth, max_projects=max_projects)
    while needs := walk.needs():
        for need in needs:
            walk.provide(need.project, provider(need))
    return walk.result()


async def closure_async(roots: Iterable[Requirement], provider: AsyncProvider,
                        targets: Sequence[Target] | None = None, *, concurrency: int = 8,
                        max_depth: int = MAX_DEPTH, max_projects: int = MAX_PROJECTS) -> Closure:
    """:func:`closure` with a coroutine provider: each level's requests run concurrently, at most
    ``concurrency`` at a time. If one request fails, the others are cancelled and the error propagates."""
    walk = ClosureWalk(roots, targets, max_depth=max_depth, max_projects=max_projects)
    limit = asyncio.Semaphore(max(1, concurrency))

    async def ask(need: Need) -> Answer:
        async with limit:
            return await provider(need)

    while needs := walk.needs():
        tasks = [asyncio.ensure_future(ask(need)) for need in needs]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for need, answer in zip(needs, answers, strict=True):
            walk.provide(need.project, answer)
    return walk.result()
