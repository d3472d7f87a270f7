"""The typo-squat gate of ``mirror promote``: names one slip of the keyboard away from a known project.

Pure functions (standard library and ``packaging`` only). Names are compared in their normalized form
(``packaging.utils.canonicalize_name``), so ``Python_DateUtil`` *is* ``python-dateutil``, not a
look-alike of it. Two rules flag a name:

* Damerau–Levenshtein distance 1 from a known name: one character changed, added or missing, or two
  adjacent characters swapped (``requets``, ``reqeusts``, ``requestss``, ``djang0``);
* equality once every separator is removed (``pythondateutil``, ``beautiful-soup4``), whatever the
  length difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from packaging.utils import canonicalize_name

#: The only separator left in a normalized name (``_`` and ``.`` become ``-``).
_SEP = "-"

#: Shipped list of very popular project names, inside this package so it is found in a wheel too.
_POPULAR_FILE = "popular.txt"

SEPARATORS_DIFFER = "separators differ"
SEPARATOR_CHANGED = "a separator changed"
CHARACTER_CHANGED = "one character changed"
CHARACTERS_SWAPPED = "two adjacent characters swapped"
CHARACTER_MISSING = "one character missing"
CHARACTER_ADDED = "one character added"
CHARACTER_REPEATED = "a character repeated"


@dataclass(frozen=True, slots=True, order=True)
class Lookalike:
    """A known project ``name`` (normalized) that the checked name resembles, and a short ``reason``."""

    name: str
    reason: str


def lookalikes(name: str, known: Iterable[str]) -> list[Lookalike]:
    """The known projects that ``name`` resembles without being one of them.

    Returns at most one entry per known project (normalized), sorted by name; when both rules match,
    "separators differ" is the reason given. A ``name`` that normalizes to one of ``known`` gets an
    empty list: it *is* that project (a popular project, or one already promoted, is never a
    look-alike of its neighbours, e.g. ``tomli`` of ``toml``). Never raises for any string input.
    """
    candidate = canonicalize_name(name)
    bare = candidate.replace(_SEP, "")
    length = len(candidate)
    found: dict[str, str] = {}
    for raw in known:
        other = canonicalize_name(raw)
        if other == candidate:
            return []
        if other in found:
            continue
        # Separator rule first: it explains more than one edit (``a-b-c`` vs ``abc``) and, when both
        # rules match, says what really differs.
        if other.replace(_SEP, "") == bare:
            found[other] = SEPARATORS_DIFFER
        elif -1 <= len(other) - length <= 1:
            reason = _one_edit(candidate, other)
            if reason is not None:
                found[other] = reason
    return sorted(Lookalike(n, r) for n, r in found.items())


def popular_names() -> frozenset[str]:
    """The normalized names listed in the shipped ``popular.txt`` (``#`` starts a comment).

    Raises ``OSError`` only if the package was installed without its data file.
    """
    text = resources.files(__package__).joinpath(_POPULAR_FILE).read_text(encoding="utf-8")
    names = (line.partition("#")[0].strip() for line in text.splitlines())
    return frozenset(canonicalize_name(n) for n in names if n)


def _one_edit(candidate: str, known: str) -> str | None:
    """Why ``candidate`` is one Damerau–Levenshtein edit from ``known``, or None when it is not.

    Both are normalized and differ; their lengths differ by at most one.
    """
    if len(candidate) == len(known):
        i = _first_difference(candidate, known)
        if candidate[i + 1:] == known[i + 1:]:
            return SEPARATOR_CHANGED if _SEP in (candidate[i], known[i]) else CHARACTER_CHANGED
        if (i + 1 < len(candidate) and candidate[i] == known[i + 1] and candidate[i + 1] == known[i]
                and candidate[i + 2:] == known[i + 2:]):
            return CHARACTERS_SWAPPED
        return None
    if len(candidate) == len(known) + 1:
        i = _first_difference(candidate, known)
        if candidate[i + 1:] != known[i:]:
            return None
        extra = candidate[i]
        if extra == _SEP:
            return SEPARATORS_DIFFER
        # The extra character doubles a neighbour (``rrequests``, ``numpyy``): the commonest slip.
        if (i and candidate[i - 1] == extra) or candidate[i + 1:i + 2] == extra:
            return CHARACTER_REPEATED
        return CHARACTER_ADDED
    if len(known) == len(candidate) + 1:
        i = _first_difference(candidate, known)
        if candidate[i:] != known[i + 1:]:
            return None
        return SEPARATORS_DIFFER if known[i] == _SEP else CHARACTER_MISSING
    return None


def _first_difference(a: str, b: str) -> int:
    """Index of the first position where ``a`` and ``b`` differ (the shorter length if one is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))
