"""How well the typo-squat gate works, measured on a fixed corpus: realistic squats must be caught, the most
downloaded real projects must not be flagged.

* tests/data/squats.txt: squats of popular projects, each with its target and the trick it uses;
* tests/data/top-15000-names.txt: the 15,000 most downloaded projects (the snapshot popular.txt is cut from),
  all legitimate.

The gate is built as shipped: the first ``SHIPPED`` names of the snapshot are the popular list (so ranks
10,001 to 15,000 are real projects the list does not know), each rule reaching as far as ``REACH`` says.
Run with ``-s`` to see the rates.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from mirror.core.policy.lookalike import LookalikeIndex, popular_index, popular_ranked

DATA = Path(__file__).resolve().parent.parent / "data"
SHIPPED = 10_000
KINDS = {"typo", "typo2", "separators", "confusable", "digits", "affix", "combo", "historic"}
MIN_DETECTION = 0.95
MAX_FALSE_POSITIVES = 0.002

#: Each test builds an index of thousands of names: too slow to repeat for every mutant of a mutation run.
pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[str]:
    return [line.partition("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.partition("#")[0].strip()]


@pytest.fixture(scope="module")
def squats() -> list[tuple[str, str, str]]:
    rows = [tuple(line.split()) for line in _lines(DATA / "squats.txt")]
    assert all(len(row) == 3 for row in rows), [row for row in rows if len(row) != 3]
    return [(name, canonicalize_name(target), kind) for name, target, kind in rows]


@pytest.fixture(scope="module")
def legitimate() -> list[str]:
    return _lines(DATA / "top-15000-names.txt")


@pytest.fixture(scope="module")
def gate(legitimate) -> LookalikeIndex:
    return popular_index(legitimate[:SHIPPED])


def _detection(index: LookalikeIndex, squats) -> tuple[float, list[tuple[str, str, str]]]:
    missed = [(name, target, kind) for name, target, kind in squats
              if target not in [f.name for f in index.lookalikes(name)]]
    return 1 - len(missed) / len(squats), missed


def test_the_corpus_is_realistic(squats, legitimate):
    assert len(squats) >= 150
    targets = Counter(target for _, target, _ in squats)
    assert len([t for t, n in targets.items() if n >= 5]) >= 10, targets
    assert {kind for _, _, kind in squats} == KINDS
    assert len(legitimate) == 15_000 and len(set(legitimate)) == 15_000
    assert all(canonicalize_name(n) == n for n in legitimate)
    real = set(legitimate)
    # A squat that is a real, popular project would measure nothing; every target is one the gate knows.
    assert not [name for name, _, _ in squats if canonicalize_name(name) in real]
    assert not [target for _, target, _ in squats if target not in legitimate[:SHIPPED]]
    assert len({canonicalize_name(name) for name, _, _ in squats}) == len(squats)


def test_at_least_95_percent_of_the_squats_are_caught(gate, squats):
    rate, missed = _detection(gate, squats)
    print(f"\ntypo-squat gate: {len(squats) - len(missed)} of {len(squats)} squats caught ({rate:.1%}); "
          f"missed: {', '.join(f'{n} ({k})' for n, _, k in missed) or 'none'}")
    assert rate >= MIN_DETECTION, missed


def test_every_kind_of_squat_is_mostly_caught(gate, squats):
    for kind in KINDS:
        of_kind = [row for row in squats if row[2] == kind]
        rate, missed = _detection(gate, of_kind)
        assert rate >= 0.8, (kind, missed)


def test_at_most_0_2_percent_of_the_most_downloaded_projects_are_flagged(gate, legitimate):
    flagged = {name: found for name in legitimate if (found := gate.lookalikes(name))}
    unlisted = legitimate[SHIPPED:]
    flagged_unlisted = [name for name in unlisted if name in flagged]
    print(f"\ntypo-squat gate: {len(flagged)} of {len(legitimate)} most downloaded projects flagged "
          f"({len(flagged) / len(legitimate):.2%}); of the {len(unlisted)} not in the popular list: "
          f"{len(flagged_unlisted)} ({len(flagged_unlisted) / len(unlisted):.2%}); by rule: "
          f"{dict(Counter(found[0].rule for found in flagged.values()))}")
    # Listed names are never flagged: every false positive is a real project the list does not know.
    assert not [name for name in legitimate[:SHIPPED] if name in flagged]
    assert len(flagged) <= MAX_FALSE_POSITIVES * len(legitimate), {n: [str(f) for f in fs] for n, fs in flagged.items()}


def test_the_shipped_list_catches_the_corpus_too(squats):
    # popular.txt may be refreshed from a newer snapshot: the targets stay popular, the rate stays.
    assert {target for _, target, _ in squats} <= set(popular_ranked())
    rate, missed = _detection(popular_index(), squats)
    assert rate >= MIN_DETECTION, missed
