"""Every rule of the tier decision, stated as a table: which tier admits what, and the exact words (rule,
where it is written, the command that changes it) that ``explain``, the UI and refusals show a reviewer.

Pure: plain policies, files and clocks in, decisions out (mirror.core.policy.evaluate). The tables pin each
boundary the mutation run (docs/testing.md) showed untested: unparseable versions, cooldown edges, first
sightings, pre-releases against vettings and pins, metadata pins and provenance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from packaging.specifiers import SpecifierSet

from mirror.core.models import DistFile, Tier
from mirror.core.policy.evaluate import (
    Decision,
    ReleaseRules,
    Sighting,
    canonical_version,
    changed_metadata,
    decide_file,
    decide_in_release,
    decide_project,
    decide_provenance,
    decide_release,
    decide_version,
    repin_command,
)
from mirror.core.policy.model import (
    DEFAULT_LOCATION,
    Block,
    GitHubPublisher,
    Location,
    PolicySet,
    ProjectPolicy,
    ProvenanceRule,
    ProvenanceStatus,
    Review,
    Signature,
    TierRules,
    Vetting,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIG = Signature("alice", NOW)
FILE = "policies/projects/demo.toml"
HERE = Location(FILE, 3)
VET_AT = Location(FILE, 12)
BLOCK_AT = Location(FILE, 20)
TIERS_AT = Location("policies/tiers.toml", 2)
SHA = "a" * 64
OTHER = "b" * 64
META = "c" * 64
META2 = "d" * 64
REVIEW = Review(SIG, HERE)

VET = "mirror vet demo {v} --by NAME --note TEXT"
UNVET = "mirror unvet demo {v} --by NAME --reason TEXT"
BLOCK = "mirror block demo=={v} --by NAME --reason TEXT"
AGAIN = "mirror unvet demo {v} --by NAME --reason TEXT, then after review mirror vet demo {v} --by NAME --note TEXT"


def wheel(version: str = "1.0", *, age: timedelta | None = timedelta(days=30), sha: str = SHA,
          metadata: str | None = None, name: str = "demo") -> DistFile:
    return DistFile(f"{name}-{version}-py3-none-any.whl", f"https://up.example/{name}-{version}.whl",
                    {"sha256": sha}, upload_time=None if age is None else NOW - age,
                    core_metadata=None if metadata is None else {"sha256": metadata})


def vetting(f: DistFile, *, pin: str | None = None, metadata: str | None = None, provenance: str | None = None,
            version: str | None = None, by: str = "carol") -> Vetting:
    return Vetting(version or f.version or "", {f.filename: pin or f.sha256 or ""}, Signature(by, NOW), VET_AT,
                   provenance={f.filename: provenance} if provenance else {},
                   metadata={f.filename: metadata} if metadata else {})


def policies(review: Review | None = REVIEW, *, blocks: tuple[Block, ...] = (), vettings: tuple[Vetting, ...] = (),
             rules: TierRules = TierRules(), provenance: ProvenanceRule | None = None) -> PolicySet:
    project = ProjectPolicy("demo", FILE, review=review, blocks=blocks, provenance=provenance,
                            vettings={canonical_version(v.version): v for v in vettings})
    return PolicySet(rules=rules, projects={"demo": project}, version="t")


def decisions(pol: PolicySet, f: DistFile, **kwargs) -> dict[Tier, Decision]:
    return {t: decide_file(t, "demo", f, pol, NOW, **kwargs) for t in Tier}


# --------------------------------------------------------------------------- the project decision

BLOCKED = Block(None, "malware", Signature("bob", NOW), BLOCK_AT)


@pytest.mark.parametrize(("tier", "pol", "expected"), [
    (Tier.ALL, PolicySet(), Decision(True, "not blocked: every upstream project is in 'all'", DEFAULT_LOCATION,
                                     "mirror block demo --by NAME --reason TEXT")),
    (Tier.REVIEWED, PolicySet(), Decision(False, "not reviewed: no [review] for this project", None,
                                          "mirror promote demo --by NAME --note TEXT")),
    (Tier.VETTED, PolicySet(), Decision(False, "not reviewed: no [review] for this project", None,
                                        "mirror promote demo --by NAME --note TEXT")),
    (Tier.REVIEWED, policies(None), Decision(False, "not reviewed: no [review] for this project", None,
                                             "mirror promote demo --by NAME --note TEXT")),
    (Tier.REVIEWED, policies(), Decision(True, "reviewed by alice", HERE,
                                         "mirror demote demo --by NAME --reason TEXT")),
    (Tier.VETTED, policies(), Decision(False, "no release of this project is vetted", HERE,
                                       "mirror vet demo VERSION --by NAME --note TEXT")),
    (Tier.VETTED, policies(vettings=(vetting(wheel("1.0")), vetting(wheel("2.0")))),
     Decision(True, "2 release(s) vetted", HERE, "mirror unvet demo VERSION --by NAME --reason TEXT")),
] + [
    (tier, policies(blocks=(BLOCKED,), vettings=(vetting(wheel()),)),
     Decision(False, "blocked: malware (by bob)", BLOCK_AT, "mirror unblock demo --by NAME --reason TEXT"))
    for tier in Tier
])
def test_project_decision(tier, pol, expected):
    assert decide_project(tier, "demo", pol) == expected


def test_a_version_block_does_not_block_the_project():
    pol = policies(blocks=(Block(SpecifierSet("==1.0"), "bad", SIG, BLOCK_AT),), vettings=(vetting(wheel()),))
    assert all(decide_project(t, "demo", pol).admitted for t in Tier)


# --------------------------------------------------------------------------- release rules


@pytest.mark.parametrize("tier", list(Tier))
def test_version_block_in_every_tier(tier):
    block = Block(SpecifierSet(">=1.0,<1.1"), "CVE-1", SIG, BLOCK_AT)
    pol = policies(blocks=(block,), vettings=(vetting(wheel("1.0.5")),))
    expected = Decision(False, "version blocked (<1.1,>=1.0): CVE-1", BLOCK_AT,
                        "mirror unblock demo==1.0.5 --by NAME --reason TEXT")
    assert decide_file(tier, "demo", wheel("1.0.5"), pol, NOW) == expected
    assert decide_file(tier, "demo", wheel("1.1"), pol, NOW).admitted is (tier is not Tier.VETTED)


def test_a_version_block_keeps_out_files_whose_version_cannot_be_read():
    pol = policies(blocks=(Block(SpecifierSet("==9"), "bad", SIG, BLOCK_AT),))
    f = DistFile("demo.whl", "https://up.example/demo.whl", {"sha256": SHA}, upload_time=NOW - timedelta(days=30))
    assert {t: decide_file(t, "demo", f, pol, NOW).admitted for t in Tier} == dict.fromkeys(Tier, False)


# Issue 16: "a file whose version cannot be parsed is admitted" must never survive.
@pytest.mark.parametrize("filename", [
    "demo.whl",                              # no version at all
    "demo-latest.tar.gz",                    # not PEP 440
    "demo-1.0-py3-none-any",                 # no extension
    "demo-1.0.0.0.0-bad-tag.whl",            # a malformed wheel name
    "demo-v1_0-final!.zip",                  # garbage
    "demo.exe",                              # a legacy installer without a version
])
def test_a_file_whose_version_cannot_be_read_is_only_in_all(filename):
    f = DistFile(filename, f"https://up.example/{filename}", {"sha256": SHA}, upload_time=NOW - timedelta(days=90))
    assert f.version is None
    vetted = Vetting("1.0", {filename: SHA}, SIG, VET_AT)
    pol = policies(Review(SIG, HERE, cooldown_days=0, allow_prereleases=True), vettings=(vetted,))
    got = decisions(pol, f)
    assert got[Tier.ALL].admitted
    expected = Decision(False, "the file's version cannot be determined from its name", HERE)
    assert got[Tier.REVIEWED] == expected
    assert got[Tier.VETTED] == expected


@pytest.mark.parametrize("version", ["1.0", "1!2.0", "1.0.post1", "2.0rc1", "0.0.1.dev3", "1.0+local"])
def test_a_parseable_version_passes_the_parse_rule(version):
    pol = policies(Review(SIG, HERE, cooldown_days=0, allow_prereleases=True))
    assert decide_file(Tier.REVIEWED, "demo", wheel(version), pol, NOW).admitted


def test_excluded_versions_in_any_spelling():
    pol = policies(Review(SIG, HERE, exclude=frozenset({"1.1"})))
    for spelling in ("1.1", "1.1.0", "1.01"):
        f = wheel(spelling)
        assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW) == Decision(
            False, f"version {f.version} is excluded by the review", HERE, f"edit 'exclude' in {FILE}")
        assert not decide_version(Tier.REVIEWED, "demo", spelling, pol, NOW).admitted
    assert decide_file(Tier.REVIEWED, "demo", wheel("1.2"), pol, NOW).admitted


@pytest.mark.parametrize(("spec", "version", "inside"), [
    (">=1.0", "1.0", True), (">=1.0", "0.9", False), ("<2", "2.0", False), ("<2", "1.9.9", True),
    (">=2.0rc1", "2.0rc1", True), ("==1.*", "1.5", True), ("==1.*", "2.0", False),
])
def test_the_reviewed_range(spec, version, inside):
    pol = policies(Review(SIG, HERE, versions=SpecifierSet(spec), allow_prereleases=True))
    got = decide_file(Tier.REVIEWED, "demo", wheel(version), pol, NOW)
    if inside:
        assert got.admitted
    else:
        assert got == Decision(False, f"version {version} is outside the reviewed range {SpecifierSet(spec)}", HERE,
                               f"edit 'versions' in {FILE}")


@pytest.mark.parametrize("tier", [Tier.REVIEWED, Tier.VETTED])
def test_a_version_without_a_vetting_is_not_in_vetted(tier):
    pol = policies(vettings=(vetting(wheel("2.0")),))
    got = decide_file(tier, "demo", wheel("1.0"), pol, NOW)
    if tier is Tier.VETTED:
        assert got == Decision(False, "version 1.0 is not vetted", HERE, VET.format(v="1.0"))
    else:
        assert got.admitted


# --------------------------------------------------------------------------- cooldown


def _cooldown_text(uploaded: datetime, days: float) -> str:
    until = uploaded + timedelta(days=days)
    return (f"uploaded {uploaded:%Y-%m-%d %H:%M} UTC, inside the {days:g}-day cooldown until "
            f"{until:%Y-%m-%d %H:%M} UTC")


EPSILON = timedelta(microseconds=1)


@pytest.mark.parametrize(("days", "age", "admitted"), [
    (0, timedelta(0), True),                        # no cooldown: admitted the moment it is uploaded
    (0, -timedelta(hours=1), True),                 # even when upstream's clock is ahead
    (1, timedelta(hours=12), False),                # a one-day cooldown is kept (issue 16: days > 1)
    (1, timedelta(days=1) - EPSILON, False),
    (1, timedelta(days=1), True),                   # the boundary: exactly the cooldown old is admitted
    (1.5, timedelta(days=1, hours=12) - EPSILON, False),
    (1.5, timedelta(days=1, hours=12), True),
    (1.5, timedelta(days=1), False),
    (0.5, timedelta(hours=11), False),              # fractions of a day count
    (0.5, timedelta(hours=12), True),
    (7, timedelta(days=7) - EPSILON, False),
    (7, timedelta(days=7), True),
    (7, timedelta(days=6, hours=23), False),
    (7, timedelta(days=365), True),
])
def test_cooldown_boundaries(days, age, admitted):
    f = wheel(age=age)
    uploaded = NOW - age
    for pol, where in ((policies(Review(SIG, HERE, cooldown_days=days)), HERE),
                       (policies(rules=TierRules(cooldown_days=days, cooldown_where=TIERS_AT)), TIERS_AT)):
        got = decide_file(Tier.REVIEWED, "demo", f, pol, NOW)
        if admitted:
            assert got == Decision(True, f"reviewed by alice; older than the {days:g}-day cooldown", HERE,
                                   BLOCK.format(v="1.0"))
        else:
            until = uploaded + timedelta(days=days)
            assert got == Decision(False, _cooldown_text(uploaded, days), where, VET.format(v="1.0"), until=until)
            assert until > NOW


def test_the_review_cooldown_overrides_the_tier_default_either_way():
    young = wheel(age=timedelta(days=2))
    assert decide_file(Tier.REVIEWED, "demo", young, policies(Review(SIG, HERE, cooldown_days=1),
                       rules=TierRules(cooldown_days=7)), NOW).admitted
    assert not decide_file(Tier.REVIEWED, "demo", young, policies(Review(SIG, HERE, cooldown_days=3),
                           rules=TierRules(cooldown_days=0)), NOW).admitted
    assert decide_file(Tier.REVIEWED, "demo", young, policies(Review(SIG, HERE, cooldown_days=0),
                       rules=TierRules(cooldown_days=7)), NOW).admitted


@pytest.mark.parametrize(("days", "admitted"), [(0, True), (0.5, False), (7, False)])
def test_an_unknown_upload_time_is_held_by_any_cooldown(days, admitted):
    got = decide_file(Tier.REVIEWED, "demo", wheel(age=None), policies(Review(SIG, HERE, cooldown_days=days)), NOW)
    if admitted:
        assert got.admitted
    else:
        assert got == Decision(False, "upload time unknown: held back by the cooldown", HERE, VET.format(v="1.0"))


def test_the_cooldown_until_is_exact_and_the_days_print_plainly():
    f = wheel(age=timedelta(hours=1))
    got = decide_file(Tier.REVIEWED, "demo", f, policies(Review(SIG, HERE, cooldown_days=1.5)), NOW)
    assert got.until == NOW - timedelta(hours=1) + timedelta(days=1.5)
    assert "inside the 1.5-day cooldown until 2026-11-26 23:00 UTC" in got.rule
    assert got.rule.startswith("uploaded 2026-11-25 11:00 UTC, ")


# --------------------------------------------------------------------------- first sight


def _first_seen_text(seen: datetime, claimed: datetime, days: float = 7) -> str:
    until = seen + timedelta(days=days)
    return (f"first seen by this mirror {seen:%Y-%m-%d %H:%M} UTC (upstream claims an upload at "
            f"{claimed:%Y-%m-%d %H:%M} UTC), inside the {days:g}-day cooldown until {until:%Y-%m-%d %H:%M} UTC")


@pytest.mark.parametrize(("claimed_age", "seen_age", "initial", "expected"), [
    # a back-dated upload time: the cooldown counts from first sight
    (timedelta(days=30), timedelta(days=1), False, "first seen"),
    (timedelta(days=30), timedelta(days=7) - EPSILON, False, "first seen"),
    (timedelta(days=30), timedelta(days=7), False, "in"),
    # files listed when the mirror first fetched the page: upload time is all it knows
    (timedelta(days=30), timedelta(days=1), True, "in"),
    (timedelta(days=1), timedelta(days=1), True, "uploaded"),
    # first seen before the claimed upload: the later (upload time) counts, and is what the rule names
    (timedelta(days=1), timedelta(days=30), False, "uploaded"),
    # seen at the very moment of the upload: nothing to report beyond the upload time
    (timedelta(days=1), timedelta(days=1), False, "uploaded"),
    (timedelta(days=8), timedelta(days=8), False, "in"),
])
def test_first_sight_cooldown(claimed_age, seen_age, initial, expected):
    f = wheel(age=claimed_age)
    sighting = Sighting(SHA, NOW - seen_age, initial)
    got = decide_file(Tier.REVIEWED, "demo", f, policies(), NOW, sighting=sighting)
    claimed, seen = NOW - claimed_age, NOW - seen_age
    if expected == "in":
        assert got.admitted
    elif expected == "uploaded":
        assert got == Decision(False, _cooldown_text(claimed, 7), DEFAULT_LOCATION, VET.format(v="1.0"),
                               until=claimed + timedelta(days=7))
    else:
        assert got == Decision(False, _first_seen_text(seen, claimed), DEFAULT_LOCATION, VET.format(v="1.0"),
                               until=seen + timedelta(days=7))


def test_first_sight_does_not_matter_without_a_cooldown_or_for_a_vetted_file():
    f = wheel(age=timedelta(days=30))
    sighting = Sighting(SHA, NOW, False)
    assert decide_file(Tier.REVIEWED, "demo", f, policies(Review(SIG, HERE, cooldown_days=0)), NOW,
                       sighting=sighting).admitted
    pol = policies(vettings=(vetting(f),))
    assert all(d.admitted for d in decisions(pol, f, sighting=sighting).values())


# --------------------------------------------------------------------------- pre-releases × vetting × pin

PRE = "2.0rc1"


def _hold(where: Location = DEFAULT_LOCATION) -> Decision:
    return Decision(False, f"{PRE} is a pre-release and pre-releases are not admitted", where,
                    f"set allow_prereleases = true in {FILE}")


@pytest.mark.parametrize(("case", "reviewed", "vetted"), [
    # no vetting: held in both curated tiers
    ("none", "hold", "hold"),
    # the exact file is vetted (pin and metadata match): in, without cooldown
    ("pinned", "vetted release", "vetted"),
    # vetted release, but another file of it (not pinned): held
    ("other file", "hold", "hold"),
    # the pinned name with other bytes: held (the vetting does not vouch for these bytes)
    ("other bytes", "hold", "hold"),
    # pinned, but its metadata changed since vetting: held
    ("metadata changed", "hold", "hold"),
])
def test_prereleases_against_vetting_and_pins(case, reviewed, vetted):
    f = wheel(PRE, age=timedelta(hours=1), metadata=META)
    other = wheel(PRE, name="demo_extra")  # another file of the release
    vettings = {
        "none": (vetting(wheel("1.0")),),  # (another release is vetted: the project is in vetted)
        "pinned": (vetting(f, metadata=META),),
        "other file": (vetting(other),),
        "other bytes": (vetting(f, pin=OTHER),),
        "metadata changed": (vetting(f, metadata=META2),),
    }[case]
    got = decisions(policies(vettings=vettings), f)
    assert got[Tier.ALL].admitted
    expected = {
        "hold": _hold(),
        "vetted release": Decision(True, "vetted release: admitted without cooldown", VET_AT, UNVET.format(v=PRE)),
        "vetted": Decision(True, "vetted by carol, sha256 matches the pin", VET_AT, UNVET.format(v=PRE)),
    }
    assert got[Tier.REVIEWED] == expected[reviewed]
    assert got[Tier.VETTED] == expected[vetted]


def test_prereleases_allowed_by_the_review_or_the_tier_default():
    f = wheel(PRE)
    for pol in (policies(Review(SIG, HERE, allow_prereleases=True)),
                policies(rules=TierRules(allow_prereleases=True))):
        assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW).admitted
    # the review's false beats the tier's true, and names the review as where the rule is written
    pol = policies(Review(SIG, HERE, allow_prereleases=False), rules=TierRules(allow_prereleases=True))
    assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW) == _hold(HERE)
    pol = policies(rules=TierRules(allow_prereleases=False, prereleases_where=TIERS_AT))
    assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW) == _hold(TIERS_AT)


def test_a_final_release_is_no_prerelease():
    for version in ("2.0", "2.0.post1", "1!2.0"):
        assert decide_file(Tier.REVIEWED, "demo", wheel(version), policies(), NOW).admitted
    for version in ("2.0a1", "2.0b2", "2.0rc1", "2.0.dev1"):
        assert not decide_file(Tier.REVIEWED, "demo", wheel(version), policies(), NOW).admitted


def test_a_release_level_question_about_a_vetted_prerelease():
    f = wheel(PRE)
    pol = policies(vettings=(vetting(f),))
    assert decide_version(Tier.REVIEWED, "demo", PRE, pol, NOW) == Decision(
        True, "in the reviewed range of demo", HERE, BLOCK.format(v=PRE))
    assert decide_version(Tier.VETTED, "demo", PRE, pol, NOW) == Decision(
        True, "vetted by carol", VET_AT, UNVET.format(v=PRE))
    assert decide_version(Tier.REVIEWED, "demo", PRE, policies(), NOW) == _hold()


# --------------------------------------------------------------------------- vetted: pins


def test_vetted_file_rules():
    f = wheel(metadata=META)
    pol = policies(vettings=(vetting(f, metadata=META),))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW) == Decision(
        True, "vetted by carol, sha256 matches the pin", VET_AT, UNVET.format(v="1.0"))
    not_pinned = wheel(name="demo_other")
    assert decide_file(Tier.VETTED, "demo", not_pinned, pol, NOW) == Decision(
        False, f"{not_pinned.filename} was not among the files vetted for 1.0", VET_AT, VET.format(v="1.0"))
    moved = wheel(sha=OTHER, metadata=META)
    assert decide_file(Tier.VETTED, "demo", moved, pol, NOW) == Decision(
        False, f"{f.filename} no longer matches the sha256 pinned when 1.0 was vetted (pinned {SHA}, upstream now "
               f"{OTHER})", VET_AT, AGAIN.format(v="1.0"))
    relabelled = wheel(metadata=META2)
    assert decide_file(Tier.VETTED, "demo", relabelled, pol, NOW) == Decision(
        False, f"the core metadata (.metadata) of {f.filename} changed since 1.0 was vetted (pinned sha256 {META}, "
               f"upstream now {META2})", VET_AT, AGAIN.format(v="1.0"))
    # reviewed ignores what vetted refuses: the moved and relabelled files go through the cooldown (old enough)
    for g in (not_pinned, moved, relabelled):
        assert decide_file(Tier.REVIEWED, "demo", g, pol, NOW).rule.startswith("reviewed by alice")


def test_a_vetted_file_skips_the_cooldown_in_reviewed_and_other_files_do_not():
    young = wheel(age=timedelta(hours=1))
    pol = policies(vettings=(vetting(young),))
    assert decide_file(Tier.REVIEWED, "demo", young, pol, NOW) == Decision(
        True, "vetted release: admitted without cooldown", VET_AT, UNVET.format(v="1.0"))
    sibling = wheel(age=timedelta(hours=1), name="demo_sibling")
    assert not decide_file(Tier.REVIEWED, "demo", sibling, pol, NOW).admitted
    moved = wheel(age=timedelta(hours=1), sha=OTHER)
    assert not decide_file(Tier.REVIEWED, "demo", moved, pol, NOW).admitted


def test_the_vetted_decision_names_a_verified_publisher():
    f = wheel()
    pol = policies(vettings=(vetting(f, provenance="GitHub:o/r@release.yml"),))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW).rule == (
        "vetted by carol, sha256 matches the pin; provenance verified: published by GitHub:o/r@release.yml")


@pytest.mark.parametrize(("pin", "advertised", "expected"), [
    (None, {"sha256": META}, None),                  # nothing pinned
    (META, None, None),                              # upstream advertises none: vetted uses extracted metadata
    (META, {"sha256": META}, None),                  # unchanged
    (META, {"sha256": META.upper()}, None),          # same digest, other case
    (META, {"sha256": META2}, f"pinned sha256 {META}, upstream now {META2}"),
    (META, {"sha512": "e" * 128}, f"pinned sha256 {META}, upstream now advertises it without a sha256"),
    (META, {"sha256": "short"}, None),               # unverifiable: not advertised at all (tiers drop it)
])
def test_changed_metadata(pin, advertised, expected):
    f = DistFile("demo-1.0-py3-none-any.whl", "https://up.example/d.whl", {"sha256": SHA}, core_metadata=advertised)
    v = Vetting("1.0", {f.filename: SHA}, SIG, VET_AT, metadata={f.filename: pin} if pin else {})
    got = changed_metadata(f, v)
    if expected is None:
        assert got is None
    else:
        assert got == (f"the core metadata (.metadata) of {f.filename} changed since 1.0 was vetted ({expected})")


# --------------------------------------------------------------------------- provenance in vetted

GH = GitHubPublisher("o/r", "release.yml")
GH2 = GitHubPublisher("evil/r", "release.yml")
PROV_AT = Location(FILE, 30)


def _prov(*publishers, require: bool = True) -> ProvenanceRule:
    return ProvenanceRule(require, tuple(publishers), SIG, PROV_AT)


def test_provenance_not_required_changes_nothing():
    f = wheel()
    pol = policies(vettings=(vetting(f),), provenance=_prov(GH, require=False))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW).admitted


def test_provenance_rules_and_texts():
    f = wheel()
    # required, nothing pinned
    pol = policies(vettings=(vetting(f, provenance=GH.identity),), provenance=_prov())
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW) == Decision(
        False, "demo requires provenance, but no trusted publisher is pinned", PROV_AT,
        "mirror vet demo 1.0 --trust-publisher IDENTITY --by NAME --note TEXT (mirror vet proposes the publisher it "
        "sees)")
    # required, the vetting recorded no verified publisher
    pol = policies(vettings=(vetting(f),), provenance=_prov(GH))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW) == Decision(
        False, f"demo requires provenance, and the vetting of 1.0 records no verified publisher for {f.filename} "
               f"(sha256 {SHA})", VET_AT,
        f"{UNVET.format(v='1.0')}, then after review {VET.format(v='1.0')} (which verifies the provenance)")
    # recorded publisher no longer pinned
    pol = policies(vettings=(vetting(f, provenance=GH2.identity),), provenance=_prov(GH))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW) == Decision(
        False, f"{f.filename} was verified as published by {GH2.identity} when 1.0 was vetted, but the pinned "
               f"publisher is now {GH.identity}", PROV_AT,
        f"pin {GH2.identity} again in {FILE} after review, or keep 1.0 out of vetted")
    # proven: admitted, and reviewed never asks
    pol = policies(vettings=(vetting(f, provenance=GH.identity),), provenance=_prov(GH, GH2))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW).admitted


def test_background_provenance_status():
    f = wheel()
    pol = policies(vettings=(vetting(f, provenance=GH.identity),), provenance=_prov(GH))
    ok = ProvenanceStatus(GH.identity, pinned=(GH.identity,))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW, provenance={SHA: ok}).admitted
    # checked against other pins: ignored until the next check
    stale = ProvenanceStatus(None, "gone", pinned=(GH2.identity,))
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW, provenance={SHA: stale}).admitted
    # another file's status does not count
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW,
                       provenance={OTHER: ProvenanceStatus(None, "gone", pinned=(GH.identity,))}).admitted
    # a verified signer that is not pinned: a publisher change, with the re-pin command
    changed = ProvenanceStatus(None, "signed by another", pinned=(GH.identity,), signed_by=GH2.identity)
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW, provenance={SHA: changed}) == Decision(
        False, f"publisher changed: {f.filename} was pinned to {GH.identity}, but the provenance upstream serves now "
               f"is signed by {GH2.identity} (signature verified offline)", PROV_AT,
        f"after reviewing the change, re-pin with: {repin_command('demo', '1.0', GH2)}; or block it: "
        f"{BLOCK.format(v='1.0')}")
    # no valid signature: unverified claims shown, never offered for pinning
    broken = ProvenanceStatus(None, "no attestation", claimed=(GH.identity, GH2.identity, "Google:x@y.example"),
                              pinned=(GH.identity,), signed_by="not an identity")
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW, provenance={SHA: broken}) == Decision(
        False, f"provenance does not verify: the provenance of {f.filename} no longer proves {GH.identity} published "
               f"it: no attestation; upstream's document claims, unverified: {GH2.identity}, Google:x@y.example",
        PROV_AT,
        f"do not re-pin on the strength of an unverified claim; wait for upstream to restore valid provenance, or "
        f"block it: {BLOCK.format(v='1.0')}")
    quiet = ProvenanceStatus(None, "expired", pinned=(GH.identity,), signed_by=GH.identity)
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW, provenance={SHA: quiet}).rule == (
        f"provenance does not verify: the provenance of {f.filename} no longer proves {GH.identity} published it: "
        "expired")
    # reviewed does not look at provenance
    assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW, provenance={SHA: broken}).admitted


def test_repin_command_quotes_every_word():
    assert repin_command("demo", None, GH) == (
        "mirror vet demo VERSION --trust-publisher GitHub:o/r@release.yml --by NAME --note TEXT")


# --------------------------------------------------------------------------- release-level and shared decisions


def test_release_rules_context():
    pol = policies(Review(SIG, HERE, cooldown_days=2), vettings=(vetting(wheel()),))
    ctx = decide_release(Tier.REVIEWED, "demo", "1.0", pol)
    assert ctx.decision is None and ctx.vetting is not None and ctx.prerelease_hold is None
    assert (ctx.cooldown_days, ctx.cooldown_where) == (2, HERE)
    ctx = decide_release(Tier.REVIEWED, "demo", "1.0", policies(rules=TierRules(cooldown_days=3,
                                                                              cooldown_where=TIERS_AT)))
    assert (ctx.cooldown_days, ctx.cooldown_where) == (3, TIERS_AT)
    ctx = decide_release(Tier.ALL, "demo", "1.0", pol)
    assert ctx == ReleaseRules(Tier.ALL, "demo", "1.0", decide_project(Tier.ALL, "demo", pol), pol.of("demo"))
    out = decide_release(Tier.REVIEWED, "other", "1.0", pol)
    assert out == ReleaseRules(Tier.REVIEWED, "other", "1.0", decide_project(Tier.REVIEWED, "other", pol))
    blocked = policies(blocks=(Block(SpecifierSet("==1.0"), "bad", SIG, BLOCK_AT),))
    got = decide_release(Tier.VETTED, "demo", "1.0", blocked)
    assert (got.tier, got.name, got.version) == (Tier.VETTED, "demo", "1.0") and not got.decision.admitted


def test_shared_decisions_are_made_once_per_release():
    ctx = ReleaseRules(Tier.REVIEWED, "demo", "1.0", None)
    calls = []

    def make() -> Decision:
        calls.append(1)
        return Decision(True, "x")

    first = ctx.shared("k", make)
    assert ctx.shared("k", make) is first and calls == [1]
    assert ctx.shared("other", make) is not first and calls == [1, 1]


def test_the_release_question_with_a_file():
    young = wheel(age=timedelta(hours=1))
    assert not decide_version(Tier.REVIEWED, "demo", "1.0", policies(), NOW, file=young).admitted
    assert decide_version(Tier.REVIEWED, "demo", "1.0", policies(), NOW + timedelta(days=8), file=young).admitted
    pol = policies(vettings=(vetting(young, provenance=GH.identity),), provenance=_prov(GH))
    gone = ProvenanceStatus(None, "gone", pinned=(GH.identity,))
    assert decide_version(Tier.VETTED, "demo", "1.0", pol, NOW, file=young).admitted
    assert not decide_version(Tier.VETTED, "demo", "1.0", pol, NOW, file=young, provenance={SHA: gone}).admitted


def test_the_release_question_without_a_file():
    pol = policies()
    assert decide_version(Tier.REVIEWED, "demo", "1.0", pol, NOW) == Decision(
        True, "in the reviewed range of demo", HERE, BLOCK.format(v="1.0"))
    assert decide_version(Tier.REVIEWED, "demo", None, pol, NOW) == Decision(
        False, "the file's version cannot be determined from its name", HERE)
    assert decide_version(Tier.VETTED, "demo", None, policies(vettings=(vetting(wheel()),)), NOW).change is None


def test_commands_for_an_unknown_version_name_a_placeholder():
    f = DistFile("demo-1.0-py3-none-any.whl", "u", {"sha256": SHA}, upload_time=NOW)
    ctx = ReleaseRules(Tier.REVIEWED, "demo", None, None, policies().of("demo"), cooldown_days=1,
                       cooldown_where=HERE)
    got = decide_in_release(ctx, f, NOW)
    assert got.change == "mirror vet demo VERSION --by NAME --note TEXT"
    got = decide_in_release(ctx, None, NOW)
    assert got.change == "mirror block demo==None --by NAME --reason TEXT"
    vetted = ReleaseRules(Tier.VETTED, "demo", None, None, policies().of("demo"), vetting(wheel()))
    assert decide_in_release(vetted, None, NOW).change == "mirror unvet demo VERSION --by NAME --reason TEXT"
    f = wheel()
    pinned = policies(vettings=(vetting(f),), provenance=_prov()).of("demo")
    assert decide_provenance("demo", None, f, pinned, vetting(f), None).change.startswith(
        "mirror vet demo VERSION --trust-publisher IDENTITY")
    pinned = policies(vettings=(vetting(f),), provenance=_prov(GH)).of("demo")
    assert decide_provenance("demo", None, f, pinned, vetting(f), None).change == (
        "mirror unvet demo VERSION --by NAME --reason TEXT, then after review mirror vet demo VERSION --by NAME "
        "--note TEXT (which verifies the provenance)")


@pytest.mark.parametrize(("version", "canonical"), [
    ("1.0", "1"), ("1.0.0", "1"), ("1.01", "1.1"), ("1!2.0", "1!2"), ("2.0RC1", "2rc1"), ("v1.0", "1"),
    (None, None), ("", None), ("latest", None), ("1.0-foo-bar", None),
])
def test_canonical_version(version, canonical):
    assert canonical_version(version) == canonical
