"""Typos: the slips of a hurried or misled typist that turn a popular name into a squat.

A Damerau–Levenshtein distance says how far two names are; a squat is more than near, it is what a person
types by mistake or reads over: a letter missing, two swapped, one doubled, a neighbouring key, a vowel for
another. Counting only such slips keeps real projects one edit apart (``tika`` and ``pika``, ``pytest-cpp``
and ``pytest-cov``) from looking like typos of each other. Pure functions on normalized names.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from rapidfuzz.distance import OSA

from mirror.core.policy.squat_rules import SEP, SEPARATORS_DIFFER

SEPARATOR_CHANGED = "a separator changed"
CHARACTER_CHANGED = "one character changed"
CHARACTERS_SWAPPED = "two adjacent characters swapped"
CHARACTER_MISSING = "one character missing"
CHARACTER_ADDED = "one character added"
CHARACTER_REPEATED = "a character repeated"

_TWICE = {
    CHARACTER_CHANGED: "two characters changed", CHARACTER_MISSING: "two characters missing",
    CHARACTER_ADDED: "two characters added", CHARACTER_REPEATED: "two characters repeated",
    CHARACTERS_SWAPPED: "two pairs of adjacent characters swapped", SEPARATOR_CHANGED: "two separators changed",
}

#: Keys as they sit on a QWERTY keyboard, each row shifted half a key to the right of the one above.
_KEY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = frozenset("aeiouy")
#: Letters that sound alike and are written for one another (``matplotlip``).
_SOUND_ALIKE = frozenset(frozenset(pair) for pair in ("bp", "dt", "ck", "sz", "fv", "gk"))


def edit_budget(length: int) -> int:
    """How many slips keep a name of ``length`` characters a look-alike: none below 5 characters (``mock``
    and ``mack``, ``vine`` and ``vina`` are all real), one up to 9, two from 10 (a long name hides two)."""
    if length < 5:
        return 0
    return 1 if length < 10 else 2


def typo(candidate: str, known: str) -> str | None:
    """The slips turning ``known`` into ``candidate`` (``"one character missing"``, ``"two adjacent
    characters swapped and a character repeated"``), or None when there are none or too many.

    At most ``edit_budget(len(known))`` slips and, between names of as many words, at most the budget of each
    word within it (``pytest-cpp`` is no slip of ``pytest-cov``). A slip is: a character missing (not the
    first: readers know a name by its start); two adjacent characters swapped; a separator changed, added or
    missing; a character repeated; a character added next to a neighbouring key (not before the first), a
    vowel added next to a vowel (``colourama``), an ``s`` added at the end (a plural); a letter changed for a
    neighbouring key, another vowel or a sound-alike (``b``/``p``). Digits belong to the digit-suffix rule.
    """
    slips = _slips(candidate, known)
    if not slips:
        return None
    if len(slips) == 2 and slips[0] == slips[1]:
        return _TWICE.get(slips[0], f"{slips[0]} twice")
    return " and ".join(slips)


def _slips(candidate: str, known: str, *, starts_name: bool = True) -> list[str] | None:
    """The slips of ``typo`` as a list, or None; ``starts_name`` when ``known`` is the start of the name
    (the first word of a longer name, or all of it)."""
    budget = edit_budget(len(known))
    if candidate == known or not budget or abs(len(candidate) - len(known)) > budget:
        return None
    mine, theirs = candidate.split(SEP), known.split(SEP)
    if len(theirs) > 1 and len(mine) == len(theirs):
        found: list[str] = []
        for number, (ours, their) in enumerate(zip(mine, theirs)):
            if ours != their:
                word = _slips(ours, their, starts_name=starts_name and not number)
                if word is None:
                    return None
                found += word
        return found if len(found) <= budget else None
    single = _slip(candidate, known, starts_name=starts_name)
    if single is not None:
        return [single]
    # Two plausible slips, never one implausible edit taken in two steps (``j`` → ``-`` → ``x``).
    if budget < 2 or OSA.distance(candidate, known) < 2:
        return None
    for middle in _variants(known, set(candidate)):
        first = _slip(middle, known, starts_name=starts_name)
        then = _slip(candidate, middle, starts_name=starts_name) if first else None
        if first and then:
            return [first, then]
    return None


def _slip(candidate: str, known: str, *, starts_name: bool = True) -> str | None:
    """The one slip (see ``typo``) turning ``known`` into ``candidate``, or None. Only at the start of the
    name (``starts_name``) is nothing dropped before the first letter or added before it."""
    if len(candidate) == len(known):
        i = _first_difference(candidate, known)
        if i == len(candidate):
            return None
        ours, theirs = candidate[i], known[i]
        if candidate[i + 1:] == known[i + 1:]:
            if SEP in (ours, theirs):
                return SEPARATOR_CHANGED
            return CHARACTER_CHANGED if _mistakable(ours, theirs) else None
        if (i + 1 < len(candidate) and ours == known[i + 1] and candidate[i + 1] == theirs
                and candidate[i + 2:] == known[i + 2:]):
            return CHARACTERS_SWAPPED
        return None
    if len(candidate) == len(known) + 1:
        i = _first_difference(candidate, known)
        if candidate[i + 1:] != known[i:]:
            return None
        extra = candidate[i]
        if extra == SEP:
            return SEPARATORS_DIFFER
        if extra.isdigit():
            return None
        # The extra character doubles a neighbour (``rrequests``, ``numpyy``): the commonest slip.
        before, after = candidate[i - 1:i] if i else "", candidate[i + 1:i + 2]
        opens = not i and starts_name
        if extra in (before, after):
            return CHARACTER_REPEATED
        # A finger hitting the key next to the one meant, before or after it: ``requestes``, ``colorsama``.
        if not opens and (_keys_touch(extra, before) or (after and _keys_touch(extra, after))):
            return CHARACTER_ADDED
        # A vowel sounded out next to another (``colourama``, ``opeanai``), or a plural (``python-dateutils``).
        if not opens and extra in _VOWELS and (before in _VOWELS or after in _VOWELS):
            return CHARACTER_ADDED
        if extra == "s" and not after:
            return CHARACTER_ADDED
        return None
    if len(known) == len(candidate) + 1:
        i = _first_difference(candidate, known)
        if candidate[i:] != known[i + 1:]:
            return None
        if known[i] == SEP:
            return SEPARATORS_DIFFER
        # A first letter dropped makes another word (``make``, ``cmake``; ``syncer``, ``asyncer``).
        return None if known[i].isdigit() or (not i and starts_name) else CHARACTER_MISSING
    return None


def _variants(name: str, alphabet: set[str]) -> Iterator[str]:
    """Every name one edit from ``name`` using characters of ``alphabet`` (and ``-``): the middle steps of a
    two-slip typo."""
    letters = sorted(alphabet | {SEP})
    for i in range(len(name) + 1):
        yield from (name[:i] + ch + name[i:] for ch in letters)
        if i < len(name):
            yield name[:i] + name[i + 1:]
            yield from (name[:i] + ch + name[i + 1:] for ch in letters if ch != name[i])
        if i + 1 < len(name):
            yield name[:i] + name[i + 1] + name[i] + name[i + 2:]


def _mistakable(a: str, b: str) -> bool:
    """Whether letter ``b`` is easily written for ``a``: neighbouring keys, two vowels, or sound-alikes."""
    if not (a.isalpha() and b.isalpha()):
        return False
    return _keys_touch(a, b) or (a in _VOWELS and b in _VOWELS) or frozenset((a, b)) in _SOUND_ALIKE


def _keys_touch(a: str, b: str) -> bool:
    """Whether keys ``a`` and ``b`` are neighbours on a QWERTY keyboard (same row or the row above/below)."""
    where = _key_positions()
    if a not in where or b not in where:
        return False
    (row_a, x_a), (row_b, x_b) = where[a], where[b]
    return (row_a == row_b and abs(x_a - x_b) == 1) or (abs(row_a - row_b) == 1 and abs(x_a - x_b) <= 0.5)


@cache
def _key_positions() -> dict[str, tuple[int, float]]:
    """Row and horizontal position of every key of ``_KEY_ROWS``."""
    return {key: (row, col + row * 0.5) for row, keys in enumerate(_KEY_ROWS) for col, key in enumerate(keys)}


def _first_difference(a: str, b: str) -> int:
    """Index of the first position where ``a`` and ``b`` differ (the shorter length if one is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))
