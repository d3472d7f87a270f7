"""The typo-squat gate of ``mirror promote``: names made to look like a known project.

Pure functions (standard library, ``packaging`` and ``rapidfuzz``). Names are compared in their normalized
form (``packaging.utils.canonicalize_name``), so ``Python_DateUtil`` *is* ``python-dateutil``, not a
look-alike of it, and a known name is never a look-alike of another (``tomli`` of ``toml``, ``boto`` of
``boto3``). The rules, in the order they explain a match (squat_rules.py and typos.py):

* separators: equal once separators are removed (``pythondateutil``, ``beautiful-soup4``) or with the
  words reordered (``dateutil-python``);
* confusable glyphs: ``rn``/``m``, ``vv``/``w``, ``cl``/``d``, ``l``/``1``/``i``, ``0``/``o``, ``5``/``s``
  (``nurnpy``, ``pi11ow``, ``reque5ts``);
* digit suffixes added, dropped or changed (``requests2``, ``urllib`` for ``urllib3``);
* affixes around a known name, taken from one or swapped (``python-requests``, ``pyrequests``,
  ``numpy-base``, ``dateutil`` for ``python-dateutil``);
* typos: slips of the keyboard, as many as the known name's length allows (``requets``, ``tensorfolw``,
  ``beuatifulsop4``), see typos.py;
* one typo or confusable behind a digit suffix or an affix (``requets2``, ``python-reqeusts``).

The shipped list of popular names (``popular.txt``, most downloaded first) is made by
``tools/refresh_popular_names.py``; ``squat_rules.REACH`` says how far down it each rule looks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from packaging.utils import canonicalize_name
from rapidfuzz import process
from rapidfuzz.distance import OSA

from mirror.core.policy import squat_rules as rules
from mirror.core.policy.squat_rules import Affixed
from mirror.core.policy.typos import edit_budget, typo

#: Shipped list of the most-downloaded project names, inside this package so it is found in a wheel too.
_POPULAR_FILE = "popular.txt"


@dataclass(frozen=True, slots=True, order=True)
class Lookalike:
    """A known project ``name`` (normalized) that a checked name resembles, the ``rule`` that matched
    (``"typo"``, ``"affix"``, ``"confusable"``, ``"digit suffix"``, ``"separators"``) and what differs
    (``reason``: ``"one character missing"``, ``"'python-' added"``, ``"rn→m"``)."""

    name: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule} of '{self.name}' ({self.reason})"


class LookalikeIndex:
    """Known project names, indexed so that checking a name against thousands of them stays cheap.

    With a ``reach`` (rule → count, like ``squat_rules.REACH``) the ``names`` come most popular first and
    each rule compares with that many of the first names only: the looser a rule, the more real projects
    match it by chance, and squatters imitate the most installed projects. Names beyond every reach still
    count as known (never look-alikes themselves). Without a reach every rule compares with every name.
    Every rule but the typo one is a dictionary look-up; typos are searched, by ``rapidfuzz``, among the
    names of a length within the slip budget only.
    """

    def __init__(self, names: Iterable[str], *, reach: Mapping[str, int] | None = None) -> None:
        ranked: list[str] = list(dict.fromkeys(canonicalize_name(n) for n in names))
        self.names = frozenset(ranked)
        self._reach = dict(reach) if reach is not None else None
        self._rank = {name: rank for rank, name in enumerate(ranked)}
        self._bare: dict[str, list[str]] = defaultdict(list)
        self._words: dict[tuple[str, ...], list[str]] = defaultdict(list)
        self._skeletons: dict[str, list[str]] = defaultdict(list)
        self._digit_cores: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._affix_cores: dict[str, list[tuple[str, Affixed]]] = defaultdict(list)
        self._names_by_length: dict[int, list[str]] = defaultdict(list)
        self._cores_by_length: dict[int, list[str]] = defaultdict(list)
        for name in ranked[:self._farthest(rules.SEPARATORS, rules.CONFUSABLE)]:
            self._bare[rules.bare(name)].append(name)
            if rules.SEP in name:
                self._words[rules.word_key(name)].append(name)
            self._skeletons[rules.skeleton(name)].append(name)
        for name in ranked[:self._farthest(rules.AFFIX, rules.GLUED_AFFIX)]:
            for split in rules.affix_splits(name):
                self._affix_cores[rules.bare(split.core)].append((name, split))
        for name in ranked[:self._farthest(rules.TYPO)]:
            self._names_by_length[len(name)].append(name)
        for name in ranked[:self._farthest(rules.DIGITS)]:
            core, digits = rules.digit_split(name)
            if core not in self._digit_cores:
                self._cores_by_length[len(core)].append(core)
            self._digit_cores[core].append((name, digits))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonicalize_name(name) in self.names

    def __len__(self) -> int:
        return len(self.names)

    def lookalikes(self, name: str) -> list[Lookalike]:
        """The known projects that ``name`` resembles without being one of them, sorted by name.

        At most one entry per known project, for the first rule that explains it (module docstring order).
        A ``name`` that normalizes to a known one gets an empty list: it *is* that project. Never raises
        for any string input.
        """
        candidate = canonicalize_name(name)
        if candidate in self.names or not candidate:
            return []
        found: dict[str, Lookalike] = {}
        for known, rule, reason, reach in self._matches(candidate):
            if known not in found and (self._reach is None or self._rank[known] < self._reach.get(reach, 0)):
                found[known] = Lookalike(known, rule, reason)
        return sorted(found.values())

    def _farthest(self, *keys: str) -> int | None:
        """How many of the first names some rule among ``keys`` compares with (None: all)."""
        return None if self._reach is None else max(self._reach.get(key, 0) for key in keys)

    def _matches(self, candidate: str) -> Iterator[tuple[str, str, str, str]]:
        """(known name, rule, reason, reach key) for every rule ``candidate`` matches, the most telling first."""
        for known in self._bare.get(rules.bare(candidate), ()):
            yield known, rules.SEPARATORS, rules.SEPARATORS_DIFFER, rules.SEPARATORS
        if rules.SEP in candidate:
            for known in self._words.get(rules.word_key(candidate), ()):
                yield known, rules.SEPARATORS, rules.WORDS_REORDERED, rules.SEPARATORS
        for known in self._skeletons.get(rules.skeleton(candidate), ()):
            swaps = rules.confusables(candidate, known)
            if swaps:
                yield known, rules.CONFUSABLE, swaps, rules.CONFUSABLE
        core, digits = rules.digit_split(candidate)
        if len(rules.bare(core)) >= rules.MIN_CORE:
            for known, their_digits in self._digit_cores.get(core, ()):
                if their_digits != digits:
                    yield known, rules.DIGITS, rules.describe_digits(digits, their_digits), rules.DIGITS
        splits = list(rules.affix_splits(candidate))
        for split in splits:
            for known, theirs in self._affix_cores.get(rules.bare(split.core), ()):
                if split.affix or theirs.affix:
                    yield known, rules.AFFIX, rules.describe_affixes(split, theirs), rules.affix_reach(split, theirs)
        for known, slips in self._typos(candidate, self._names_by_length):
            yield known, rules.TYPO, slips, rules.TYPO
        # One slip behind a digit suffix or an affix (``requets2``, ``beautifulsop``, ``python-reqeusts``), in
        # a core long enough not to be a common word (``py`` + ``trie`` is no slip of ``trio``).
        if len(rules.bare(core)) >= rules.MIN_SLIPPED_CORE:
            for known_core, slips in self._typos(core, self._cores_by_length, most=1):
                for known, their_digits in self._digit_cores[known_core]:
                    if their_digits != digits:
                        yield (known, rules.DIGITS, f"{rules.describe_digits(digits, their_digits)} and {slips}",
                               rules.DIGITS)
        for split in splits[1:]:
            if len(rules.bare(split.core)) < rules.MIN_SLIPPED_CORE:
                continue
            added = rules.describe_affixes(split, Affixed(split.core))
            reach = rules.affix_reach(split, Affixed(split.core))
            for known in self._skeletons.get(rules.skeleton(split.core), ()):
                swaps = rules.confusables(split.core, known)
                if swaps:
                    yield known, rules.AFFIX, f"{added} and {swaps}", reach
            for known, slips in self._typos(split.core, self._names_by_length, most=1):
                yield known, rules.AFFIX, f"{added} and {slips}", reach

    @staticmethod
    def _typos(text: str, by_length: Mapping[int, list[str]], most: int = 2) -> Iterator[tuple[str, str]]:
        """(known, slips) for the names in ``by_length`` that ``text`` is a typo of (``typos.typo``), by
        ``most`` slips at most."""
        for length, names in by_length.items():
            limit = min(most, edit_budget(length))
            if not limit or abs(length - len(text)) > limit:
                continue
            for known, _, _ in process.extract(text, names, scorer=OSA.distance, score_cutoff=limit, limit=None):
                slips = typo(text, known)
                if slips and slips.count(" and ") < most:
                    yield known, slips


def lookalikes(name: str, known: Iterable[str]) -> list[Lookalike]:
    """The projects among ``known`` that ``name`` resembles without being one of them (see
    ``LookalikeIndex.lookalikes``, every rule comparing with every name); builds the index each call, so
    check many names with one index."""
    return LookalikeIndex(known).lookalikes(name)


def popular_ranked() -> tuple[str, ...]:
    """The normalized names listed in the shipped ``popular.txt``, most downloaded first (``#`` starts a
    comment). Raises ``OSError`` only if the package was installed without its data file."""
    text = resources.files(__package__).joinpath(_POPULAR_FILE).read_text(encoding="utf-8")
    names = (line.partition("#")[0].strip() for line in text.splitlines())
    return tuple(dict.fromkeys(canonicalize_name(n) for n in names if n))


def popular_names() -> frozenset[str]:
    """The names of ``popular_ranked()`` as a set."""
    return frozenset(popular_ranked())


def popular_index(names: Iterable[str] | None = None) -> LookalikeIndex:
    """The gate's index of popular names, most downloaded first, each rule reaching as far as
    ``squat_rules.REACH`` says; of the shipped list (built once, then kept) unless ``names`` are given."""
    return _shipped_index() if names is None else LookalikeIndex(names, reach=rules.REACH)


@cache
def _shipped_index() -> LookalikeIndex:
    return LookalikeIndex(popular_ranked(), reach=rules.REACH)
