"""What the UI shows, from plain values: tier counts, the policy search index, releases × tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from packaging.specifiers import SpecifierSet

from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.overview import (
    SearchIndex,
    find_release,
    normalize_query,
    release_rows,
    releases_newest_first,
    tier_counts,
)
from mirror.core.policy.evaluate import canonical_version, decide_file
from mirror.core.policy.explain import explain
from mirror.core.policy.model import Block, Location, PolicySet, ProjectPolicy, Review, Signature, Vetting
from mirror.core.tiers import NO_EVIDENCE, decide_page

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SIG = Signature("alice", NOW)
HERE = Location("projects/x.toml", 3)


def policy(name: str, *, review: bool = False, vetted: tuple[str, ...] = (), blocked: bool = False,
           release_blocks: int = 0) -> ProjectPolicy:
    blocks = tuple(Block(SpecifierSet(f"=={i}"), "bad", SIG, HERE) for i in range(release_blocks))
    if blocked:
        blocks += (Block(None, "evil", SIG, HERE),)
    vettings = {canonical_version(v): Vetting(v, {}, SIG, HERE) for v in vetted}
    return ProjectPolicy(name, f"{name}.toml", review=Review(SIG, HERE) if review else None, blocks=blocks,
                         vettings=vettings)


def policy_set(*policies: ProjectPolicy) -> PolicySet:
    return PolicySet(projects={p.name: p for p in policies}, version="v1")


def test_tier_counts_count_what_the_tiers_serve() -> None:
    policies = policy_set(policy("a", review=True), policy("b", review=True, vetted=("1.0", "2.0")),
                          policy("c", review=True, vetted=("1.0",), blocked=True), policy("d", release_blocks=2),
                          policy("e"))
    counts = tier_counts(policies, 100)
    assert (counts.reviewed_projects, counts.vetted_projects, counts.vetted_releases) == (2, 1, 2)
    assert (counts.blocked_projects, counts.blocked_releases) == (1, 2)
    assert counts.all_projects == 99
    assert tier_counts(policies, None).all_projects is None


def test_search_finds_prefixes_first_then_substrings() -> None:
    index = SearchIndex(policy_set(*(policy(n, review=n != "requests-toolbelt") for n in (
        "requests", "requests-toolbelt", "types-requests", "urllib3", "pyrequests"))))
    hits, total = index.search("requests")
    assert [h.name for h in hits] == ["requests", "requests-toolbelt", "pyrequests", "types-requests"]
    assert total == 4
    assert hits[1].status == "not reviewed" and hits[0].status == "reviewed"
    assert [h.name for h in index.search("Requests_Toolbelt")[0]] == ["requests-toolbelt"]  # normalized
    assert index.search("nothing")[0] == []
    assert len(index.search("")[0]) == 5
    hits, total = index.search("r", limit=2)
    assert len(hits) == 2 and total == 5  # urllib3 too


def test_search_statuses() -> None:
    index = SearchIndex(policy_set(policy("a", review=True, vetted=("1",)), policy("b", blocked=True, review=True),
                                   policy("c", release_blocks=1)))
    by_name = {h.name: h for h in index.search("")[0]}
    assert by_name["a"].status == "vetted" and by_name["a"].vetted_releases == 1
    assert by_name["b"].status == "blocked" and by_name["c"].release_blocks == 1


def test_search_on_ten_thousand_policies() -> None:
    """Correct at the size the UI is built for (its speed is measured by bench/ui_pages.py, not here)."""
    index = SearchIndex(policy_set(*(policy(f"project-{i:05d}", review=i % 2 == 0) for i in range(10_000))))
    hits, total = index.search("0042")
    assert total == 11 and hits[0].name == "project-00042"  # then 00420-00429, found inside the names
    hits, total = index.search("project-0", limit=100)
    assert total == 10_000 and len(hits) == 100 and hits[0].name == "project-00000"
    assert index.search("zzz") == ([], 0)


def test_normalize_query() -> None:
    assert normalize_query("  Foo__Bar.baz ") == "foo-bar-baz"
    assert normalize_query("a\nb\x00") == "ab"


def wheel(version: str, age_days: float = 30) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=NOW - timedelta(days=age_days))


def test_release_rows_read_every_verdict_from_the_tier_views() -> None:
    files = [wheel("1.0"), wheel("2.0", age_days=1), wheel("3.0")]
    vetting = Vetting("1.0", {files[0].filename: files[0].sha256}, SIG, HERE)
    pol = ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE),
                        blocks=(Block(SpecifierSet("==3.0"), "bad", SIG, HERE),),
                        vettings={canonical_version("1.0"): vetting})
    policies = PolicySet(projects={"demo": pol}, version="t")
    detail = ProjectDetail(name="demo", files=tuple(files))
    views = {t: decide_page(t, "demo", detail, NO_EVIDENCE, policies, NOW) for t in Tier}
    rows = release_rows(detail, views)
    assert [r.version for r in rows] == ["3.0", "2.0", "1.0"]
    for row in rows:
        for tier in Tier:
            f = row.files[0].file
            # The same decision the Simple API serves and explain prints, file by file.
            assert row.files[0].cells[tier].admitted == decide_file(tier, "demo", f, policies, NOW).admitted
            said = explain("demo", row.version, detail, policies, NOW).tiers
            assert row.cells[tier].admitted == next(t.decision.admitted for t in said if t.tier is tier)
    found = find_release(releases_newest_first(detail), "2")
    assert found is not None and found[0] == "2.0"
    (two,) = release_rows(detail, views, releases=[found])
    assert two.cells[Tier.REVIEWED].until is not None
    assert "cooldown" in two.cells[Tier.REVIEWED].rule
    assert "version blocked" in rows[0].cells[Tier.ALL].rule


def test_a_tier_that_keeps_the_project_out_says_so_on_every_release() -> None:
    files = [wheel("1.0")]
    policies = PolicySet(projects={}, version="t")
    detail = ProjectDetail(name="demo", files=tuple(files))
    views = {t: decide_page(t, "demo", detail, NO_EVIDENCE, policies, NOW) for t in Tier}
    (row,) = release_rows(detail, views)
    assert row.cells[Tier.ALL].admitted
    assert not row.cells[Tier.REVIEWED].admitted and "not reviewed" in row.cells[Tier.REVIEWED].rule
    assert row.files[0].cells[Tier.VETTED].rule == row.cells[Tier.VETTED].rule
