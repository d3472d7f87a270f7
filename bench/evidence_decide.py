"""What the rules from evidence cost the tier decision: ``decide_page`` of real pages without and with advisories
(and a licence rule), medians in ms. Pure CPU, no network.

    python -m bench.evidence_decide [--advisories 100] [--repeat 9]

The pages are those of the test corpus (``tests/data/pages``: django, 815 files and 448 releases; pydantic-core,
15,057 files); the advisories are synthetic OSV records of the kinds the PyPI export holds: ECOSYSTEM ranges
(introduced/fixed) over the project's real versions, and explicit versions lists. Each measurement builds a new
``Advisories`` (a page revision's first decision pays the matching; the views of the other tiers reuse it).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mirror.core.advisories import Advisory, parse_osv
from mirror.core.licenses import license_of
from mirror.core.models import Tier
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.evidence import Advisories
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import PolicySet
from mirror.core.simple.parse import parse_project_page
from mirror.core.tiers import Evidence, decide_page

PAGES = Path(__file__).resolve().parent.parent / "tests" / "data" / "pages"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def advisories(name: str, versions: list[str], count: int) -> list[Advisory]:
    found = []
    for i in range(count):
        lo, hi = versions[(i * 7) % len(versions)], versions[min(len(versions) - 1, (i * 7) % len(versions) + 3)]
        entry = {"package": {"ecosystem": "PyPI", "name": name}}
        if i % 3:
            entry["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": lo}, {"fixed": hi}]}]
        else:
            entry["versions"] = versions[(i * 5) % len(versions):][:20]
        found.append(parse_osv({"id": f"PYSEC-2026-{i}", "modified": "2026-01-01T00:00:00Z", "affected": [entry]}))
    return found


def page_rows(name: str, count: int, repeat: int, now: datetime) -> list[str]:
    """One line per tier: decide_page of ``name`` without evidence, with ``count`` advisories, and with a licence
    rule too; then the two other tiers of the same page revision (matching already done)."""
    body = gzip.decompress((PAGES / f"{name}.json.gz").read_bytes())
    detail = parse_project_page(body, "application/vnd.pypi.simple.v1+json", project=name,
                                page_url=f"https://index.example/simple/{name}/")
    versions = sorted({v for f in detail.files if (v := canonical_version(f.version))},
                      key=lambda v: tuple(int(p) if p.isdigit() else 0 for p in v.split(".")))
    project = parse_project('[review]\nby = "a"\ncooldown_days = 0\n', f"{name}.toml", name)
    plain = PolicySet(projects={name: project}, version="a")
    licensed = PolicySet(rules=parse_tiers('[reviewed]\nlicenses = ["MIT"]\n', "tiers.toml"),
                         projects={name: project}, version="b")
    records = advisories(name, versions, count)
    licenses = {v: (license_of(license_expression="MIT"),) for v in versions}

    def decide(tier: Tier, evidence: Evidence, policies: PolicySet) -> Callable[[], object]:
        return lambda: decide_page(tier, name, detail, evidence, policies, now)

    def fresh(tier: Tier, policies: PolicySet, with_licenses: bool) -> Callable[[], object]:
        def run() -> object:  # a new page revision: matching included
            evidence = Evidence(advisories=Advisories(records), licenses=licenses if with_licenses else {})
            return decide_page(tier, name, detail, evidence, policies, now)
        return run

    shared = Evidence(advisories=Advisories(records))
    decide(Tier.ALL, shared, plain)()  # the first tier of the revision matched every release
    rows = []
    for tier in (Tier.ALL, Tier.REVIEWED):
        none = median_ms(decide(tier, Evidence(), plain), repeat)
        first = median_ms(fresh(tier, plain, False), repeat)
        other = median_ms(decide(tier, shared, plain), repeat)
        with_licenses = median_ms(fresh(tier, licensed, True), repeat)
        rows.append(f"{name:15s} {len(detail.files):6d} {len(versions):8d} {tier.value:9s} {none:7.1f} "
                    f"{first:7.1f} {other:7.1f} {with_licenses:9.1f}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--advisories", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    now = datetime.now(UTC)
    print(f"decide_page medians (ms), {args.advisories} advisories per project: without evidence; with advisories, "
          "first tier of a page revision (matching every release) and another tier (matched); with a licence rule")
    print(f"{'page':15s} {'files':>6s} {'releases':>8s} {'tier':9s} {'none':>7s} {'first':>7s} {'other':>7s} "
          f"{'licences':>9s}")
    for name in ("django", "pydantic-core"):
        for row in page_rows(name, args.advisories, args.repeat, now):
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
