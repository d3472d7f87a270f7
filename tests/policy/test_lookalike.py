"""The typo-squat gate: which names count as look-alikes of a known project, and why."""

from __future__ import annotations

import random
import string
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mirror.core.policy.lookalike import Lookalike, lookalikes, popular_names

KNOWN = ["requests", "python-dateutil", "urllib3", "numpy", "django", "beautifulsoup4", "flask"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("requets", Lookalike("requests", "one character missing")),
        ("request", Lookalike("requests", "one character missing")),
        ("urlib3", Lookalike("urllib3", "one character missing")),
        ("reqeusts", Lookalike("requests", "two adjacent characters swapped")),
        ("erquests", Lookalike("requests", "two adjacent characters swapped")),
        ("requesst", Lookalike("requests", "two adjacent characters swapped")),
        ("requestss", Lookalike("requests", "a character repeated")),
        ("rrequests", Lookalike("requests", "a character repeated")),
        ("numpyy", Lookalike("numpy", "a character repeated")),
        ("requestsx", Lookalike("requests", "one character added")),
        ("python-dateutils", Lookalike("python-dateutil", "one character added")),
        ("djang0", Lookalike("django", "one character changed")),
        ("dlask", Lookalike("flask", "one character changed")),
        ("python0dateutil", Lookalike("python-dateutil", "a separator changed")),
        ("pythondateutil", Lookalike("python-dateutil", "separators differ")),
        ("Python.DateUtils", Lookalike("python-dateutil", "one character added")),
        ("Python.DateUtil_", Lookalike("python-dateutil", "separators differ")),
        ("py-thon-date-util", Lookalike("python-dateutil", "separators differ")),
        ("beautiful-soup4", Lookalike("beautifulsoup4", "separators differ")),
        ("Beautiful_Soup_4", Lookalike("beautifulsoup4", "separators differ")),
        ("url-lib3", Lookalike("urllib3", "separators differ")),
    ],
)
def test_each_kind_of_slip_is_named(name, expected):
    assert lookalikes(name, KNOWN) == [expected]


@pytest.mark.parametrize(
    "name",
    [
        "requests", "Requests", "python-dateutil", "Python_DateUtil", "python.dateutil", "DJANGO",
        "httpx", "attrs", "requests-mock", "numpy-stl", "flask-login", "sqlalchemy", "qeruests",
        "reqeutss", "python-dateutilss",
    ],
)
def test_unrelated_names_and_other_spellings_are_not_lookalikes(name):
    assert lookalikes(name, KNOWN) == []


def test_a_known_name_has_no_lookalikes_even_among_its_neighbours():
    # ``tomli`` is a real project one character away from ``toml``: being known, it is not flagged.
    assert lookalikes("tomli", ["toml", "tomli"]) == []
    assert lookalikes("TOMLI", ["toml", "Tomli"]) == []
    assert lookalikes("tomli", ["toml"]) == [Lookalike("toml", "one character added")]


def test_results_are_sorted_deduplicated_and_normalized():
    known = ["Requests", "requests", "REQUESTS", "requestz", "request_s", "requests2"]
    assert lookalikes("requestsz", known) == [
        Lookalike("requests", "one character added"),
        Lookalike("requests2", "one character changed"),
        Lookalike("requestz", "one character added"),
    ]
    assert lookalikes("requests-", known) == [
        Lookalike("request-s", "separators differ"),
        Lookalike("requests", "separators differ"),
        Lookalike("requests2", "a separator changed"),
    ]


def test_known_may_be_any_iterable():
    assert lookalikes("requets", (n for n in KNOWN)) == [Lookalike("requests", "one character missing")]
    assert lookalikes("requets", []) == []


def test_popular_names_are_shipped_and_normalized():
    names = popular_names()
    assert len(names) >= 150
    assert {"requests", "urllib3", "boto3", "numpy", "python-dateutil", "typing-extensions", "pyyaml",
            "django", "flask", "sqlalchemy", "pytest", "jinja2"} <= names
    assert all(canonicalize_name(n) == n for n in names)
    assert not any(n.startswith("#") for n in names)
    assert lookalikes("reqeusts", names) == [Lookalike("requests", "two adjacent characters swapped")]


def test_ten_thousand_known_names_are_checked_quickly():
    rng = random.Random(7)
    known = {"".join(rng.choices(string.ascii_lowercase + "-", k=rng.randint(3, 24))) for _ in range(10_000)}
    known |= popular_names()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        found = lookalikes("python-dateutils", known)
        best = min(best, time.perf_counter() - start)
    assert Lookalike("python-dateutil", "one character added") in found
    assert best < 0.1


# -- properties ---------------------------------------------------------------------------------

NAME_CHARS = string.ascii_lowercase + string.digits
known_names = st.from_regex(r"[a-z0-9]{2,8}(-[a-z0-9]{2,8}){0,2}", fullmatch=True).filter(lambda n: len(n) >= 4)


@st.composite
def single_edits(draw) -> tuple[str, str]:
    """A known name and a different, already normalized name one edit away from it."""
    known = draw(known_names)
    op = draw(st.sampled_from(["substitute", "insert", "delete", "transpose"]))
    char = draw(st.sampled_from(NAME_CHARS + "-"))
    if op == "insert":
        i = draw(st.integers(0, len(known)))
        mutated = known[:i] + char + known[i:]
    else:
        i = draw(st.integers(0, len(known) - (2 if op == "transpose" else 1)))
        if op == "substitute":
            mutated = known[:i] + char + known[i + 1:]
        elif op == "delete":
            mutated = known[:i] + known[i + 1:]
        else:
            mutated = known[:i] + known[i + 1] + known[i] + known[i + 2:]
    # Edits the normalization undoes (``a--b``) or that give the name back are not slips.
    assume(mutated != known and canonicalize_name(mutated) == mutated)
    return known, mutated


@given(single_edits(), st.lists(known_names, max_size=5))
def test_any_single_edit_of_a_known_name_is_reported_with_that_name(pair, others):
    known, mutated = pair
    assume(mutated not in others)
    found = lookalikes(mutated, [*others, known])
    assert known in [f.name for f in found]


@given(known_names, st.lists(known_names, max_size=5))
def test_a_name_is_never_its_own_lookalike(name, others):
    other_spelling = name.upper().replace("-", "_")
    assert lookalikes(name, [*others, name]) == []
    assert lookalikes(other_spelling, [*others, name]) == []
    assert name not in [f.name for f in lookalikes(name, others)]


# A tiny alphabet makes near misses (and separator games) frequent.
close_names = st.text("ab-", min_size=1, max_size=7).map(canonicalize_name)


@given(close_names, close_names)
def test_the_rules_are_symmetric(a, b):
    assert (lookalikes(a, [b]) != []) == (lookalikes(b, [a]) != [])


def _osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau–Levenshtein with adjacent swaps), the slow way."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@given(close_names, close_names)
def test_matches_a_brute_force_oracle(a, b):
    expected = a != b and (_osa_distance(a, b) == 1 or a.replace("-", "") == b.replace("-", ""))
    assert [f.name for f in lookalikes(a, [b])] == ([b] if expected else [])
