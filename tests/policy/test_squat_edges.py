"""The typo-squat gate at its edges: where a slip may fall in a multi-word name, two slips of the same kind,
the reach of each rule over a ranked list, and the thresholds of the typo-behind-an-affix and
typo-behind-a-digit-suffix rules."""

from __future__ import annotations

import re

import pytest

from mirror.core.policy import squat_rules as rules
from mirror.core.policy.lookalike import Lookalike, LookalikeIndex, lookalikes, popular_index, popular_ranked
from mirror.core.policy.typos import typo


@pytest.mark.parametrize(("candidate", "known", "slips"), [
    # the first letter of a name is never dropped (readers know a name by its start) ...
    ("ython-dateutil", "python-dateutil", None),
    ("lalchemy", "sqlalchemy", None),
    ("qlalchemyy", "sqlalchemy", None),
    # ... but the first letter of a later word may be
    ("python-ateutil", "python-dateutil", "one character missing"),
    ("flask-lalchemy", "flask-sqlalchemy", "two characters missing"),
    ("flask-qlalchemyy", "flask-sqlalchemy", "one character missing and a character repeated"),
    # two slips of a kind with no wording of its own
    ("mat-plot-lib", "matplotlib", "separators differ twice"),
    # a slip per word, but more than the whole name's budget
    ("alpah-bravoo-charlei", "alpha-bravo-charlie", None),
    ("alpah-bravoo-charlie", "alpha-bravo-charlie", "two adjacent characters swapped and a character repeated"),
    # a digit for a letter is the digit-suffix rule's, even on a neighbouring key (9 and o)
    ("pill9w", "pillow", None),
    # an added character: next to a neighbouring key before or after it, never before the first letter
    ("requestes", "requests", "one character added"),
    ("colorsama", "colorama", "one character added"),
    ("erequests", "requests", None),
    # an 's' added is a plural only at the end
    ("pilslow", "pillow", None),
    ("pillows", "pillow", "one character added"),
])
def test_slips_by_position(candidate, known, slips):
    assert typo(candidate, known) == slips


def test_a_typo_behind_a_digit_suffix_needs_a_core_of_six_letters_and_one_slip():
    assert lookalikes("urllin2", ["urllib3"]) == [
        Lookalike("urllib3", rules.DIGITS, "'3' changed to '2' and one character changed")]
    assert lookalikes("urlin2", ["urllib3"]) == []          # a five-letter core
    assert lookalikes("beuatifulsop5", ["beautifulsoup4"]) == []  # two slips behind the suffix


def test_a_typo_behind_an_affix_is_one_slip_in_any_reading_of_the_name():
    assert lookalikes("python-beuatifulsop4", ["beautifulsoup4"]) == []  # two slips behind the affix
    # "pyab" + "-official" is too short a core to look for slips in; "py" + "ab-official" is not
    assert lookalikes("pyab-official", ["ab-oficial"]) == [
        Lookalike("ab-oficial", rules.AFFIX, "'py' added and a character repeated")]


def test_every_name_within_one_slip_is_reported():
    candidate = "banana"
    known = sorted({candidate[:i] + v + candidate[i + 1:] for i, ch in enumerate(candidate) if ch in "aeiouy"
                    for v in "aeiouy" if v != ch})
    found = lookalikes(candidate, known)
    assert [f.name for f in found] == known and {f.reason for f in found} == {"one character changed"}


def test_each_rule_reaches_as_far_down_the_ranked_list_as_it_says():
    confusable = LookalikeIndex(["a1", "b2", "numpy"], reach={rules.SEPARATORS: 1, rules.CONFUSABLE: 3})
    assert confusable.lookalikes("nurnpy") == [Lookalike("numpy", rules.CONFUSABLE, "rn→m")]
    glued = LookalikeIndex(["a1", "b2", "requests"], reach={rules.AFFIX: 1, rules.GLUED_AFFIX: 3})
    assert glued.lookalikes("pyrequests") == [Lookalike("requests", rules.AFFIX, "'py' added")]
    # a rule missing from the reach reaches nothing, even where another rule's index finds the name
    no_affix = LookalikeIndex(["numpy"], reach={rules.SEPARATORS: 5, rules.CONFUSABLE: 5})
    assert no_affix.lookalikes("nurnpy") == [Lookalike("numpy", rules.CONFUSABLE, "rn→m")]
    assert no_affix.lookalikes("python-nurnpy") == []
    with_affix = LookalikeIndex(["numpy"], reach={rules.SEPARATORS: 5, rules.CONFUSABLE: 5, rules.AFFIX: 5})
    assert with_affix.lookalikes("python-nurnpy") == [Lookalike("numpy", rules.AFFIX, "'python-' added and rn→m")]
    typos_only = LookalikeIndex(["requests"], reach={rules.TYPO: 5})
    assert typos_only.lookalikes("requets") == [Lookalike("requests", rules.TYPO, "one character missing")]
    assert typos_only.lookalikes("python-requests") == []
    # the shipped reach: an affix with a typo behind it reaches as far as the affix rule
    shipped = LookalikeIndex(["requests"], reach=rules.REACH)
    assert shipped.lookalikes("python-reqeusts") == [
        Lookalike("requests", rules.AFFIX, "'python-' added and two adjacent characters swapped")]


def test_the_gates_index_of_given_names_uses_the_shipped_reach():
    names = [f"filler{i}" for i in range(rules.REACH[rules.GLUED_AFFIX])] + ["requests"]
    index = popular_index(names)
    assert "requests" in index and "FILLER0" in index
    assert "Python_DateUtil" not in index and "numpy" not in index and 42 not in index
    assert len(index) == len(names)
    assert index.lookalikes("pyrequests") == []  # a glued affix reaches the first 300 names only
    assert index.lookalikes("python-requests") == [Lookalike("requests", rules.AFFIX, "'python-' added")]


def test_the_shipped_list_holds_normalized_names_only():
    names = popular_ranked()
    assert names and all(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", n) for n in names)
