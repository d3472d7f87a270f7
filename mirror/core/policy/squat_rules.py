"""How a typo-squat dresses up a popular name: separator games, confusable glyphs, digit suffixes, affixes.

Pure functions on names already normalized by ``packaging.utils.canonicalize_name`` (lower case, ``-`` the
only separator, none at either end), standard library only. Typos (slips of the keyboard) are in typos.py;
the index in lookalike.py decides which known names to compare, these functions say how two names are alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

#: The only separator left in a normalized name (``_`` and ``.`` become ``-``).
SEP = "-"

# The rules, as named to a reviewer: "'numpy' (confusable: rn→m; a popular project)".
SEPARATORS = "separators"
CONFUSABLE = "confusable"
DIGITS = "digit suffix"
AFFIX = "affix"
TYPO = "typo"
#: Not a rule but a reach of its own: affixes written without a separator (``pyrequests``, ``datadogpy``).
GLUED_AFFIX = "glued affix"

#: How many of the most downloaded names each rule guards. The looser a rule, the more real projects match
#: it by chance (``pypdf3`` and ``pypdf``, ``pysocks`` and ``socks``, ``cronitor`` and ``croniter``), so
#: the fewer and more popular the names it guards: squatters imitate the most installed projects. Chosen
#: on the 15,000 most downloaded names and a corpus of squats (tests/policy/test_squat_corpus.py).
REACH = MappingProxyType({
    SEPARATORS: 5_000, CONFUSABLE: 5_000, TYPO: 1_000, AFFIX: 1_000, GLUED_AFFIX: 300, DIGITS: 300,
})

SEPARATORS_DIFFER = "separators differ"
WORDS_REORDERED = "words reordered"

#: Put before a popular name to make a plausible new one (``python-requests``, ``pyrequests``), or taken
#: away from one (``dateutil`` for ``python-dateutil``). Plugin prefixes (``django-``, ``pytest-``,
#: ``types-``) are how real projects are named, so they are not here.
PREFIXES = ("python3-", "python2-", "python-", "py3-", "py2-", "py-", "pip-", "python3", "python", "py")
#: Put after a popular name (``requests-py``, ``numpy-base``, ``requests-sdk``).
SUFFIXES = (
    "-python3", "-python", "-py3", "-py", "py", "-lib", "-dev", "-api", "-sdk", "-base", "-pkg", "-package",
    "-module", "-official", "-latest", "-new", "-fixed", "-patched", "-secure", "-update", "-updated",
    "-full", "-lite", "-ng",
)
#: A core shorter than this is too common a word to stand for one project (``py-io``, ``sixpy``).
MIN_CORE = 4
#: A typo is looked for behind an affix or a digit suffix only in a core this long (``py`` + ``trie`` is
#: no slip of ``trio``).
MIN_SLIPPED_CORE = 6

#: Glyphs that read alike in a terminal or a web page: ``1``, ``i`` and ``l``; ``rn`` and ``m``. Each maps
#: to one representative; names with the same representatives look the same.
_CONFUSABLE_CHARS = MappingProxyType({"1": "l", "i": "l", "0": "o", "5": "s"})
_CONFUSABLE_PAIRS = MappingProxyType({"rn": "m", "vv": "w", "cl": "d"})

_DIGIT_SUFFIX = re.compile(r"^(?P<core>.*?)-?(?P<digits>[0-9]+)$")


@dataclass(frozen=True, slots=True)
class Affixed:
    """A name read as ``prefix + core + suffix``, the prefix and suffix from the affix lists (or empty)."""

    core: str
    prefix: str = ""
    suffix: str = ""

    @property
    def affix(self) -> str:
        """The affixes as written, e.g. ``'python-'``, ``'-py'``, ``'py…-lib'``."""
        return _affixes(self.prefix, self.suffix)


# The property delegates to a plain function: mutation testing skips decorated functions (docs/testing.md).
def _affixes(prefix: str, suffix: str) -> str:
    if prefix and suffix:
        return f"{prefix}…{suffix}"
    return prefix or suffix


def bare(name: str) -> str:
    """``name`` without separators: the letters a reader compares."""
    return name.replace(SEP, "")


def word_key(name: str) -> tuple[str, ...]:
    """The words of ``name`` in sorted order: equal for ``python-nmap`` and ``nmap-python``."""
    return tuple(sorted(name.split(SEP)))


def glyphs(name: str) -> Iterator[tuple[str, str]]:
    """``name`` as ``(written, looks like)`` pairs: ``nurnpy`` → ``(n, n), (u, u), (rn, m), (p, p), (y, y)``.

    Single glyphs are mapped before pairs, so ``c1ick`` reads ``cl`` + ``l`` + ``ck`` like ``click`` does.
    """
    looks = [_CONFUSABLE_CHARS.get(ch, ch) for ch in name]
    i = 0
    while i < len(name):
        pair = "".join(looks[i:i + 2])
        if pair in _CONFUSABLE_PAIRS:
            yield name[i:i + 2], _CONFUSABLE_PAIRS[pair]
            i += 2
        else:
            yield name[i], looks[i]
            i += 1


def skeleton(name: str) -> str:
    """What ``name`` looks like: every confusable glyph replaced by its representative."""
    return "".join(looks for _, looks in glyphs(name))


def confusables(candidate: str, known: str) -> str | None:
    """The confusable glyphs telling ``candidate`` from ``known``, as ``"rn→m"`` or ``"1→l, 0→o"``, or None
    when they look different or are equal."""
    if candidate == known:
        return None
    mine, theirs = list(glyphs(candidate)), list(glyphs(known))
    if len(mine) != len(theirs) or any(a[1] != b[1] for a, b in zip(mine, theirs)):
        return None
    swaps = dict.fromkeys(_glyph_swap(a, b) for (a, _), (b, _) in zip(mine, theirs) if a != b)
    return ", ".join(swaps)


def _glyph_swap(mine: str, theirs: str) -> str:
    """``c1`` for ``cl`` is ``1→l``: the differing part of two look-alike glyphs."""
    while mine and theirs and mine[0] == theirs[0]:
        mine, theirs = mine[1:], theirs[1:]
    while mine and theirs and mine[-1] == theirs[-1]:
        mine, theirs = mine[:-1], theirs[:-1]
    return f"{mine}→{theirs}"


def digit_split(name: str) -> tuple[str, str]:
    """``name`` as (core, trailing digits): ``requests2`` → ``("requests", "2")``, ``boto3`` → ``("boto", "3")``,
    ``numpy`` → ``("numpy", "")``. The core keeps its inner separators and loses the one before the digits."""
    match = _DIGIT_SUFFIX.match(name)
    if match is None or not match["core"]:
        return name, ""
    return match["core"], match["digits"]


def describe_digits(mine: str, theirs: str) -> str:
    """How the digit suffix ``mine`` of a candidate differs from ``theirs`` of the known name."""
    if not theirs:
        return f"'{mine}' added"
    if not mine:
        return f"'{theirs}' dropped"
    return f"'{theirs}' changed to '{mine}'"


def affix_splits(name: str) -> Iterator[Affixed]:
    """Every way to read ``name`` as affixes around a core of at least ``MIN_CORE`` letters, the name itself
    (no affix) first. ``python-requests-py`` gives ``python-requests-py``, ``requests-py``, ``python-requests``
    and ``requests``, each once."""
    yield Affixed(name)
    seen = {name}
    for prefix in ("", *PREFIXES):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        for suffix in ("", *SUFFIXES):
            if (prefix or suffix) and rest.endswith(suffix):
                core = rest[:len(rest) - len(suffix)].strip(SEP)
                if len(bare(core)) >= MIN_CORE and core not in seen:
                    seen.add(core)
                    yield Affixed(core, prefix, suffix)


def affix_reach(mine: Affixed, theirs: Affixed) -> str:
    """The ``REACH`` key of a match between two readings of names: a glued affix reaches less far."""
    glued = any(affix and SEP not in affix for affix in (mine.prefix, mine.suffix, theirs.prefix, theirs.suffix))
    return GLUED_AFFIX if glued else AFFIX


def describe_affixes(mine: Affixed, theirs: Affixed) -> str:
    """How a candidate read as ``mine`` differs from a known name read as ``theirs`` (the same core)."""
    if not theirs.affix:
        return f"'{mine.affix}' added"
    if not mine.affix:
        return f"'{theirs.affix}' dropped"
    return f"'{theirs.affix}' swapped for '{mine.affix}'"
