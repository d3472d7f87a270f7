"""The typo-squat gate of ``promote``: a name that looks like a reviewed or a popular project is refused unless
the reviewer allows it, with a note saying why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from mirror.core.errors import ReviewError
from mirror.core.policy.commands import command
from mirror.core.policy.lookalike import Lookalike, LookalikeIndex, popular_index, popular_ranked


@dataclass(frozen=True, slots=True)
class Resemblance:
    """The known projects a name looks like (``names``), and how they are described to the reviewer."""

    names: tuple[str, ...]
    described: str

    def __bool__(self) -> bool:
        return bool(self.names)


def resemblances(name: str, reviewed: dict[str, str]) -> list[Lookalike]:
    """The projects ``name`` looks like among ``reviewed`` (name → file; every rule, every name) and the
    popular ones (each rule as far down the list as ``squat_rules.REACH`` says), one per project, sorted.
    A popular or reviewed name looks like nothing: it is that project."""
    popular = popular_index()
    here = LookalikeIndex(reviewed)
    if name in popular or name in here:
        return []
    found = {s.name: s for s in popular.lookalikes(name)}
    found.update((s.name, s) for s in here.lookalikes(name))  # every rule applies to a reviewed project
    return sorted(found.values())


def typosquat_gate(name: str, reviewed: dict[str, str], *, allow_similar: bool) -> Resemblance:
    """The projects ``name`` looks like, among ``reviewed`` (name → file) and the popular ones; ReviewError
    when there are any and ``allow_similar`` is false. Each is described with the rule that matched:
    ``'numpy' (confusable: rn→m; a popular project)``."""
    similar = resemblances(name, reviewed)
    described = [f"'{s.name}' ({s.rule}: {s.reason}; " + (f"reviewed here, {reviewed[s.name]})"
                                                          if s.name in reviewed else "a popular project)")
                 for s in similar]
    if similar and not allow_similar:
        raise ReviewError(
            f"refusing to promote '{name}': it looks like {', '.join(described)}.\n"
            f"A look-alike name is how typo-squats get installed. If '{name}' really is the project "
            f"you mean, say why and promote it with: "
            f"{command('mirror', 'promote', name, '--allow-similar', '--by', 'NAME', '--note', 'TEXT')}")
    return Resemblance(tuple(s.name for s in similar), ", ".join(described))


def suggestions(name: str, known: Iterable[str] = (), limit: int = 5) -> list[str]:
    """Known names ``name`` may be a misspelling of, closest first: look-alikes among the popular projects
    and ``known`` (reviewed ones, for instance), then the closest popular names by edit similarity."""
    names = list(dict.fromkeys(known))
    found = [s.name for s in resemblances(name, dict.fromkeys(names, ""))]
    pool = [*names, *popular_ranked()[:20_000]]
    for match, _score, _index in process.extract(name, pool, scorer=fuzz.ratio, limit=limit, score_cutoff=75):
        found.append(match)
    return list(dict.fromkeys(n for n in found if n != name))[:limit]
