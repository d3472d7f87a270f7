"""``explain``: the exact text and structure reviewers act on (mirror.core.policy.explain). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from packaging.specifiers import SpecifierSet

from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import Decision
from mirror.core.policy.explain import Explanation, FileVerdict, TierExplanation, explain
from mirror.core.policy.model import (
    Block,
    GitHubPublisher,
    Location,
    PolicySet,
    ProjectPolicy,
    ProvenanceRule,
    ProvenanceStatus,
    Review,
    Signature,
    Vetting,
)
from mirror.core.tiers import Evidence

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIG = Signature("alice", NOW)
FILE = "policies/projects/demo.toml"
HERE = Location(FILE, 3)
VET_AT = Location(FILE, 9)
SHA, OTHER = "a" * 64, "b" * 64
GH = GitHubPublisher("o/r", "release.yml")


def wheel(version: str, *, age: timedelta = timedelta(days=30), sha: str = SHA) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl", {"sha256": sha},
                    upload_time=NOW - age)


def sdist(version: str, *, age: timedelta = timedelta(days=30), sha: str = OTHER) -> DistFile:
    return DistFile(f"demo-{version}.tar.gz", f"https://up.example/demo-{version}.tar.gz", {"sha256": sha},
                    upload_time=NOW - age)


def policies(*, vettings=(), provenance: ProvenanceRule | None = None) -> PolicySet:
    return PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE),
                                                     vettings={v.version: v for v in vettings},
                                                     provenance=provenance)}, version="t")


def test_a_project_without_a_version():
    got = explain("demo", None, None, policies(), NOW)
    assert got.project == "demo" and got.version is None
    assert got.notes == ("upstream page not available: file-level rules (hashes, cooldown) not evaluated",)
    assert [t.tier for t in got.tiers] == list(Tier)
    assert [t.decision.admitted for t in got.tiers] == [True, True, False]
    assert all(t.files == () for t in got.tiers)
    assert got.as_text() == "\n".join([
        "demo:",
        "  all       IN   not blocked: every upstream project is in 'all'",
        "            rule at: built-in default",
        "            to change: mirror block demo --by NAME --reason TEXT",
        "  reviewed  IN   reviewed by alice",
        f"            rule at: {FILE}:3",
        "            to change: mirror demote demo --by NAME --reason TEXT",
        "  vetted    OUT  no release of this project is vetted",
        f"            rule at: {FILE}:3",
        "            to change: mirror vet demo VERSION --by NAME --note TEXT",
        "  note: upstream page not available: file-level rules (hashes, cooldown) not evaluated",
    ])


def test_a_release_with_its_files():
    young = wheel("1.0", age=timedelta(days=1))
    old = sdist("1.0")
    detail = ProjectDetail("demo", (young, old, wheel("2.0")))
    vettings = (Vetting("1", {young.filename: "c" * 64, old.filename: "c" * 64}, Signature("carol", NOW), VET_AT),)
    got = explain("demo", "1.0", detail, policies(vettings=vettings), NOW)
    assert got.notes == ()
    reviewed = got.tiers[1]
    assert reviewed.decision.rule == "reviewed by alice; older than the 7-day cooldown"  # the admitting file's
    assert reviewed.files == (
        FileVerdict(young.filename, False, "uploaded 2026-11-24 12:00 UTC, inside the 7-day cooldown until "
                                           "2026-12-01 12:00 UTC", "mirror vet demo 1.0 --by NAME --note TEXT"),
        FileVerdict(old.filename, True, "reviewed by alice; older than the 7-day cooldown",
                    "mirror block demo==1.0 --by NAME --reason TEXT"),
    )
    vetted = got.tiers[2]
    assert not vetted.decision.admitted
    assert vetted.decision.rule.startswith(f"{young.filename} no longer matches the sha256 pinned")
    text = got.as_text()
    assert text.splitlines()[0] == "demo 1.0:"
    assert ("            - demo-1.0-py3-none-any.whl: uploaded 2026-11-24 12:00 UTC, inside the 7-day cooldown "
            "until 2026-12-01 12:00 UTC\n              to change: mirror vet demo 1.0 --by NAME --note TEXT") in text
    # one line per release and tier with its count of files; only the files that differ from it are listed
    assert "  reviewed  IN   reviewed by alice; older than the 7-day cooldown (2 files)" in text
    assert "demo-1.0.tar.gz: reviewed by alice" not in text
    # a file's own remedy is printed only where it differs from the tier's
    assert text.count("to change: mirror unvet demo 1.0 --by NAME --reason TEXT, then after review "
                      "mirror vet demo 1.0 --by NAME --note TEXT") == 1
    data = got.as_dict()
    assert data["project"] == "demo" and data["version"] == "1.0" and data["notes"] == []
    assert data["tiers"][1] == {
        "tier": "reviewed", "admitted": True, "rule": "reviewed by alice; older than the 7-day cooldown",
        "where": f"{FILE}:3", "change": "mirror block demo==1.0 --by NAME --reason TEXT",
        "files": [
            {"filename": young.filename, "admitted": False, "rule": reviewed.files[0].rule,
             "change": "mirror vet demo 1.0 --by NAME --note TEXT"},
            {"filename": old.filename, "admitted": True, "rule": "reviewed by alice; older than the 7-day cooldown"},
        ],
    }
    assert [f.get("change") for f in data["tiers"][2]["files"]] == [None, None]


def test_a_version_upstream_does_not_list_is_in_no_tier():
    detail = ProjectDetail("demo", (wheel("1.0"),))
    got = explain("demo", "3.0", detail, policies(), NOW)
    assert got.notes == ("upstream lists no file of demo 3.0: nothing to serve in any tier",
                         f"demo is reviewed ({HERE}), but there is nothing of it to serve")
    assert [(t.tier, t.decision) for t in got.tiers] == [
        (tier, Decision(False, "upstream lists no file of demo 3.0")) for tier in Tier]
    assert explain("demo", "1.0.0", detail, policies(), NOW).notes == ()
    blocked = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", blocks=(
        Block(SpecifierSet("==3.0"), "bad", SIG, HERE),))})
    assert explain("demo", "3.0", detail, blocked, NOW).notes[1] == (
        f"the policies keep it out anyway: version blocked (==3.0): bad ({HERE})")
    other = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", blocks=(
        Block(SpecifierSet("==2.0"), "bad", SIG, HERE),))})
    assert explain("demo", "3.0", detail, other, NOW).notes == (
        "upstream lists no file of demo 3.0: nothing to serve in any tier",)  # a block of another version
    assert (got.project, got.version) == ("demo", "3.0")
    whole = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", blocks=(Block(None, "bad", SIG, HERE),))})
    assert explain("demo", None, detail, whole, NOW, upstream_missing=True).notes == (
        "upstream has no project demo: nothing to serve in any tier",
        f"the policies keep it out anyway: blocked: bad ({HERE})")
    missing = explain("demo", "2.0", None, policies(), NOW, upstream_missing=True)
    assert (missing.project, missing.version) == ("demo", "2.0")
    assert missing.tiers[0].decision == Decision(False, "upstream has no project demo")


def test_a_version_without_the_page_is_decided_by_the_policies_alone():
    blocked = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE), blocks=(
        Block(SpecifierSet("==2.0"), "bad", SIG, HERE),))})
    got = explain("demo", "1.0", None, blocked, NOW)  # upstream unreachable: no page
    assert [t.decision.admitted for t in got.tiers] == [True, True, False]
    assert got.tiers[0].decision.rule == "not blocked: every upstream project is in 'all'"
    assert explain("demo", "2.0", None, blocked, NOW).tiers[0].decision.rule == "version blocked (==2.0): bad"
    assert explain("demo", "3.0", None, policies(), NOW).notes == (
        "upstream page not available: file-level rules (hashes, cooldown) not evaluated",)


def test_a_project_without_a_policy():
    got = explain("other", "1.0", ProjectDetail("other", (wheel("1.0"),)), policies(), NOW)
    assert [t.decision.admitted for t in got.tiers] == [True, False, False] and got.notes == ()


def test_a_blocked_project_lists_its_files_in_no_tier_but_upstream_has_them():
    from mirror.core.policy.model import Block

    pol = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", blocks=(Block(None, "bad", SIG, HERE),))})
    got = explain("demo", "1.0", ProjectDetail("demo", (wheel("1.0"),)), pol, NOW)
    assert got.notes == () and not any(t.decision.admitted for t in got.tiers)
    assert [t.tier for t in got.tiers] == list(Tier)


def test_provenance_notes_of_a_project_outside_reviewed():
    f = wheel("1.0")
    rule = ProvenanceRule(False, (GH,), SIG, Location(FILE, 30))
    pol = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", provenance=rule)})
    ok = ProvenanceStatus(GH.identity, pinned=(GH.identity,))
    got = explain("demo", "1.0", ProjectDetail("demo", (f,)), pol, NOW, Evidence(provenance={SHA: ok}))
    assert got.notes[1] == f"provenance of {f.filename}: verified, published by {GH.identity}"


def test_provenance_notes():
    f = wheel("1.0")
    rule = ProvenanceRule(True, (GH,), SIG, Location(FILE, 30))
    ok = ProvenanceStatus(GH.identity, checked_at=datetime(2026, 11, 20, 8, 5, tzinfo=UTC), pinned=(GH.identity,))
    got = explain("demo", "1.0", ProjectDetail("demo", (sdist("1.0"), f)), policies(provenance=rule), NOW,
                  Evidence(provenance={SHA: ok}))
    assert got.notes == (
        f"trusted publishers pinned: {GH.identity}; provenance required for 'vetted' ({FILE}:30)",
        f"provenance of {f.filename}: verified, published by {GH.identity} (checked 2026-11-20 08:05 UTC)",
    )
    bad = ProvenanceStatus(None, "signature expired", pinned=(GH.identity,))
    relaxed = ProvenanceRule(False, (), SIG, Location(FILE, 30))
    got = explain("demo", "1.0", ProjectDetail("demo", (f,)), policies(provenance=relaxed), NOW,
                  Evidence(provenance={SHA: bad}))
    assert got.notes == (
        f"trusted publishers pinned: none; provenance not required for 'vetted' ({FILE}:30)",
        f"provenance of {f.filename}: does not verify: signature expired",
    )
    # no rule: no provenance notes, whatever the evidence
    assert explain("demo", "1.0", ProjectDetail("demo", (f,)), policies(), NOW,
                   Evidence(provenance={SHA: bad})).notes == ()


def test_text_and_dict_of_a_bare_decision():
    d = Decision(False, "nope")
    t = TierExplanation(Tier.VETTED, d, (FileVerdict("x.whl", False, "bad", "fix it"),
                                         FileVerdict("y.whl", True, "good", None)))
    e = Explanation("demo", None, (t,), ("n1", "n2"))
    assert e.as_text() == "\n".join([
        "demo:", "  vetted    OUT  nope (2 files)", "            - x.whl: bad", "              to change: fix it",
        "            + y.whl: good", "  note: n1", "  note: n2"])
    assert e.as_dict() == {"project": "demo", "version": None, "notes": ["n1", "n2"], "tiers": [
        {"tier": "vetted", "admitted": False, "rule": "nope", "where": None, "change": None, "files": [
            {"filename": "x.whl", "admitted": False, "rule": "bad", "change": "fix it"},
            {"filename": "y.whl", "admitted": True, "rule": "good"}]}]}
    same = TierExplanation(Tier.ALL, Decision(True, "in", None, "fix it"),
                           (FileVerdict("x.whl", True, "in", "fix it"), FileVerdict("z.whl", False, "out", "fix it")))
    assert Explanation("demo", "1", (same,)).as_text() == "\n".join([
        "demo 1:", "  all       IN   in (2 files)", "            to change: fix it", "            - z.whl: out"])


def test_a_release_of_one_file_is_counted_in_the_singular():
    detail = ProjectDetail("demo", (sdist("1.0"),))
    text = explain("demo", "1.0", detail, policies(), NOW).as_text()
    assert "  reviewed  IN   reviewed by alice; older than the 7-day cooldown (1 file)" in text
