"""How cheap the typo-squat gate is: building the index of the popular names, and checking 10,000 names.

    python bench/squat_gate.py [--checks 10000] [--repeat 3]

The names checked are what a busy reviewer would ask about: the real projects of tests/data/top-15000-names.txt
that the shipped list does not hold, the squats of tests/data/squats.txt, and random slips of popular names,
to ``--checks`` in all. Side by side, the same checks without the index (every rule applied to every name
within its reach, one pair at a time) on a sample, to show what the index saves. Prints medians; pure CPU,
no network.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mirror.core.policy import squat_rules as rules  # noqa: E402
from mirror.core.policy.lookalike import LookalikeIndex, popular_ranked  # noqa: E402


def _names(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def candidates(count: int, ranked: tuple[str, ...]) -> list[str]:
    """``count`` names to check: unlisted real projects, squats, then random slips of popular names."""
    listed = set(ranked)
    found = [n for n in _names(ROOT / "tests" / "data" / "top-15000-names.txt") if n not in listed]
    found += _names(ROOT / "tests" / "data" / "squats.txt")
    rng = random.Random(1)
    while len(found) < count:
        name = rng.choice(ranked[:1_000])
        i = rng.randrange(len(name))
        found.append(rng.choice([name[:i] + name[i + 1:], name[:i] + name[i] + name[i:], name + "2",
                                 "python-" + name, name[:i] + "x" + name[i + 1:]]))
    return found[:count]


def seconds(work, repeat: int) -> float:
    """The median wall time of ``work()`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=50, help="checks timed without the index")
    args = parser.parse_args()
    ranked = popular_ranked()
    build = seconds(lambda: LookalikeIndex(ranked, reach=rules.REACH), args.repeat)
    index = LookalikeIndex(ranked, reach=rules.REACH)
    names = candidates(args.checks, ranked)
    flagged = sum(1 for name in names if index.lookalikes(name))
    check = seconds(lambda: [index.lookalikes(name) for name in names], args.repeat)
    # Without the index: one single-name index per known name in reach, i.e. every rule, pair by pair.
    reach = max(rules.REACH.values())
    pairs = [LookalikeIndex([known]) for known in ranked[:reach]]
    sample = names[:: max(1, len(names) // args.sample)][:args.sample]
    naive = seconds(lambda: [[p.lookalikes(name) for p in pairs] for name in sample], 1)
    print(f"popular names: {len(ranked)}; reach: {dict(rules.REACH)}")
    print(f"index build: {build * 1000:.0f} ms")
    print(f"{len(names)} checks: {check:.2f} s ({check / len(names) * 1e6:.0f} µs each), {flagged} flagged")
    print(f"without the index ({len(sample)} checks, {len(pairs)} names each): "
          f"{naive / len(sample) * 1e3:.1f} ms each, {naive / len(sample) / (check / len(names)):.0f}x slower")


if __name__ == "__main__":
    main()
