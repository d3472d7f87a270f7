"""Floors: ``reviewed`` never admits a release below a project's floor (vetted releases excepted), decided in
``decide_release`` so that pages, explain and the UI get the rule from one call; the policy format for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mirror.core.errors import PolicyError
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy import edit
from mirror.core.policy.evaluate import decide_file, decide_release
from mirror.core.policy.explain import explain
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import FloorMode, PolicySet
from mirror.core.tiers import NO_EVIDENCE, decide_page

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FILE = "policies/projects/demo.toml"


def wheel(version: str) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=NOW - timedelta(days=30))


def policies(text: str) -> PolicySet:
    project = parse_project(text, FILE, "demo")
    return PolicySet(projects={"demo": project}, version="t")


REVIEW = '[review]\nby = "alice"\nfloor = "2.0"\n'


def test_the_floor_is_parsed_with_its_line_and_normalized():
    review = parse_project("# demo\n\n" + REVIEW, FILE, "demo").review
    assert review is not None and review.floor == "2" and str(review.floor_where) == f"{FILE}:5"
    with pytest.raises(PolicyError) as bad:
        parse_project('[review]\nby = "alice"\nfloor = "two"\n', FILE, "demo")
    assert bad.value.line == 3 and bad.value.key == "review.floor" and "bad version 'two'" in str(bad.value)


def test_tier_wide_floor_mode():
    assert parse_tiers("", "tiers.toml").floor is FloorMode.LATEST_AT_PROMOTION
    rules = parse_tiers('[reviewed]\nfloor = "none"\n', "tiers.toml")
    assert rules.floor is FloorMode.NONE and str(rules.floor_where) == "tiers.toml:2"
    with pytest.raises(PolicyError) as bad:
        parse_tiers('[reviewed]\nfloor = "oldest"\n', "tiers.toml")
    assert bad.value.line == 2 and "'latest-at-promotion', 'none'" in str(bad.value)


@pytest.mark.parametrize(("version", "admitted"), [("1.9", False), ("2.0rc1", False), ("2.0", True),
                                                   ("2.0.0", True), ("3.1", True)])
def test_reviewed_admits_nothing_below_the_floor(version, admitted):
    pol = policies(REVIEW)
    assert decide_file(Tier.REVIEWED, "demo", wheel(version), pol, NOW).admitted is admitted
    assert decide_file(Tier.ALL, "demo", wheel(version), pol, NOW).admitted  # 'all' has no floor


def test_the_floors_decision_names_the_rule_the_line_and_the_command():
    ctx = decide_release(Tier.REVIEWED, "demo", "1.5", policies(REVIEW), NOW)
    d = ctx.decision
    assert d is not None and not d.admitted
    assert d.rule == ("version 1.5 is below the floor 2 of demo (no silent downgrade: releases older than the floor "
                      "are not admitted unless vetted)")
    assert str(d.where) == f"{FILE}:3"
    assert d.change == "mirror floor demo VERSION --by NAME --reason TEXT (or 'none' for no floor)"


def test_a_vetted_release_below_the_floor_stays_in_both_curated_tiers():
    f = wheel("1.0")
    text = edit.set_vetting(REVIEW, "1.0", {f.filename: f.sha256}, "bob", NOW)
    pol = policies(text)
    assert decide_file(Tier.REVIEWED, "demo", f, pol, NOW).admitted
    assert decide_file(Tier.VETTED, "demo", f, pol, NOW).admitted
    assert not decide_file(Tier.REVIEWED, "demo", wheel("1.5"), pol, NOW).admitted


def test_pages_and_explain_get_the_floor_from_the_same_decision():
    detail = ProjectDetail("demo", tuple(wheel(v) for v in ("1.0", "1.9", "2.0", "2.1")))
    pol = policies(REVIEW)
    view = decide_page(Tier.REVIEWED, "demo", detail, NO_EVIDENCE, pol, NOW)
    assert [f.version for f in view.detail.files] == ["2.0", "2.1"]
    text = explain("demo", "1.9", detail, pol, NOW).as_text()
    assert "reviewed  OUT  version 1.9 is below the floor 2 of demo" in text
    assert "to change: mirror floor demo VERSION --by NAME --reason TEXT" in text
    summary = explain("demo", None, detail, pol, NOW)
    assert (f"floor 2: older releases stay out of 'reviewed' unless vetted ({FILE}:3); to change: mirror floor "
            "demo VERSION --by NAME --reason TEXT") in summary.notes


def test_set_review_writes_the_floor_and_set_floor_changes_or_removes_it():
    text = edit.set_review("", "alice", NOW, "ok", floor="2.31.0")
    assert parse_project(text, FILE, "demo").review.floor == "2.31"  # type: ignore[union-attr]
    assert 'floor = "2.31.0"' in text
    lowered = edit.set_floor(text, "2.0")
    assert parse_project(lowered, FILE, "demo").review.floor == "2"  # type: ignore[union-attr]
    removed = edit.set_floor(lowered, None)
    assert "floor" not in removed and parse_project(removed, FILE, "demo").review.floor is None  # type: ignore[union-attr]
    with pytest.raises(edit.EditError):
        edit.set_floor("", "1.0")


def test_a_release_below_the_floor_is_decided_once_for_its_tier_name_and_version():
    rules = decide_release(Tier.REVIEWED, "demo", "1.5", policies(REVIEW))
    assert (rules.tier, rules.name, rules.version) == (Tier.REVIEWED, "demo", "1.5")
    assert rules.decision is not None and not rules.decision.admitted
    assert rules.decision.rule.startswith("version 1.5 is below the floor 2 of demo")
    assert str(rules.decision.where) == f"{FILE}:3"  # the floor line
