"""Pure policy evaluation: parametrized rules and Hypothesis properties over arbitrary policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import canonical_version, decide_file, decide_project
from mirror.core.policy.model import (
    Block,
    Location,
    PolicySet,
    ProjectPolicy,
    Review,
    Signature,
    TierRules,
    Vetting,
)
from mirror.core.tiers import NO_EVIDENCE, curated_projects, decide_page, hidden_from_all

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SIG = Signature("alice", NOW)
HERE = Location("policies/projects/demo.toml", 3)


def wheel(version: str, *, age_days: float = 30, sha: str | None = None) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": sha or (version.encode().hex() * 64)[:64]},
                    upload_time=NOW - timedelta(days=age_days))


def policies(*, review: Review | None = None, blocks=(), vettings=(), rules=TierRules()) -> PolicySet:
    project = ProjectPolicy("demo", "demo.toml", review=review, blocks=tuple(blocks),
                            vettings={canonical_version(v.version): v for v in vettings})
    return PolicySet(rules=rules, projects={"demo": project}, version="t")


REVIEW = Review(SIG, HERE)


def vet(f: DistFile, version: str | None = None, sha: str | None = None) -> Vetting:
    return Vetting(version or f.version, {f.filename: sha or f.sha256}, SIG, HERE)


@pytest.mark.parametrize(
    ("pol", "f", "expected", "rule"),
    [
        (policies(), wheel("1.0"), {Tier.ALL}, "not reviewed"),
        (policies(review=REVIEW), wheel("1.0"), {Tier.ALL, Tier.REVIEWED}, "reviewed by alice"),
        (policies(review=REVIEW), wheel("1.0", age_days=1), {Tier.ALL}, "cooldown"),
        (policies(review=Review(SIG, HERE, cooldown_days=0)), wheel("1.0", age_days=1),
         {Tier.ALL, Tier.REVIEWED}, "0-day cooldown"),
        (policies(review=REVIEW, rules=TierRules(cooldown_days=0.5)), wheel("1.0", age_days=1),
         {Tier.ALL, Tier.REVIEWED}, "reviewed"),
        (policies(review=REVIEW, vettings=[vet(wheel("1.0", age_days=1))]), wheel("1.0", age_days=1),
         set(Tier), "vetted"),
        (policies(review=REVIEW, vettings=[vet(wheel("1.0"), sha="f" * 64)]), wheel("1.0"),
         {Tier.ALL, Tier.REVIEWED}, "no longer matches"),
        (policies(review=Review(SIG, HERE, versions=SpecifierSet("<1"))), wheel("1.0"), {Tier.ALL}, "outside"),
        (policies(review=Review(SIG, HERE, exclude=frozenset({"1"}))), wheel("1.0.0"), {Tier.ALL}, "excluded"),
        (policies(review=REVIEW), wheel("2.0rc1"), {Tier.ALL}, "pre-release"),
        (policies(review=Review(SIG, HERE, allow_prereleases=True)), wheel("2.0rc1"),
         {Tier.ALL, Tier.REVIEWED}, "reviewed"),
        (policies(review=REVIEW, rules=TierRules(allow_prereleases=True)), wheel("2.0rc1"),
         {Tier.ALL, Tier.REVIEWED}, "reviewed"),
        (policies(review=REVIEW, blocks=[Block(SpecifierSet("==1.0"), "bad", SIG, HERE)],
                  vettings=[vet(wheel("1.0"))]), wheel("1.0"), set(), "version blocked"),
        (policies(review=REVIEW, blocks=[Block(None, "evil", SIG, HERE)]), wheel("1.0"), set(), "blocked: evil"),
    ],
)
def test_file_decisions(pol, f, expected, rule):
    admitted = {t for t in Tier if decide_file(t, "demo", f, pol, NOW).admitted}
    assert admitted == expected
    rules = " | ".join(decide_file(t, "demo", f, pol, NOW).rule for t in Tier)
    assert rule in rules


def test_unknown_upload_time_is_held_back_by_cooldown():
    f = DistFile("demo-1.0.tar.gz", "u", {"sha256": "a" * 64})
    d = decide_file(Tier.REVIEWED, "demo", f, policies(review=REVIEW), NOW)
    assert not d.admitted and "upload time unknown" in d.rule


def test_decisions_say_where_and_how_to_change():
    d = decide_project(Tier.REVIEWED, "demo", policies())
    assert d.change == "mirror promote demo --by NAME --note TEXT"
    d = decide_file(Tier.REVIEWED, "demo", wheel("1.0", age_days=1), policies(review=REVIEW), NOW)
    assert d.where == TierRules().cooldown_where and d.until == NOW - timedelta(days=1) + timedelta(days=7)
    d = decide_project(Tier.ALL, "demo", policies(blocks=[Block(None, "evil", SIG, HERE)]))
    assert d.where == HERE and d.change.startswith("mirror unblock demo")


def test_tier_view_recomputes_versions_and_reports_cooldown_end():
    files = (wheel("1.0"), wheel("2.0", age_days=2), wheel("3.0", age_days=3))
    detail = ProjectDetail("demo", files, versions=("1.0", "2.0", "3.0"))
    view = decide_page(Tier.REVIEWED, "demo", detail, NO_EVIDENCE, policies(review=REVIEW), NOW)
    assert [f.filename for f in view.detail.files] == [files[0].filename]
    assert view.detail.computed_versions() == ("1.0",)
    assert view.valid_until == NOW + timedelta(days=4)  # 3.0 leaves the cooldown first


def test_tier_view_blocked_is_quarantined_and_unreviewed_is_not_listed():
    detail = ProjectDetail("demo", (wheel("1.0"),))
    view = decide_page(Tier.ALL, "demo", detail, NO_EVIDENCE, policies(blocks=[Block(None, "evil", SIG, HERE)]), NOW)
    assert view.listed and not view.project.admitted
    assert view.detail.files == () and view.detail.status.status == "quarantined"
    assert "evil" in view.detail.status.reason
    out = decide_page(Tier.REVIEWED, "demo", detail, NO_EVIDENCE, policies(), NOW)
    assert not out.listed and out.detail.files == ()
    assert "not reviewed" in out.project.rule and "promote" in out.project.change


def test_project_lists_of_the_tiers():
    pol = PolicySet(projects={
        "a": ProjectPolicy("a", "a.toml", review=REVIEW),
        "b": ProjectPolicy("b", "b.toml", review=REVIEW, vettings={"1": vet(wheel("1.0"))}),  # canonical key
        "c": ProjectPolicy("c", "c.toml", blocks=(Block(None, "x", SIG, HERE),)),
        "d": ProjectPolicy("d", "d.toml", review=REVIEW, blocks=(Block(None, "x", SIG, HERE),)),
        "e": ProjectPolicy("e", "e.toml", blocks=(Block(SpecifierSet("<2"), "x", SIG, HERE),)),  # releases only
    })
    assert hidden_from_all(pol) == {"c", "d"}
    assert curated_projects(Tier.REVIEWED, pol) == ("a", "b")
    assert curated_projects(Tier.VETTED, pol) == ("b",)


# --- properties over arbitrary policies and files -------------------------------------------------

_versions = st.sampled_from(["0.9", "1.0", "1.0.0", "1.1", "2.0rc1", "2.0", "10.0.post1"])
_specs = st.sampled_from([None, ">=1.0", "<2", "==1.*", "!=1.1", ">=2.0rc1"])
_files = st.builds(lambda v, age, sha: wheel(v, age_days=age, sha=sha * 64), _versions,
                   st.floats(0, 30), st.sampled_from("abc"))


@st.composite
def _policy_sets(draw):
    review = draw(st.none() | st.builds(
        lambda spec, exc, cd, pre: Review(SIG, HERE, SpecifierSet(spec) if spec else None, frozenset(exc), cd, pre),
        _specs, st.sets(st.sampled_from(["1", "1.1", "2"])), st.none() | st.floats(0, 10), st.none() | st.booleans()))
    blocks = draw(st.lists(st.builds(lambda s: Block(SpecifierSet(s) if s else None, "r", SIG, HERE), _specs),
                           max_size=2))
    vetted = draw(st.lists(_files, max_size=3))
    rules = draw(st.builds(TierRules, st.floats(0, 10), st.booleans()))
    vettings = {}
    for f in vetted:
        vettings[canonical_version(f.version)] = vet(f)
    project = ProjectPolicy("demo", "demo.toml", review=review, blocks=tuple(blocks), vettings=vettings)
    return PolicySet(rules=rules, projects={"demo": project}, version="h")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_policy_sets(), _files)
def test_vetted_within_reviewed_within_all(pol, f):
    admitted = {t: decide_file(t, "demo", f, pol, NOW).admitted for t in Tier}
    assert not admitted[Tier.VETTED] or admitted[Tier.REVIEWED]
    assert not admitted[Tier.REVIEWED] or admitted[Tier.ALL]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(_policy_sets(), _files)
def test_a_block_removes_a_release_from_every_tier(pol, f):
    project = pol.projects["demo"]
    blocked = ProjectPolicy("demo", "demo.toml", review=project.review,
                            blocks=(*project.blocks, Block(SpecifierSet(f"=={f.version}"), "r", SIG, HERE)),
                            vettings=project.vettings)
    pol = PolicySet(rules=pol.rules, projects={"demo": blocked}, version="b")
    assert not any(decide_file(t, "demo", f, pol, NOW).admitted for t in Tier)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(_policy_sets(), st.lists(_files, max_size=6, unique_by=lambda f: f.filename))
def test_tier_views_nest(pol, files):
    detail = ProjectDetail("demo", tuple(files))
    names = {}
    for tier in Tier:
        names[tier] = {f.filename for f in decide_page(tier, "demo", detail, NO_EVIDENCE, pol, NOW).detail.files}
    assert names[Tier.VETTED] <= names[Tier.REVIEWED] <= names[Tier.ALL]
