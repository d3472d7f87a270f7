"""What a tier serves of a page (mirror.core.tiers): servability before any rule, the metadata each tier
advertises, the view's releases and verdicts, quarantine, the project list of each tier. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from packaging.specifiers import SpecifierSet

from mirror.core.models import DistFile, ProjectDetail, ProjectStatus, Tier
from mirror.core.policy.evaluate import Decision, ReleaseRules, Sighting, canonical_version, decide_project
from mirror.core.policy.model import (
    Block,
    Location,
    PolicySet,
    ProjectPolicy,
    Review,
    Signature,
    Vetting,
)
from mirror.core.tiers import (
    NO_EVIDENCE,
    Evidence,
    FileVerdict,
    ReleaseVerdict,
    TierView,
    advertised_metadata,
    curated_projects,
    decide_page,
    hidden_from_all,
    servable_file,
    servable_page,
    sightings_of,
    unservable,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIG = Signature("alice", NOW)
HERE = Location("policies/projects/demo.toml", 3)
VET_AT = Location("policies/projects/demo.toml", 9)
SHA, OTHER, META, META2, LOCAL = "a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64


def wheel(version: str = "1.0", *, age: timedelta = timedelta(days=30), sha: str = SHA,
          hashes: dict[str, str] | None = None, metadata: dict[str, str] | None = None,
          name: str = "demo") -> DistFile:
    return DistFile(f"{name}-{version}-py3-none-any.whl", f"https://up.example/{name}-{version}.whl",
                    hashes if hashes is not None else {"sha256": sha}, upload_time=NOW - age,
                    core_metadata=metadata)


def policies(*, review: bool = True, vettings: tuple[Vetting, ...] = (), blocks: tuple[Block, ...] = ()) -> PolicySet:
    project = ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE) if review else None, blocks=blocks,
                            vettings={canonical_version(v.version): v for v in vettings})
    return PolicySet(projects={"demo": project}, version="t")


# --------------------------------------------------------------------------- servability

HOSTILE_NAMES = [
    "../demo-1.0.tar.gz", "..", "demo-1.0..tar.gz", "sub/demo-1.0.tar.gz", "sub\\demo-1.0.tar.gz",
    "/etc/passwd", "demo-1.0.tar.gz/", "%2e%2e/demo-1.0.tar.gz", "demo%2F1.0.tar.gz", "demo-1.0.tar.gz?x=1",
    "demo-1.0.tar.gz#frag", " demo-1.0.tar.gz", "demo-1.0.tar.gz\n", "demo-1.0.tar.gz\x00.whl", ".demo-1.0.tar.gz",
    "-demo-1.0.tar.gz", "~demo-1.0.tar.gz", "", "déмо-1.0.tar.gz", "demo 1.0.tar.gz", "demo:1.0.tar.gz",
    "demo-1.0.tar.gz;rm -rf", "a" * 256, "demo-1.0\u2024tar.gz",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_file_name_that_is_not_one_plain_segment_is_served_nowhere(name):
    f = DistFile(name, "https://up.example/x", {"sha256": SHA})
    assert unservable(f) == Decision(False, "the file name is not a single plain path segment: served in no tier")


@pytest.mark.parametrize("name", ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "Demo_Pkg-1.0+local.zip",
                                  "d", "0demo-1!2.0~x.tar.gz", "a" * 255])
def test_plain_file_names_are_servable(name):
    assert unservable(DistFile(name, "https://up.example/x", {"sha256": SHA})) is None


NO_HASH = Decision(False, "upstream advertises no hash the mirror can verify for this file (none of sha256 or "
                          "stronger, or a malformed or conflicting one): served in no tier")


@pytest.mark.parametrize("hashes", [{}, {"md5": "0" * 32}, {"sha256": "xyz"}, {"sha1": "0" * 40, "md5": "0" * 32},
                                    {"sha256": SHA, "SHA256": OTHER}, {"blake3": SHA}])
def test_a_file_without_a_verifiable_hash_is_served_nowhere(hashes):
    f = wheel(hashes=hashes)
    assert unservable(f) == NO_HASH
    assert unservable(f, None, f.checked_hashes()) == NO_HASH


def test_precomputed_hashes_are_trusted_as_given():
    f = wheel(hashes={"md5": "0" * 32})
    assert unservable(f, None, {"sha256": SHA}) is None
    assert unservable(wheel(), None, None) == NO_HASH


def test_other_bytes_under_a_name_the_mirror_has_seen_are_served_nowhere():
    seen = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
    f = wheel(sha=OTHER)
    assert unservable(f, Sighting(SHA, seen)) == Decision(
        False, f"upstream now lists other bytes under {f.filename} (sha256 {OTHER}) than when this mirror first saw it "
               f"on 2026-10-01 08:30 UTC (sha256 {SHA}): a published file never changes, so it is served in no tier")
    assert unservable(f, Sighting(OTHER, seen)) is None
    assert unservable(f, Sighting(OTHER.upper().lower(), seen, True)) is None
    assert unservable(f, Sighting(None, seen)) is None  # first seen without a sha256: nothing to compare
    only_512 = wheel(hashes={"sha512": "f" * 128})
    assert unservable(only_512, Sighting(SHA, seen)) is None  # no sha256 advertised now: the downloads check bytes


def test_servable_file_keeps_only_checked_hashes_and_verifiable_metadata():
    plain = wheel(metadata={"sha256": META})
    assert servable_file(plain, {}) is plain  # nothing to change: the same object
    assert servable_file(plain, {OTHER: LOCAL}) is plain  # extracted metadata of other bytes
    extra = wheel(hashes={"sha256": SHA, "blake3": "x", "MD5": "0" * 32}, metadata={"sha256": META, "foo": "1"})
    served = servable_file(extra, {})
    assert served.hashes == {"sha256": SHA, "md5": "0" * 32}
    assert served.core_metadata == {"sha256": META}
    assert served.local_metadata is None
    bad_meta = wheel(metadata={"sha256": "nope"})
    assert servable_file(bad_meta, {}).core_metadata is None
    with_local = servable_file(plain, {SHA: LOCAL})
    assert with_local.local_metadata == LOCAL and with_local.core_metadata == {"sha256": META}
    assert servable_file(plain, {SHA: LOCAL}, {"sha256": SHA}).local_metadata == LOCAL


@pytest.mark.parametrize(("tier", "upstream", "pin", "local", "expected"), [
    (Tier.ALL, {"sha256": META}, None, None, {"sha256": META}),
    (Tier.ALL, {"sha256": META}, None, LOCAL, {"sha256": META}),       # upstream's (verifiable) wins
    (Tier.ALL, None, None, LOCAL, {"sha256": LOCAL}),                  # else what the mirror extracted
    (Tier.ALL, None, None, None, None),
    (Tier.REVIEWED, {"sha256": META}, None, None, {"sha256": META}),
    (Tier.REVIEWED, None, None, LOCAL, {"sha256": LOCAL}),
    (Tier.VETTED, {"sha256": META}, META, None, {"sha256": META}),     # the pinned metadata
    (Tier.VETTED, {"sha256": META}, META2, None, None),                # not the pinned one: none advertised
    (Tier.VETTED, {"sha256": META}, None, None, None),                 # nothing pinned: never upstream's
    (Tier.VETTED, {"sha256": META}, None, LOCAL, {"sha256": LOCAL}),   # ... only the mirror's own
    (Tier.VETTED, {"sha256": META}, META2, LOCAL, {"sha256": LOCAL}),
    (Tier.VETTED, None, META, LOCAL, {"sha256": LOCAL}),
])
def test_the_metadata_each_tier_advertises(tier, upstream, pin, local, expected):
    f = DistFile("demo-1.0-py3-none-any.whl", "u", {"sha256": SHA}, core_metadata=upstream, local_metadata=local)
    vetting = Vetting("1.0", {f.filename: SHA}, SIG, VET_AT, metadata={f.filename: pin} if pin else {})
    ctx = ReleaseRules(tier, "demo", "1.0", None, vetting=vetting if tier is Tier.VETTED else None)
    got = advertised_metadata(tier, f, ctx)
    assert got.core_metadata == expected
    if expected == upstream:
        assert got is f


def test_vetted_without_a_vetting_context_advertises_only_extracted_metadata():
    f = DistFile("demo-1.0-py3-none-any.whl", "u", {"sha256": SHA}, core_metadata={"sha256": META})
    assert advertised_metadata(Tier.VETTED, f, ReleaseRules(Tier.VETTED, "demo", "1.0", None)).core_metadata is None


def test_servable_page_reduces_each_file_once_for_every_tier():
    good, bad, moved = wheel("1.0"), wheel("2.0", hashes={}), wheel("3.0", sha=OTHER)
    sightings = {moved.filename: Sighting(SHA, NOW - timedelta(days=60)), good.filename: Sighting(SHA, NOW)}
    page = servable_page(ProjectDetail("demo", (good, bad, moved)), Evidence(sightings=sightings))
    assert [s.original for s in page] == [good, bad, moved]
    assert page[0].served is good and page[0].refused is None and page[0].sighting == sightings[good.filename]
    assert page[1].served is None and page[1].refused == NO_HASH and page[1].sighting is None
    assert page[2].served is None and "other bytes" in page[2].refused.rule
    local = servable_page(ProjectDetail("demo", (good,)), Evidence(extracted={SHA: LOCAL}))
    assert local[0].served.local_metadata == LOCAL


# --------------------------------------------------------------------------- decide_page


def test_a_view_groups_verdicts_by_release_in_upstream_order_and_serves_only_admitted_files():
    old, young, refused, odd = (wheel("1.0"), wheel("2.0", age=timedelta(days=1)), wheel("3.0", hashes={}),
                                DistFile("demo.whl", "u", {"sha256": SHA}, upload_time=NOW - timedelta(days=30)))
    sdist = DistFile("demo-1.0.tar.gz", "u2", {"sha256": OTHER}, upload_time=NOW - timedelta(days=30))
    detail = ProjectDetail("Demo", (old, young, refused, odd, sdist), versions=("1.0", "2.0", "3.0"),
                           last_serial=7)
    view = decide_page(Tier.REVIEWED, "demo", detail, NO_EVIDENCE, policies(), NOW)
    assert view.tier is Tier.REVIEWED and view.project == decide_project(Tier.REVIEWED, "demo", policies())
    assert view.detail.name == "demo" and view.detail.last_serial == 7 and view.detail.versions == detail.versions
    assert view.detail.files == (old, sdist)
    assert [r.version for r in view.releases] == ["1.0", "2.0", "3.0", None]
    assert [[v.file.filename for v in r.files] for r in view.releases] == [
        [old.filename, sdist.filename], [young.filename], [refused.filename], [odd.filename]]
    assert [r.admitted for r in view.releases] == [True, False, False, False]
    assert view.releases[2].decision == NO_HASH
    assert view.releases[3].decision.rule == "the file's version cannot be determined from its name"
    assert view.valid_until == NOW - timedelta(days=1) + timedelta(days=7)
    assert view.file(old.filename) is old and view.file(young.filename) is None and view.file("x") is None
    assert view.release("1.0.0") is view.releases[0] and view.release("2") is view.releases[1]
    assert view.release("9.0") is None and view.release("not a version") is None
    assert view.listed
    # the release's rules are evaluated once: its admitted files share one decision
    [first, second] = view.releases[0].files
    assert first.decision is second.decision


def test_valid_until_is_the_earliest_end_of_a_cooldown():
    files = (wheel("1.0", age=timedelta(days=3)), wheel("2.0", age=timedelta(days=5)),
             wheel("3.0", age=timedelta(days=4)))
    view = decide_page(Tier.REVIEWED, "demo", ProjectDetail("demo", files), NO_EVIDENCE, policies(), NOW)
    assert view.valid_until == NOW + timedelta(days=2)
    settled = decide_page(Tier.REVIEWED, "demo", ProjectDetail("demo", (wheel(),)), NO_EVIDENCE, policies(), NOW)
    assert settled.valid_until is None


def test_a_release_summary_is_its_first_admitting_decision():
    out, inn = Decision(False, "out"), Decision(True, "in")
    f = wheel()
    assert ReleaseVerdict("1.0", (FileVerdict(f, out), FileVerdict(f, inn))).decision is inn
    assert ReleaseVerdict("1.0", (FileVerdict(f, out), FileVerdict(f, Decision(False, "2")))).decision is out
    assert not ReleaseVerdict("1.0", (FileVerdict(f, out),)).admitted


@pytest.mark.parametrize("tier", list(Tier))
def test_a_blocked_project_is_quarantined_in_every_tier(tier):
    pol = policies(blocks=(Block(None, "malware", SIG, HERE),))
    detail = ProjectDetail("Demo", (wheel(),), versions=("1.0",), last_serial=4, upstream_name="Demo")
    for page in (detail, None):
        view = decide_page(tier, "demo", page, NO_EVIDENCE, pol, NOW)
        assert view.tier is tier and not view.project.admitted and view.listed
        assert view.detail.files == () and view.detail.versions == ()
        assert view.detail.status == ProjectStatus("quarantined", "blocked by this index: malware")
        assert view.detail.name == "demo" and view.releases == ()
        if page is not None:
            assert view.detail.last_serial == 4


@pytest.mark.parametrize(("tier", "pol"), [(Tier.REVIEWED, PolicySet()), (Tier.REVIEWED, policies(review=False)),
                                           (Tier.VETTED, policies())])
def test_a_project_the_tier_keeps_out_is_not_listed(tier, pol):
    view = decide_page(tier, "demo", ProjectDetail("demo", (wheel(),)), NO_EVIDENCE, pol, NOW)
    assert view.tier is tier and not view.listed and view.detail == ProjectDetail(name="demo") and view.releases == ()
    assert view.project == decide_project(tier, "demo", pol)


def test_without_a_page_an_admitted_project_has_an_empty_view():
    view = decide_page(Tier.ALL, "demo", None, NO_EVIDENCE, PolicySet(), NOW)
    assert view.tier is Tier.ALL and view.listed and view.detail == ProjectDetail(name="demo") and view.releases == ()


def test_listed_follows_the_project_decision_or_quarantine():
    admitted, out = Decision(True, "in"), Decision(False, "out")
    assert TierView(Tier.ALL, admitted, ProjectDetail("d")).listed
    assert not TierView(Tier.ALL, out, ProjectDetail("d")).listed
    assert TierView(Tier.ALL, out, ProjectDetail("d", status=ProjectStatus("quarantined"))).listed
    assert not TierView(Tier.ALL, out, ProjectDetail("d", status=ProjectStatus("archived"))).listed


def test_the_vetted_view_serves_the_pinned_metadata_only():
    f = wheel(metadata={"sha256": META})
    g = wheel("2.0", metadata={"sha256": META})
    vettings = (Vetting("1.0", {f.filename: SHA}, SIG, VET_AT, metadata={f.filename: META}),
                Vetting("2.0", {g.filename: SHA}, SIG, VET_AT))
    detail = ProjectDetail("demo", (f, g))
    vetted = decide_page(Tier.VETTED, "demo", detail, NO_EVIDENCE, policies(vettings=vettings), NOW)
    assert [x.core_metadata for x in vetted.detail.files] == [{"sha256": META}, None]
    reviewed = decide_page(Tier.REVIEWED, "demo", detail, NO_EVIDENCE, policies(vettings=vettings), NOW)
    assert [x.core_metadata for x in reviewed.detail.files] == [{"sha256": META}, {"sha256": META}]


def test_a_precomputed_servable_page_is_used():
    f = wheel()
    detail = ProjectDetail("demo", (f,))
    refused = servable_page(ProjectDetail("demo", (wheel(hashes={}),)), NO_EVIDENCE)
    view = decide_page(Tier.ALL, "demo", detail, NO_EVIDENCE, PolicySet(), NOW, servable=refused)
    assert view.detail.files == ()


def test_first_sightings_reach_the_cooldown():
    f = wheel(age=timedelta(days=30))
    evidence = Evidence(sightings={f.filename: Sighting(SHA, NOW - timedelta(days=1))})
    view = decide_page(Tier.REVIEWED, "demo", ProjectDetail("demo", (f,)), evidence, policies(), NOW)
    assert view.detail.files == () and view.valid_until == NOW + timedelta(days=6)


def test_sightings_of_rows():
    when = NOW - timedelta(days=2)
    assert sightings_of([("a.whl", SHA, when, True), ("b.whl", None, NOW, False)]) == {
        "a.whl": Sighting(SHA, when, True), "b.whl": Sighting(None, NOW, False)}


# --------------------------------------------------------------------------- project lists


def test_project_lists_from_the_policies():
    pol = PolicySet(projects={
        "b": ProjectPolicy("b", "b.toml", review=Review(SIG, HERE)),
        "a": ProjectPolicy("a", "a.toml", review=Review(SIG, HERE),
                           vettings={"1": Vetting("1", {}, SIG, VET_AT)}),
        "c": ProjectPolicy("c", "c.toml", blocks=(Block(None, "x", SIG, HERE),)),
        "e": ProjectPolicy("e", "e.toml", blocks=(Block(SpecifierSet("<2"), "x", SIG, HERE),)),
        "d": ProjectPolicy("d", "d.toml"),
    })
    # all leaves out whole-project blocks only (a blocked release keeps its project listed)
    assert hidden_from_all(pol) == {"c"}
    assert hidden_from_all(PolicySet(projects={"a": pol.projects["a"]})) == frozenset()
    assert curated_projects(Tier.REVIEWED, pol) == ("a", "b")
    assert curated_projects(Tier.VETTED, pol) == ("a",)
    assert curated_projects(Tier.VETTED, PolicySet()) == ()
