"""The typo-squat gate: which names count as look-alikes of a known project, by which rule, and why."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mirror.core.policy import squat_rules as rules
from mirror.core.policy.lookalike import (
    Lookalike,
    LookalikeIndex,
    lookalikes,
    popular_index,
    popular_names,
    popular_ranked,
)
from mirror.core.policy.typos import edit_budget, typo

KNOWN = ["requests", "python-dateutil", "urllib3", "numpy", "django", "beautifulsoup4", "flask", "pillow",
         "matplotlib", "colorama", "tensorflow", "click", "cloudpickle", "python-nmap"]


def only(name: str, rule: str, reason: str, known: str) -> tuple[str, Lookalike]:
    return name, Lookalike(known, rule, reason)


@pytest.mark.parametrize(("name", "expected"), [
    only("pythondateutil", rules.SEPARATORS, "separators differ", "python-dateutil"),
    only("py-thon-date-util", rules.SEPARATORS, "separators differ", "python-dateutil"),
    only("Python.DateUtil_", rules.SEPARATORS, "separators differ", "python-dateutil"),
    only("beautiful-soup4", rules.SEPARATORS, "separators differ", "beautifulsoup4"),
    only("Beautiful_Soup_4", rules.SEPARATORS, "separators differ", "beautifulsoup4"),
    only("url-lib3", rules.SEPARATORS, "separators differ", "urllib3"),
    only("dateutil-python", rules.SEPARATORS, "words reordered", "python-dateutil"),
    only("nmap-python", rules.SEPARATORS, "words reordered", "python-nmap"),
])
def test_separator_games(name, expected):
    assert lookalikes(name, KNOWN) == [expected]


@pytest.mark.parametrize(("name", "expected"), [
    only("nurnpy", rules.CONFUSABLE, "rn→m", "numpy"),
    only("pi11ow", rules.CONFUSABLE, "1→l", "pillow"),
    only("piilow", rules.CONFUSABLE, "i→l", "pillow"),
    only("pillovv", rules.CONFUSABLE, "vv→w", "pillow"),
    only("djang0", rules.CONFUSABLE, "0→o", "django"),
    only("reque5ts", rules.CONFUSABLE, "5→s", "requests"),
    only("f1ask", rules.CONFUSABLE, "1→l", "flask"),
    only("matplotIib", rules.CONFUSABLE, "i→l", "matplotlib"),
    only("rnatplotlib", rules.CONFUSABLE, "rn→m", "matplotlib"),
    only("c1ick", rules.CONFUSABLE, "1→l", "click"),  # c1 reads as cl, not as d
    only("doudpickle", rules.CONFUSABLE, "d→cl", "cloudpickle"),
    only("co1orarna", rules.CONFUSABLE, "1→l, rn→m", "colorama"),
    only("ur11ib3", rules.CONFUSABLE, "1→l", "urllib3"),
])
def test_confusable_glyphs(name, expected):
    assert lookalikes(name, KNOWN) == [expected]


@pytest.mark.parametrize(("name", "expected"), [
    only("requests2", rules.DIGITS, "'2' added", "requests"),
    only("requests-3", rules.DIGITS, "'3' added", "requests"),
    only("numpy2", rules.DIGITS, "'2' added", "numpy"),
    only("urllib", rules.DIGITS, "'3' dropped", "urllib3"),
    only("urllib4", rules.DIGITS, "'3' changed to '4'", "urllib3"),
    only("beautifulsoup", rules.DIGITS, "'4' dropped", "beautifulsoup4"),
    only("requets2", rules.DIGITS, "'2' added and one character missing", "requests"),
    only("beautifulsop", rules.DIGITS, "'4' dropped and one character missing", "beautifulsoup4"),
])
def test_digit_suffixes(name, expected):
    assert lookalikes(name, KNOWN) == [expected]


@pytest.mark.parametrize(("name", "expected"), [
    only("python-requests", rules.AFFIX, "'python-' added", "requests"),
    only("python3-requests", rules.AFFIX, "'python3-' added", "requests"),
    only("py-requests", rules.AFFIX, "'py-' added", "requests"),
    only("pyrequests", rules.AFFIX, "'py' added", "requests"),
    only("pip-requests", rules.AFFIX, "'pip-' added", "requests"),
    only("requests-py", rules.AFFIX, "'-py' added", "requests"),
    only("requestspy", rules.AFFIX, "'py' added", "requests"),
    only("requests-python", rules.AFFIX, "'-python' added", "requests"),
    only("requests-lib", rules.AFFIX, "'-lib' added", "requests"),
    only("requests-dev", rules.AFFIX, "'-dev' added", "requests"),
    only("requests-api", rules.AFFIX, "'-api' added", "requests"),
    only("requests-sdk", rules.AFFIX, "'-sdk' added", "requests"),
    only("numpy-base", rules.AFFIX, "'-base' added", "numpy"),
    only("python-requests-py", rules.AFFIX, "'python-…-py' added", "requests"),
    only("dateutil", rules.AFFIX, "'python-' dropped", "python-dateutil"),
    only("nmap", rules.AFFIX, "'python-' dropped", "python-nmap"),
    only("py-dateutil", rules.AFFIX, "'python-' swapped for 'py-'", "python-dateutil"),
    only("python3-dateutil", rules.AFFIX, "'python-' swapped for 'python3-'", "python-dateutil"),
    only("dateutil-py", rules.AFFIX, "'python-' swapped for '-py'", "python-dateutil"),
    only("python-reqeusts", rules.AFFIX, "'python-' added and two adjacent characters swapped", "requests"),
    only("py-nurnpy", rules.AFFIX, "'py-' added and rn→m", "numpy"),
])
def test_affixes(name, expected):
    assert lookalikes(name, KNOWN) == [expected]


@pytest.mark.parametrize(("name", "expected"), [
    only("requets", rules.TYPO, "one character missing", "requests"),
    only("request", rules.TYPO, "one character missing", "requests"),
    only("urlib3", rules.TYPO, "one character missing", "urllib3"),
    only("reqeusts", rules.TYPO, "two adjacent characters swapped", "requests"),
    only("erquests", rules.TYPO, "two adjacent characters swapped", "requests"),
    only("requestss", rules.TYPO, "a character repeated", "requests"),
    only("rrequests", rules.TYPO, "a character repeated", "requests"),
    only("numpyy", rules.TYPO, "a character repeated", "numpy"),
    only("requesrs", rules.TYPO, "one character changed", "requests"),  # neighbouring keys
    only("mumpy", rules.TYPO, "one character changed", "numpy"),
    only("djanga", rules.TYPO, "one character changed", "django"),  # a vowel for a vowel
    only("matplotlip", rules.TYPO, "one character changed", "matplotlib"),  # sounds alike
    only("requestsx", rules.TYPO, "one character added", "requests"),  # next to the s key
    only("colourama", rules.TYPO, "one character added", "colorama"),  # a vowel sounded out
    only("python-dateutils", rules.TYPO, "one character added", "python-dateutil"),  # a plural
    only("python0dateutil", rules.TYPO, "a separator changed", "python-dateutil"),
    only("tensrflw", rules.TYPO, "two characters missing", "tensorflow"),
    only("beuatifulsop4", rules.TYPO, "two adjacent characters swapped and one character missing",
         "beautifulsoup4"),
    only("scikt-lern", rules.TYPO, "two characters missing", "scikit-learn"),
])
def test_typos(name, expected):
    assert lookalikes(name, [*KNOWN, "scikit-learn"]) == [expected]


@pytest.mark.parametrize(("name", "known", "why"), [
    ("tika", "pika", "names under five characters allow no slip"),
    ("mack", "mock", "names under five characters allow no slip"),
    ("pytest-cpp", "pytest-cov", "the differing word is too short for a slip"),
    ("google-cloud-iap", "google-cloud-iam", "the differing word is too short for a slip"),
    ("pytest-async", "pytest-asyncio", "two slips in a word of seven characters"),
    ("pyshark", "pyspark", "h and p are neither neighbouring keys, vowels nor sound-alikes"),
    ("scipp", "scipy", "p and y are neither neighbouring keys, vowels nor sound-alikes"),
    ("make", "cmake", "the first letter is never dropped"),
    ("syncer", "asyncer", "the first letter is never dropped"),
    ("ipytest", "pytest", "nothing is added before the first letter"),
    ("toronado", "tornado", "o is added next to neither a neighbouring key nor a vowel"),
    ("xunitparser", "junitparser", "j to x is no slip, even by way of a separator"),
    ("cupy-cuda11x", "cupy-cuda12x", "digits are no typo"),
    ("pyqt6", "pyqt5", "digits are no typo"),  # and the digit suffix rule does not reach this far here
    ("pytrie", "trio", "a slip behind an affix needs a core of six letters"),
    ("sixpy", "six", "a core of three letters is no affix"),
    ("requests-mock", "requests", "-mock is a word of its own, not an affix"),
    ("django-filter", "django", "plugin prefixes and suffixes are how real projects are named"),
    ("qeruests", "requests", "three slips"),
    ("python-dateutilss", "python-dateutil", "two slips in a word of eight characters"),
])
def test_not_lookalikes(name, known, why):
    reach = {rule: 10 for rule in rules.REACH} | {rules.DIGITS: 0}
    assert LookalikeIndex([known], reach=reach).lookalikes(name) == [], why


@pytest.mark.parametrize("name", [
    "requests", "Requests", "python-dateutil", "Python_DateUtil", "python.dateutil", "DJANGO", "httpx", "attrs",
    "numpy-stl", "flask-login", "sqlalchemy",
])
def test_known_names_and_unrelated_names_are_not_lookalikes(name):
    assert lookalikes(name, KNOWN) == []


def test_a_known_name_has_no_lookalikes_even_among_its_neighbours():
    # ``tomli`` is a real project one character away from ``toml``: being known, it is not flagged.
    assert lookalikes("tomli", ["toml", "tomli"]) == []
    assert lookalikes("TOMLI", ["toml", "Tomli"]) == []
    assert lookalikes("boto", ["boto3", "boto"]) == []
    assert lookalikes("boto", ["boto3"]) == [Lookalike("boto3", rules.DIGITS, "'3' dropped")]


def test_the_first_rule_that_explains_a_match_is_named():
    # ``requests2`` is also one character added, and ``djang0`` one changed: the sharper rule is named.
    assert lookalikes("requests2", ["requests"]) == [Lookalike("requests", rules.DIGITS, "'2' added")]
    assert lookalikes("req-uests", ["requests"]) == [Lookalike("requests", rules.SEPARATORS, "separators differ")]
    assert str(lookalikes("nurnpy", ["numpy"])[0]) == "confusable of 'numpy' (rn→m)"
    assert str(lookalikes("python-requests", ["requests"])[0]) == "affix of 'requests' ('python-' added)"


def test_results_are_sorted_deduplicated_and_normalized():
    known = ["Requests", "requests", "REQUESTS", "requestz", "request_s", "requests2"]
    assert lookalikes("requestsz", known) == [
        Lookalike("requests", rules.TYPO, "one character added"),
        Lookalike("requests2", rules.DIGITS, "'2' dropped and one character added"),
        Lookalike("requestz", rules.TYPO, "one character added"),
    ]
    assert lookalikes("requests-", known) == [
        Lookalike("request-s", rules.SEPARATORS, "separators differ"),
        Lookalike("requests", rules.SEPARATORS, "separators differ"),
        Lookalike("requests2", rules.TYPO, "a separator changed"),
    ]


def test_known_may_be_any_iterable():
    assert lookalikes("requets", (n for n in KNOWN)) == [Lookalike("requests", rules.TYPO, "one character missing")]
    assert lookalikes("requets", []) == []


def test_each_rule_reaches_only_as_far_down_the_ranking_as_told():
    ranked = ["requests", "numpy", "django", "python-dateutil"]
    reach = {rules.SEPARATORS: 4, rules.CONFUSABLE: 2, rules.TYPO: 2, rules.AFFIX: 3, rules.GLUED_AFFIX: 1,
             rules.DIGITS: 1}
    index = LookalikeIndex(ranked, reach=reach)
    assert [f.name for f in index.lookalikes("reqeusts")] == ["requests"]
    assert index.lookalikes("djnago") == []  # rank 2: beyond the typo reach
    assert index.lookalikes("djang0") == []  # and the confusable one
    assert [f.name for f in index.lookalikes("dj-ango")] == ["django"]  # separators reach it
    assert [f.name for f in index.lookalikes("django-python")] == ["django"]  # affixes too
    assert index.lookalikes("djangopy") == []  # but not glued ones
    assert [f.name for f in index.lookalikes("pyrequests")] == ["requests"]
    assert index.lookalikes("numpy2") == [] and [f.name for f in index.lookalikes("requests2")] == ["requests"]
    assert index.lookalikes("dateutil") == []  # rank 3
    assert index.lookalikes("python-dateutil") == [] and "Python_DateUtil" in index  # beyond reach, still known
    assert len(index) == 4


def test_any_string_is_checked_without_raising():
    index = popular_index()
    for name in ["", "-", "...", "_-_", "a", "1", "é", "requests\x00", " requests ", "-requests-", "x" * 300]:
        assert isinstance(index.lookalikes(name), list)


def test_popular_names_are_shipped_ranked_and_normalized():
    ranked = popular_ranked()
    assert len(ranked) >= 5_000 and len(set(ranked)) == len(ranked)
    assert {"requests", "urllib3", "boto3", "numpy", "python-dateutil", "typing-extensions", "pyyaml",
            "django", "flask", "sqlalchemy", "pytest", "jinja2"} <= set(ranked[:1_000])
    assert all(canonicalize_name(n) == n for n in ranked)
    assert popular_names() == frozenset(ranked)
    assert popular_index() is popular_index() and len(popular_index()) == len(ranked)


def test_popular_names_record_their_source_date_and_refresh_command():
    from importlib import resources
    header = [line for line in resources.files("mirror.core.policy").joinpath("popular.txt")
              .read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "top-pypi-packages" in text and "https://hugovk.github.io/top-pypi-packages/" in text
    assert "snapshot of 20" in text
    assert "python tools/refresh_popular_names.py" in text


def test_popular_projects_are_never_squats_of_each_other():
    # The false positives of the old gate: each is a popular project itself.
    index = popular_index()
    for name in ["authlib", "scapy", "boto", "fastai", "tomli", "psycopg", "pipx", "pyaml", "cattrs"]:
        assert name in index and index.lookalikes(name) == []
    assert [f.name for f in index.lookalikes("pi11ow")] == ["pillow"]


@pytest.mark.slow
def test_a_large_known_set_finds_what_a_single_name_finds():
    rng = random.Random(7)
    known = {"".join(rng.choices(string.ascii_lowercase + "-", k=rng.randint(3, 24))).strip("-") or "x"
             for _ in range(10_000)}
    known |= set(KNOWN)
    index = LookalikeIndex(known)
    for name in ["python-dateutils", "reqeusts", "nurnpy", "python-requests", "requests2", "dateutil-python"]:
        assert [f for f in index.lookalikes(name) if f.name in KNOWN] == lookalikes(name, KNOWN)


# -- properties ---------------------------------------------------------------------------------

known_names = st.from_regex(r"[a-z]{2,8}(-[a-z]{2,8}){0,2}", fullmatch=True).filter(lambda n: len(n) >= 5)


@st.composite
def slips(draw) -> tuple[str, str]:
    """A known name and a different, normalized name one slip (of those ``typo`` counts) away from it."""
    known = draw(known_names)
    op = draw(st.sampled_from(["repeat", "delete", "transpose", "separator"]))
    if op == "repeat":
        i = draw(st.integers(0, len(known) - 1))
        mutated = known[:i] + known[i] + known[i:]
    elif op == "delete":
        i = draw(st.integers(1, len(known) - 1))
        mutated = known[:i] + known[i + 1:]
    elif op == "transpose":
        i = draw(st.integers(0, len(known) - 2))
        mutated = known[:i] + known[i + 1] + known[i] + known[i + 2:]
    else:
        i = draw(st.integers(1, len(known) - 1))
        mutated = known[:i] + "-" + known[i:]
    # Slips the normalization undoes (``a--b``) or that give the name back are not slips.
    assume(mutated != known and canonicalize_name(mutated) == mutated)
    # A slip inside a short word of a longer name is not counted (``pytest-cpp``, ``pytest-cov``).
    assume(len(mutated.split("-")) != len(known.split("-"))
           or all(a == b or len(b) >= 5 for a, b in zip(mutated.split("-"), known.split("-"))))
    return known, mutated


@pytest.mark.slow
@given(slips(), st.lists(known_names, max_size=5))
def test_any_slip_of_a_known_name_is_reported_with_that_name(pair, others):
    known, mutated = pair
    assume(mutated not in others)
    assert known in [f.name for f in lookalikes(mutated, [*others, known])]


@pytest.mark.slow
@given(known_names, st.lists(known_names, max_size=5))
def test_a_name_is_never_its_own_lookalike(name, others):
    other_spelling = name.upper().replace("-", "_")
    assert lookalikes(name, [*others, name]) == []
    assert lookalikes(other_spelling, [*others, name]) == []
    assert name not in [f.name for f in lookalikes(name, others)]


# Letters that make no confusable glyph, digit, affix or neighbouring key: only separators and slips apply.
plain_names = st.text("abeghmu-", min_size=1, max_size=12).map(canonicalize_name).filter(bool)


@given(plain_names, st.lists(plain_names, min_size=1, max_size=8))
def test_the_index_finds_exactly_what_the_rules_say(name, known):
    normalized = {canonicalize_name(k) for k in known}
    assume(name not in normalized)
    expected = {k for k in normalized
                if rules.bare(k) == rules.bare(name)
                or ("-" in name and rules.word_key(k) == rules.word_key(name))
                or typo(name, k) is not None}
    assert {f.name for f in lookalikes(name, known)} == expected


@pytest.mark.parametrize(("length", "budget"), [(1, 0), (4, 0), (5, 1), (9, 1), (10, 2), (40, 2)])
def test_the_slip_budget_grows_with_the_name(length, budget):
    assert edit_budget(length) == budget
