"""The pieces of the typo-squat gate one by one (squat_rules.py, typos.py): what each says about two names,
in the words a reviewer reads. The gate as a whole is tested in test_lookalike.py and test_squat_corpus.py."""

from __future__ import annotations

import pytest

from mirror.core.policy import squat_rules as rules
from mirror.core.policy import typos
from mirror.core.policy.squat_rules import Affixed


@pytest.mark.parametrize(("name", "bare", "words"), [
    ("python-dateutil", "pythondateutil", ("dateutil", "python")),
    ("nmap-python", "nmappython", ("nmap", "python")),
    ("a-b-c", "abc", ("a", "b", "c")),
    ("numpy", "numpy", ("numpy",)),
])
def test_separators(name, bare, words):
    assert rules.bare(name) == bare and rules.word_key(name) == words


@pytest.mark.parametrize(("name", "glyphs", "skeleton"), [
    ("nurnpy", [("n", "n"), ("u", "u"), ("rn", "m"), ("p", "p"), ("y", "y")], "numpy"),
    ("c1ick", [("c1", "d"), ("i", "l"), ("c", "c"), ("k", "k")], "dlck"),
    ("vvheel", [("vv", "w"), ("h", "h"), ("e", "e"), ("e", "e"), ("l", "l")], "wheel"),
    ("req5", [("r", "r"), ("e", "e"), ("q", "q"), ("5", "s")], "reqs"),
    ("f0o", [("f", "f"), ("0", "o"), ("o", "o")], "foo"),
    ("rn", [("rn", "m")], "m"),
    ("r", [("r", "r")], "r"),
    ("", [], ""),
])
def test_glyphs_and_skeletons(name, glyphs, skeleton):
    assert list(rules.glyphs(name)) == glyphs
    assert rules.skeleton(name) == skeleton


@pytest.mark.parametrize(("candidate", "known", "swaps"), [
    ("nurnpy", "numpy", "rn→m"),
    ("pi11ow", "pillow", "1→l"),
    ("pi110w", "pillow", "1→l, 0→o"),
    ("reque5ts", "requests", "5→s"),
    ("f0o", "foo", "0→o"),
    ("c1ick", "click", "1→l"),
    ("vvheel", "wheel", "vv→w"),
    ("dick", "click", "d→cl"),
    ("numpy", "numpy", None),            # equal: not a look-alike
    ("numpz", "numpy", None),            # looks different
    ("numpyy", "numpy", None),           # another length
    ("lll", "iii", "l→i"),
])
def test_confusables(candidate, known, swaps):
    assert rules.confusables(candidate, known) == swaps


@pytest.mark.parametrize(("name", "split"), [
    ("requests2", ("requests", "2")), ("boto3", ("boto", "3")), ("numpy", ("numpy", "")),
    ("py-3", ("py", "3")), ("urllib-3", ("urllib", "3")), ("a-b-12", ("a-b", "12")), ("123", ("123", "")),
    ("x1y2", ("x1y", "2")), ("", ("", "")),
])
def test_digit_split(name, split):
    assert rules.digit_split(name) == split


@pytest.mark.parametrize(("mine", "theirs", "text"), [
    ("2", "", "'2' added"), ("", "3", "'3' dropped"), ("2", "3", "'3' changed to '2'"),
])
def test_describe_digits(mine, theirs, text):
    assert rules.describe_digits(mine, theirs) == text


def test_affix_splits_in_order_each_core_once():
    assert list(rules.affix_splits("python-requests-py")) == [
        Affixed("python-requests-py"),
        Affixed("python-requests", "", "-py"),
        Affixed("requests-py", "python-"),
        Affixed("requests", "python-", "-py"),
        Affixed("thon-requests-py", "py"),
        Affixed("thon-requests", "py", "-py"),
    ]
    # "python" + "-requests" is the core "requests" again, once
    assert list(rules.affix_splits("python-requests")) == [Affixed("python-requests"),
                                                           Affixed("requests", "python-"),
                                                           Affixed("thon-requests", "py")]
    assert list(rules.affix_splits("pyrequests")) == [Affixed("pyrequests"), Affixed("requests", "py")]
    assert list(rules.affix_splits("sixpy")) == [Affixed("sixpy")]       # a core of three letters is none
    assert list(rules.affix_splits("py-io")) == [Affixed("py-io")]
    assert list(rules.affix_splits("numpy-base")) == [Affixed("numpy-base"), Affixed("numpy", "", "-base")]
    assert list(rules.affix_splits("pyyaml")) == [Affixed("pyyaml"), Affixed("yaml", "py")]


@pytest.mark.parametrize(("affixed", "text"), [
    (Affixed("x", "python-", "-lib"), "python-…-lib"), (Affixed("x", "py"), "py"), (Affixed("x", "", "-py"), "-py"),
    (Affixed("x"), ""),
])
def test_affix_text(affixed, text):
    assert affixed.affix == text


@pytest.mark.parametrize(("mine", "theirs", "text", "reach"), [
    (Affixed("requests", "python-"), Affixed("requests"), "'python-' added", rules.AFFIX),
    (Affixed("requests", "py"), Affixed("requests"), "'py' added", rules.GLUED_AFFIX),
    (Affixed("dateutil"), Affixed("dateutil", "python-"), "'python-' dropped", rules.AFFIX),
    (Affixed("dateutil"), Affixed("dateutil", "", "py"), "'py' dropped", rules.GLUED_AFFIX),
    (Affixed("x", "py-"), Affixed("x", "python-"), "'python-' swapped for 'py-'", rules.AFFIX),
    (Affixed("x", "", "-lib"), Affixed("x", "", "-sdk"), "'-sdk' swapped for '-lib'", rules.AFFIX),
    (Affixed("x", "", "-lib"), Affixed("x", "", "py"), "'py' swapped for '-lib'", rules.GLUED_AFFIX),
    (Affixed("x", "python3"), Affixed("x"), "'python3' added", rules.GLUED_AFFIX),
])
def test_describe_affixes_and_their_reach(mine, theirs, text, reach):
    assert rules.describe_affixes(mine, theirs) == text
    assert rules.affix_reach(mine, theirs) == reach


