"""The release-level decision with evidence, stated as rules: what ``decide_release`` returns on each path, how
the one-file wrappers pass the evidence on, cooldown waivers at their edges, and the malware quarantine's
exact page. Pure: policies parsed from TOML text, advisories from OSV records written here.

These pin the survivors of the mutation run (docs/testing.md) in the functions that decide what a tier admits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from packaging.utils import NormalizedName

from mirror.core.advisories import parse_osv
from mirror.core.licenses import license_of
from mirror.core.models import DistFile, ProjectDetail, ProjectStatus, Tier
from mirror.core.policy.evaluate import decide_file, decide_in_release, decide_release, decide_version
from mirror.core.policy.evidence import MALWARE_RULE, Advisories
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import PolicySet, TierRules
from mirror.core.tiers import Evidence, decide_page

DEMO = NormalizedName("demo")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FILE = "policies/projects/demo.toml"
REVIEW = '[review]\nby = "alice"\nat = 2026-01-01T00:00:00Z\n'


def wheel(version: str, *, age: timedelta = timedelta(days=60)) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=NOW - age)


def osv(aid: str, **affected: Any) -> Any:
    return parse_osv({"id": aid, "modified": "2026-01-02T03:04:05Z", "summary": f"summary of {aid}",
                      "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, **affected}]})


VULN = Advisories([osv("PYSEC-2026-1", versions=["1.0"])])
MALWARE_ONE = Advisories([osv("MAL-2026-8", versions=["1.0"])])
MALWARE_ALL = Advisories([osv("MAL-2026-7", ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}])])
GPL = {"1": (license_of(license_expression="GPL-3.0-only"),)}
MIT_ONLY = '[all]\nlicenses = ["MIT"]\nunknown_license = "allow"\n'


def policy_set(project: str = REVIEW, tiers: str = "") -> PolicySet:
    rules = parse_tiers(tiers, "policies/tiers.toml") if tiers else TierRules()
    return PolicySet(rules=rules, projects={DEMO: parse_project(project, FILE, "demo")}, version="t")


def cooldown_waiver(until: str, version: str = "1.0") -> str:
    return (f'[[waiver]]\nversion = "{version}"\nrule = "cooldown"\nuntil = {until}\nreason = "needed now"\n'
            'by = "bob"\n')


# -- decide_release: the ReleaseRules names the release on every path ------------------------------------

BLOCKED = REVIEW + '[[block]]\nversions = "==1.0"\nreason = "broken"\nby = "bob"\n'
EXCLUDED = REVIEW.replace("[review]\n", '[review]\nexclude = ["1.0"]\n')
OUTSIDE = REVIEW.replace("[review]\n", '[review]\nversions = ">=2"\n')
VETTED_2 = REVIEW + f'[vetted."2.0"]\nby = "carol"\n[vetted."2.0".files]\n"demo-2.0-py3-none-any.whl" = "{"a" * 64}"\n'


@pytest.mark.parametrize(("tier", "project", "tiers", "version", "advisories", "rule"), [
    (Tier.REVIEWED, "", "", "1.0", Advisories(), "not reviewed: no [review] for this project"),
    (Tier.REVIEWED, BLOCKED, "", "1.0", Advisories(), "version blocked (==1.0): broken"),
    (Tier.ALL, REVIEW, "", "1.0", MALWARE_ONE, "malware: MAL-2026-8"),
    (Tier.ALL, REVIEW, '[all]\nvulnerable = "hold"\n', "1.0", VULN, "known vulnerability: PYSEC-2026-1"),
    (Tier.REVIEWED, REVIEW, "", "not a version", Advisories(), "the file's version cannot be determined"),
    (Tier.REVIEWED, EXCLUDED, "", "1.0", Advisories(), "version 1.0 is excluded by the review"),
    (Tier.REVIEWED, OUTSIDE, "", "1.0", Advisories(), "version 1.0 is outside the reviewed range >=2"),
    (Tier.VETTED, VETTED_2, "", "1.0", Advisories(), "version 1.0 is not vetted"),
    (Tier.REVIEWED, REVIEW, "", "1.0", VULN, "known vulnerability: PYSEC-2026-1"),
])
def test_every_final_release_decision_names_its_tier_project_and_version(
        tier: Tier, project: str, tiers: str, version: str, advisories: Advisories, rule: str) -> None:
    pol = (PolicySet(rules=parse_tiers(tiers, "t.toml") if tiers else TierRules(), projects={}, version="t")
           if not project else policy_set(project, tiers))
    ctx = decide_release(tier, "demo", version, pol, NOW, advisories=advisories)
    assert ctx.decision is not None and ctx.decision.admitted is False
    assert ctx.decision.rule.startswith(rule)
    assert (ctx.tier, ctx.name, ctx.version) == (tier, "demo", version)


def test_a_malware_report_on_one_release_decides_with_the_built_in_rule() -> None:
    for tier in (Tier.ALL, Tier.REVIEWED):
        ctx = decide_release(tier, "demo", "1.0", policy_set(), NOW, advisories=MALWARE_ONE)
        decision = ctx.decision
        assert decision is not None and decision.admitted is False
        assert decision.where == MALWARE_RULE
        assert decision.change is not None and decision.change.startswith("nothing to waive")
        assert "mirror advisories import PATH" in decision.change


def test_without_a_time_the_rules_from_evidence_are_not_applied() -> None:
    pol = policy_set(tiers=MIT_ONLY)
    for tier in (Tier.ALL, Tier.REVIEWED):
        ctx = decide_release(tier, "demo", "1.0", pol, None, advisories=VULN, licenses=GPL)
        assert ctx.decision is None or ctx.decision.admitted
        assert ctx.evidence.held is None and ctx.evidence.warnings == ()
    # with a time, the same evidence decides
    assert decide_release(Tier.REVIEWED, "demo", "1.0", pol, NOW, advisories=VULN).decision is not None


# -- the one-file wrappers pass time and evidence on ---------------------------------------------------


@pytest.mark.parametrize("decide", ["file", "version"])
def test_the_one_file_wrappers_apply_the_rules_from_evidence(decide: str) -> None:
    f = wheel("1.0")

    def run(pol: PolicySet, **evidence: Any) -> Any:
        if decide == "file":
            return decide_file(Tier.REVIEWED, "demo", f, pol, NOW, **evidence)
        return decide_version(Tier.REVIEWED, "demo", "1.0", pol, NOW, file=f, **evidence)

    assert run(policy_set()).admitted
    vulnerable = run(policy_set(), advisories=VULN)
    assert not vulnerable.admitted and "PYSEC-2026-1" in vulnerable.rule
    unlicensed = run(policy_set(tiers=MIT_ONLY), licenses=GPL)
    assert not unlicensed.admitted and "licence GPL-3.0-only" in unlicensed.rule
    # the time decides which waivers are in force
    waived = policy_set(REVIEW + '[[waiver]]\nversion = "1.0"\nrule = "vulnerability"\n'
                                 'until = 2026-12-01T00:00:00Z\nreason = "unreachable"\nby = "bob"\n')
    assert run(waived, advisories=VULN).admitted


def test_a_held_file_carries_no_shadow_warnings() -> None:
    """Warnings and waivers of the rules from evidence are added to admitted files only."""
    pol = policy_set(REVIEW + "cooldown_days = 7\n", tiers='[reviewed]\nvulnerable = "warn"\n')
    ctx = decide_release(Tier.REVIEWED, "demo", "1.0", pol, NOW, advisories=VULN)
    assert ctx.evidence.warnings
    old = decide_in_release(ctx, wheel("1.0"), NOW)
    assert old.admitted and "PYSEC-2026-1" in old.warnings[0]
    young = decide_in_release(ctx, wheel("1.0", age=timedelta(days=1)), NOW)
    assert not young.admitted and young.warnings == () and young.waived == ()


# -- cooldown waivers at their edges ---------------------------------------------------------------------


@pytest.mark.parametrize(("days", "age_hours", "admitted"), [
    (1, 12, True),      # a one-day cooldown: the waiver admits the half-day-old release
    (0.5, 6, True),
    (7, 24, True),
    (1, 30, True),      # past the cooldown: admitted without the waiver
])
def test_a_cooldown_waiver_admits_a_young_release_whatever_the_cooldown(days: float, age_hours: float,
                                                                          admitted: bool) -> None:
    project = REVIEW + f"cooldown_days = {days}\n" + cooldown_waiver("2026-11-27T00:00:00Z")
    f = wheel("1.0", age=timedelta(hours=age_hours))
    decision = decide_file(Tier.REVIEWED, "demo", f, policy_set(project), NOW)
    assert decision.admitted is admitted
    held = decide_file(Tier.REVIEWED, "demo", f, policy_set(REVIEW + f"cooldown_days = {days}\n"), NOW)
    assert held.admitted is (age_hours >= 24 * days)


def test_the_longest_lasting_cooldown_waiver_admits() -> None:
    project = (REVIEW + "cooldown_days = 7\n" + cooldown_waiver("2026-11-26T00:00:00Z")
               + cooldown_waiver("2026-11-30T00:00:00Z") + cooldown_waiver("2026-11-28T00:00:00Z"))
    ctx = decide_release(Tier.REVIEWED, "demo", "1.0", policy_set(project), NOW)
    assert ctx.cooldown_waiver is not None
    assert ctx.cooldown_waiver.until == datetime(2026, 11, 30, tzinfo=UTC)
    decision = decide_in_release(ctx, wheel("1.0", age=timedelta(days=1)), NOW)
    assert decision.admitted and decision.until == datetime(2026, 11, 30, tzinfo=UTC)
    # an expired waiver does not count
    later = decide_release(Tier.REVIEWED, "demo", "1.0", policy_set(project), datetime(2026, 11, 29, tzinfo=UTC))
    assert later.cooldown_waiver is not None and later.cooldown_waiver.until == datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(("days", "now"), [(0, NOW), (7, None)])
def test_no_cooldown_waiver_is_looked_up_without_a_cooldown_or_a_time(days: int, now: datetime | None) -> None:
    project = REVIEW + f"cooldown_days = {days}\n" + cooldown_waiver("2026-11-30T00:00:00Z")
    ctx = decide_release(Tier.REVIEWED, "demo", "1.0", policy_set(project), now)
    assert ctx.cooldown_waiver is None and ctx.cooldown_days == days
    # without a time, the release's rules still hold a young file for the cooldown
    young = decide_in_release(ctx, wheel("1.0", age=timedelta(days=1)), NOW)
    assert young.admitted is (days == 0)
    assert ("cooldown" in young.rule) is True


# -- malware on every release: the quarantined page ----------------------------------------------------


@pytest.mark.parametrize("tier", [Tier.ALL, Tier.REVIEWED])
def test_malware_on_every_release_quarantines_the_page_as_a_block_does(tier: Tier) -> None:
    detail = ProjectDetail(name=DEMO, files=(wheel("1.0"), wheel("1.1")), versions=("1.0", "1.1"),
                           last_serial=42)
    view = decide_page(tier, "demo", detail, Evidence(advisories=MALWARE_ALL), policy_set(), NOW)
    assert view.tier is tier
    assert view.project.admitted is False and view.project.rule.startswith("malware: MAL-2026-7")
    assert view.project.where == MALWARE_RULE
    assert view.project.change is not None and view.project.change.startswith("nothing to waive")
    assert view.detail == ProjectDetail(name=DEMO, last_serial=42, status=ProjectStatus(
        "quarantined", f"blocked by this index: {view.project.rule}"))
    assert view.listed and view.releases == ()


# -- a cooldown waiver's decision, word for word ---------------------------------------------------------


def test_a_cooldown_waiver_admits_with_the_review_s_location_and_the_block_command() -> None:
    project = REVIEW + "cooldown_days = 7\n" + cooldown_waiver("2026-12-10T00:00:00Z")
    young = decide_file(Tier.REVIEWED, "demo", wheel("1.0", age=timedelta(days=1)), policy_set(project), NOW)
    assert young.admitted
    assert young.rule == ("reviewed by alice; uploaded 2026-11-24 12:00 UTC, inside the 7-day cooldown until "
                          "2026-12-01 12:00 UTC, admitted by a waiver")
    assert young.where is not None and (young.where.file, young.where.line) == (FILE, 1)
    assert young.change == "mirror block demo==1.0 --by NAME --reason TEXT"
    # the decision changes by itself when the cooldown ends, before the waiver does
    assert young.until == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert young.waived == (f"cooldown: cooldown waived by bob until 2026-12-10 00:00 UTC (needed now; {FILE}:5)",)
    # a waiver that ends first is when the decision changes
    short = REVIEW + "cooldown_days = 7\n" + cooldown_waiver("2026-11-28T00:00:00Z")
    assert decide_file(Tier.REVIEWED, "demo", wheel("1.0", age=timedelta(days=1)), policy_set(short),
                       NOW).until == datetime(2026, 11, 28, tzinfo=UTC)


def test_a_cooldown_waiver_admits_a_file_without_an_upload_time_until_it_expires() -> None:
    project = REVIEW + "cooldown_days = 7\n" + cooldown_waiver("2026-12-10T00:00:00Z")
    f = DistFile("demo-1.0.tar.gz", "https://up.example/demo-1.0.tar.gz", {"sha256": "e" * 64})
    decision = decide_file(Tier.REVIEWED, "demo", f, policy_set(project), NOW)
    assert decision.admitted and decision.rule == "reviewed by alice; upload time unknown, admitted by a waiver"
    assert decision.until == datetime(2026, 12, 10, tzinfo=UTC)
    held = decide_file(Tier.REVIEWED, "demo", f, policy_set(REVIEW + "cooldown_days = 7\n"), NOW)
    assert not held.admitted and held.rule == "upload time unknown: held back by the cooldown"