# --------------------------------------------------------------------------- typos


@pytest.mark.parametrize(("length", "budget"), [(0, 0), (4, 0), (5, 1), (9, 1), (10, 2), (40, 2)])
def test_edit_budget(length, budget):
    assert typos.edit_budget(length) == budget


@pytest.mark.parametrize(("candidate", "known", "slips"), [
    ("requets", "requests", "one character missing"),
    ("reqeusts", "requests", "two adjacent characters swapped"),
    ("requestss", "requests", "a character repeated"),
    ("rrequests", "requests", "a character repeated"),
    ("requesrs", "requests", "one character changed"),
    ("requestx", "requests", "one character changed"),            # s and x are neighbours
    ("requestsx", "requests", "one character added"),             # x added after its neighbour s
    ("xrequests", "requests", None),                              # nothing added before the first letter
    ("requ-ests", "requests", "separators differ"),
    ("python_dateutil", "python-dateutil", "a separator changed"),  # (normalized names never hold "_")
    ("python0dateutil", "python-dateutil", "a separator changed"),
    ("pythondateutil", "python-dateutil", "separators differ"),
    ("colourama", "colorama", "one character added"),
    ("opeanai", "openai", "one character added"),
    ("python-dateutils", "python-dateutil", "one character added"),
    ("requestsz", "requests", "one character added"),             # z next to s
    ("requestsq", "requests", None),                              # q is no neighbour of s
    ("requests1", "requests", None),                              # digits belong to the digit rule
    ("reque1sts", "requests", None),
    ("equests", "requests", None),                                # the first letter is never dropped
    ("matplotlip", "matplotlib", "one character changed"),        # b and p sound alike
    ("djanga", "django", "one character changed"),
    ("pyshark", "pyspark", None),
    ("tensrflw", "tensorflow", "two characters missing"),
    ("tensorflwo", "tensorflow", "two adjacent characters swapped"),
    ("tnesorflwo", "tensorflow", "two pairs of adjacent characters swapped"),
    ("tensorrfloww", "tensorflow", "two characters repeated"),
    ("tensorflowsx", "tensorflow", "two characters added"),
    ("tendorflpw", "tensorflow", "two characters changed"),
    ("beuatifulsop4", "beautifulsoup4", "two adjacent characters swapped and one character missing"),
    ("python0dateutil0", "python-dateutil", None),
    ("pytest-cpp", "pytest-cov", None),
    ("pytest-coc", "pytest-cov", None),                           # a word of three letters allows no slip
    ("scikit-lern", "scikit-learn", "one character missing"),
    ("skikit-learn", "scikit-learn", "one character changed"),
    ("scikit-lear", "scikit-learn", "one character missing"),
    ("requests", "requests", None),
    ("mack", "mock", None),
    ("qeruests", "requests", None),
    ("requestsssss", "requests", None),
    ("requests-x", "requests", None),
    ("request", "requests", "one character missing"),
    ("reqests", "requests", "one character missing"),
    ("reuqests", "requests", "two adjacent characters swapped"),
    ("requesst", "requests", "two adjacent characters swapped"),
    ("requsets", "requests", "two adjacent characters swapped"),
])
def test_typos(candidate, known, slips):
    assert typos.typo(candidate, known) == slips


@pytest.mark.parametrize(("a", "b", "touch"), [
    ("s", "d", True), ("s", "a", True), ("s", "w", True), ("s", "e", True), ("s", "z", True), ("s", "x", True),
    ("s", "q", False), ("s", "c", False), ("s", "f", False), ("a", "z", True), ("p", "l", True), ("p", "0", True),
    ("1", "q", True), ("1", "2", True), ("m", "k", True), ("m", "j", True), ("m", "n", True), ("g", "b", True),
    ("s", "s", False), ("s", "-", False), ("-", "s", False), ("é", "e", False), ("q", "a", True), ("w", "a", True),
    ("e", "a", False),
])
def test_neighbouring_keys(a, b, touch):
    assert typos._keys_touch(a, b) is touch
    assert typos._keys_touch(b, a) is touch


@pytest.mark.parametrize(("a", "b", "mistakable"), [
    ("a", "e", True), ("y", "i", True), ("b", "p", True), ("d", "t", True), ("c", "k", True), ("s", "z", True),
    ("f", "v", True), ("g", "k", True), ("s", "d", True), ("h", "p", False), ("a", "1", False), ("1", "2", False),
    ("-", "a", False), ("b", "t", False),
])
def test_mistakable_letters(a, b, mistakable):
    assert typos._mistakable(a, b) is mistakable


@pytest.mark.parametrize(("a", "b", "index"), [("abc", "abd", 2), ("abc", "abc", 3), ("ab", "abc", 2),
                                                ("abc", "ab", 2), ("xbc", "abc", 0), ("", "a", 0)])
def test_first_difference(a, b, index):
    assert typos._first_difference(a, b) == index


def test_variants_are_every_single_edit():
    variants = set(typos._variants("ab", {"x"}))
    assert variants == {"xab", "-ab", "axb", "a-b", "abx", "ab-", "b", "a", "xb", "-b", "ax", "a-", "ba", "ab"} - {"ab"}
    assert "ab" not in list(typos._variants("ab", {"a", "b"}))
