"""Rules from evidence, pure: advisories (vulnerabilities, malware), licences, waivers, shadow mode, tier chains.

Everything goes through :func:`mirror.core.tiers.decide_page` (the one decision pages, explain and the UI read)
or the policy loader; advisories are built from OSV records written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mirror.core.advisories import from_json_api, parse_osv
from mirror.core.errors import PolicyError
from mirror.core.licenses import LicenseSource, ReleaseLicense, license_of
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.edit import add_waiver, snippet
from mirror.core.policy.evidence import Advisories, holds_vulnerable
from mirror.core.policy.explain import explain
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import PolicySet, TierRules
from mirror.core.tiers import Evidence, curated_projects, decide_page, hidden_from_all

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=60)


def wheel(version: str, *, age_days: float = 60) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=NOW - timedelta(days=age_days))


DETAIL = ProjectDetail(name="demo", files=(wheel("1.0"), wheel("1.1"), wheel("1.2")))


def osv(aid: str, *, ranges: list[dict[str, Any]] | None = None, versions: list[str] | None = None,
        name: str = "demo", **top: Any) -> Any:
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": name}}
    if ranges is not None:
        entry["ranges"] = ranges
    if versions is not None:
        entry["versions"] = versions
    return parse_osv({"id": aid, "modified": "2026-01-02T03:04:05Z", "summary": f"summary of {aid}",
                      "affected": [entry], **top})


def eco(*events: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in events]}]


#: 1.0 and 1.2 affected, 1.1 fixed (a regression in 1.2: an explicit versions list)
VULN = osv("PYSEC-2026-1", ranges=eco(("introduced", "0"), ("fixed", "1.1")), aliases=["GHSA-aaaa-bbbb-cccc"])
REGRESSION = osv("GHSA-dddd-eeee-ffff", versions=["1.2"])
MALWARE_ALL = osv("MAL-2026-7", ranges=eco(("introduced", "0")))
MALWARE_ONE = osv("MAL-2026-8", versions=["1.2"])
WITHDRAWN = osv("PYSEC-2026-9", versions=["1.1"], withdrawn="2026-02-01T00:00:00Z")


def project_toml(*tables: str) -> str:
    return "\n".join(['[review]\nby = "alice"\nat = 2026-01-01T00:00:00Z\ncooldown_days = 0\n', *tables])


def policy_set(project: str = project_toml(), tiers: str = "") -> PolicySet:
    rules = parse_tiers(tiers, "policies/tiers.toml") if tiers else TierRules()
    return PolicySet(rules=rules, projects={"demo": parse_project(project, "policies/projects/demo.toml", "demo")},
                     version="t")


def served(tier: Tier, pol: PolicySet, evidence: Evidence, now: datetime = NOW,
           detail: ProjectDetail = DETAIL) -> list[str]:
    view = decide_page(tier, "demo", detail, evidence, pol, now)
    return [f.version or "" for f in view.detail.files]


def verdict(tier: Tier, pol: PolicySet, evidence: Evidence, version: str, now: datetime = NOW) -> Any:
    found = decide_page(tier, "demo", DETAIL, evidence, pol, now).release(version)
    assert found is not None
    return found.decision


# -- vulnerabilities -----------------------------------------------------------------------------------


def test_defaults_warn_in_all_and_hold_in_the_curated_tiers() -> None:
    evidence = Evidence(advisories=Advisories([VULN, REGRESSION]))
    pol = policy_set()
    assert served(Tier.ALL, pol, evidence) == ["1.0", "1.1", "1.2"]
    assert served(Tier.REVIEWED, pol, evidence) == ["1.1"]
    warned = verdict(Tier.ALL, pol, evidence, "1.0")
    assert warned.admitted and "PYSEC-2026-1" in warned.warnings[0] and "would be held" in warned.warnings[0]
    held = verdict(Tier.REVIEWED, pol, evidence, "1.2")
    assert not held.admitted
    assert "GHSA-dddd-eeee-ffff" in held.rule and "built-in default" in str(held.where)
    assert "mirror waive demo==1.2 --rule vulnerability --id GHSA-dddd-eeee-ffff" in (held.change or "")
    # the fixed version above the held release is named, from the range's "fixed" event
    assert "fixed in 1.1" in verdict(Tier.REVIEWED, pol, evidence, "1.0").rule
    assert "use demo 1.1" in (verdict(Tier.REVIEWED, pol, evidence, "1.0").change or "")


def test_vetted_releases_are_re_decided_when_an_advisory_arrives() -> None:
    sha = wheel("1.2").sha256
    pol = policy_set(project_toml(f'[vetted."1.2"]\nby = "alice"\n[vetted."1.2".files]\n"demo-1.2-py3-none-any.whl" = '
                                  f'"{sha}"\n'))
    assert served(Tier.VETTED, pol, Evidence()) == ["1.2"]
    assert served(Tier.VETTED, pol, Evidence(advisories=Advisories([REGRESSION]))) == []


def test_withdrawn_and_unrelated_advisories_never_match() -> None:
    pol = policy_set()
    other = osv("PYSEC-2026-5", versions=["1.1"], name="not-demo")
    assert served(Tier.REVIEWED, pol, Evidence(advisories=Advisories([WITHDRAWN, other]))) == ["1.0", "1.1", "1.2"]


@pytest.mark.parametrize(("tiers", "expected"), [
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "allow"\n',
     {Tier.ALL: 3, Tier.REVIEWED: 3}),
    ('[reviewed]\nvulnerable = "warn"\n', {Tier.ALL: 3, Tier.REVIEWED: 3}),
    # a lower tier's stricter rule applies above it: vetted ⊆ reviewed ⊆ all whatever tiers.toml says
    ('[all]\nvulnerable = "hold"\n[reviewed]\nvulnerable = "allow"\n', {Tier.ALL: 1, Tier.REVIEWED: 1}),
])
def test_vulnerable_modes_per_tier(tiers: str, expected: dict[Tier, int]) -> None:
    pol = policy_set(tiers=tiers)
    evidence = Evidence(advisories=Advisories([VULN, REGRESSION]))
    assert {t: len(served(t, pol, evidence)) for t in expected} == expected


@pytest.mark.parametrize(("tiers", "holding"), [
    ("", {Tier.REVIEWED, Tier.VETTED}),  # built-in: all warns, the curated tiers hold
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "warn"\n', {Tier.VETTED}),
    ('[all]\nvulnerable = "hold"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "allow"\n',
     {Tier.ALL, Tier.REVIEWED, Tier.VETTED}),  # a lower tier's hold applies above it
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "warn"\n', set()),
])
def test_which_tiers_hold_vulnerable_releases(tiers: str, holding: set[Tier]) -> None:
    """The tiers whose first page of a project waits for upstream's advisories."""
    pol = policy_set(tiers=tiers)
    assert {t for t in Tier if holds_vulnerable(pol, t)} == holding


def test_json_api_entries_affect_the_release_they_describe() -> None:
    advisories = from_json_api({"info": {"name": "demo", "version": "1.2"}, "vulnerabilities": [
        {"id": "PYSEC-2026-3", "aliases": ["CVE-2026-0003"], "fixed_in": ["1.1", "1.3"], "summary": "boom"}]})
    evidence = Evidence(advisories=Advisories(advisories))
    held = verdict(Tier.REVIEWED, policy_set(), evidence, "1.2")
    assert not held.admitted and "PYSEC-2026-3" in held.rule and "fixed in 1.3" in held.rule
    assert served(Tier.REVIEWED, policy_set(), evidence) == ["1.0", "1.1"]


def test_the_same_vulnerability_from_two_sources_is_named_once() -> None:
    api = from_json_api({"info": {"name": "demo", "version": "1.0"},
                         "vulnerabilities": [{"id": "GHSA-aaaa-bbbb-cccc", "fixed_in": ["1.1"]}]})
    hits = Advisories([*api, VULN]).hits("demo", "1.0")
    assert [h.advisory.id for h in hits] == ["PYSEC-2026-1"]


# -- waivers -------------------------------------------------------------------------------------------

WAIVER = ('[[waiver]]\nversion = "1.2"\nrule = "vulnerability"\nid = "GHSA-dddd-eeee-ffff"\n'
          'until = 2026-12-01T00:00:00Z\nreason = "not reachable from our code"\nby = "alice"\n')


def test_a_waiver_admits_the_release_until_it_expires() -> None:
    pol = policy_set(project_toml(WAIVER))
    evidence = Evidence(advisories=Advisories([REGRESSION]))
    view = decide_page(Tier.REVIEWED, "demo", DETAIL, evidence, pol, NOW)
    assert [f.version for f in view.detail.files] == ["1.0", "1.1", "1.2"]
    waived = view.release("1.2")
    assert waived is not None and waived.decision.admitted
    assert "waived by alice until 2026-12-01 00:00 UTC" in waived.decision.waived[0]
    # the view holds until the waiver expires, and is decided again then
    assert view.valid_until == datetime(2026, 12, 1, tzinfo=UTC)
    assert served(Tier.REVIEWED, pol, evidence, now=datetime(2026, 12, 1, tzinfo=UTC)) == ["1.0", "1.1"]


def test_a_waiver_of_one_advisory_does_not_waive_another() -> None:
    pol = policy_set(project_toml(WAIVER.replace('version = "1.2"', 'version = "1.0"')))
    assert "1.0" not in served(Tier.REVIEWED, pol, Evidence(advisories=Advisories([VULN])))
    any_id = WAIVER.replace('version = "1.2"', 'version = "1.0"').replace('id = "GHSA-dddd-eeee-ffff"\n', "")
    assert "1.0" in served(Tier.REVIEWED, policy_set(project_toml(any_id)), Evidence(advisories=Advisories([VULN])))
    # an alias names the same advisory
    alias = WAIVER.replace('version = "1.2"', 'version = "1.0"').replace("GHSA-dddd-eeee-ffff", "GHSA-aaaa-bbbb-cccc")
    assert "1.0" in served(Tier.REVIEWED, policy_set(project_toml(alias)), Evidence(advisories=Advisories([VULN])))


def test_a_cooldown_waiver_admits_a_young_release() -> None:
    young = ProjectDetail(name="demo", files=(wheel("1.0"), wheel("2.0", age_days=1)))
    project = project_toml().replace("cooldown_days = 0\n", "")
    assert served(Tier.REVIEWED, policy_set(project), Evidence(), detail=young) == ["1.0"]
    waiver = ('[[waiver]]\nversion = "2.0"\nrule = "cooldown"\nuntil = 2026-11-26T00:00:00Z\n'
              'reason = "security fix we need now"\nby = "alice"\n')
    view = decide_page(Tier.REVIEWED, "demo", young, Evidence(), policy_set(project + waiver), NOW)
    assert [f.version for f in view.detail.files] == ["1.0", "2.0"]
    assert view.valid_until == datetime(2026, 11, 26, tzinfo=UTC)


# -- malware -------------------------------------------------------------------------------------------


def test_malware_covering_every_release_quarantines_the_project_in_every_tier() -> None:
    evidence = Evidence(advisories=Advisories([MALWARE_ALL]))
    for tier in (Tier.ALL, Tier.REVIEWED):  # (nothing of it is vetted: `vetted` does not list it anyway)
        view = decide_page(tier, "demo", DETAIL, evidence, policy_set(), NOW)
        assert view.detail.files == () and view.detail.status.status == "quarantined"
        assert "MAL-2026-7" in view.project.rule and view.listed
        assert "MAL-2026-7" in (view.detail.status.reason or "")
    assert hidden_from_all(policy_set(), frozenset({"demo"})) == {"demo"}
    assert curated_projects(Tier.REVIEWED, policy_set(), frozenset({"demo"})) == ()


def test_malware_in_one_release_keeps_it_out_of_every_tier_and_ignores_waivers_and_modes() -> None:
    pol = policy_set(project_toml(WAIVER.replace("GHSA-dddd-eeee-ffff", "PYSEC-2026-1")),
                     tiers='[all]\nvulnerable = "allow"\n')
    evidence = Evidence(advisories=Advisories([MALWARE_ONE]))
    for tier in (Tier.ALL, Tier.REVIEWED):
        assert served(tier, pol, evidence) == ["1.0", "1.1"]
        assert "malware: MAL-2026-8" in verdict(tier, pol, evidence, "1.2").rule


def test_a_malware_waiver_is_refused_by_the_loader() -> None:
    with pytest.raises(PolicyError, match="cannot be waived") as caught:
        parse_project(project_toml(WAIVER.replace("GHSA-dddd-eeee-ffff", "MAL-2026-8")), "demo.toml", "demo")
    assert caught.value.key == "waiver.id" and caught.value.line == 9


# -- licences ------------------------------------------------------------------------------------------

LICENSED = '[reviewed]\nlicenses = ["MIT", "BSD-3-Clause"]\n'


def licences(**by_version: ReleaseLicense | None) -> dict[str, tuple[ReleaseLicense, ...]]:
    return {v.replace("_", "."): (lic,) for v, lic in by_version.items() if lic is not None}


def test_licence_allowlist_evaluates_spdx_expressions() -> None:
    pol = policy_set(tiers=LICENSED)
    evidence = Evidence(licenses=licences(
        **{"1": license_of(license_expression="MIT OR GPL-3.0-only"),
           "1_1": license_of(license_expression="GPL-3.0-only"),
           "1_2": license_of(classifiers=["License :: OSI Approved :: MIT License"])}))
    assert served(Tier.REVIEWED, pol, evidence) == ["1.0", "1.2"]
    assert served(Tier.ALL, pol, evidence) == ["1.0", "1.1", "1.2"]
    held = verdict(Tier.REVIEWED, pol, evidence, "1.1")
    assert "licence GPL-3.0-only (from License-Expression) is not allowed in 'reviewed'" in held.rule
    assert held.where is not None and held.where.line == 2
    assert "mirror waive demo==1.1 --rule license" in (held.change or "")


def test_unknown_and_unread_licences_follow_unknown_license() -> None:
    evidence = Evidence(licenses=licences(
        **{"1": license_of(classifiers=["License :: OSI Approved :: BSD License"]),  # which BSD?
           "1_1": license_of(license_expression="MIT")}))
    held = policy_set(tiers=LICENSED)
    assert served(Tier.REVIEWED, held, evidence) == ["1.1"]
    assert "not known yet" in verdict(Tier.REVIEWED, held, evidence, "1.2").rule
    assert "unknown (classifiers" in verdict(Tier.REVIEWED, held, evidence, "1.0").rule
    allowed = policy_set(tiers=LICENSED + 'unknown_license = "allow"\n')
    assert served(Tier.REVIEWED, allowed, evidence) == ["1.0", "1.1", "1.2"]


def test_licence_rules_in_shadow_mode_serve_and_warn() -> None:
    pol = policy_set(tiers=LICENSED + 'unlisted_license = "warn"\nunknown_license = "warn"\n')
    evidence = Evidence(licenses=licences(**{"1": license_of(license_expression="GPL-3.0-only")}))
    assert served(Tier.REVIEWED, pol, evidence) == ["1.0", "1.1", "1.2"]
    assert "would be held" in verdict(Tier.REVIEWED, pol, evidence, "1.0").warnings[0]


def test_a_licence_rule_of_all_applies_above_it() -> None:
    pol = policy_set(tiers='[all]\nlicenses = ["MIT"]\nunknown_license = "allow"\n')
    evidence = Evidence(licenses=licences(**{"1": ReleaseLicense("Apache-2.0", LicenseSource.EXPRESSION)}))
    assert served(Tier.ALL, pol, evidence) == ["1.1", "1.2"]
    assert served(Tier.REVIEWED, pol, evidence) == ["1.1", "1.2"]


def test_a_licence_waiver() -> None:
    waiver = ('[[waiver]]\nversion = "1.1"\nrule = "license"\nuntil = 2027-01-01T00:00:00Z\n'
              'reason = "legal approved"\nby = "carol"\n')
    pol = policy_set(project_toml(waiver), tiers=LICENSED)
    evidence = Evidence(licenses=licences(**{"1_1": license_of(license_expression="GPL-3.0-only")}))
    assert "1.1" in served(Tier.REVIEWED, pol, evidence)


# -- tiers.toml and waiver validation ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key", "line", "problem"), [
    ('[reviewed]\nvulnerable = "block"\n', "reviewed.vulnerable", 2, "unknown value 'block'"),
    ('[all]\ncooldown_days = 3\n', "all.cooldown_days", 2, "unknown key"),
    ('[vetted]\nlicenses = ["MIT", "Not-A-Licence"]\n', "vetted.licenses", 2, "Not-A-Licence"),
    ('[vetted]\nlicenses = ["MIT OR Apache-2.0"]\n', "vetted.licenses", 2, "one licence"),
    ('[vetted]\nlicenses = []\n', "vetted.licenses", 2, "empty list"),
    ('[reviewed]\nunknown_license = "hold"\n', "reviewed.unknown_license", 2, "without a 'licenses' list"),
    ('[reviewed]\nlicenses = ["MIT"]\nunlisted_license = "allow"\n', "reviewed.unlisted_license", 3,
     "allowed: 'hold', 'warn'"),
    ('[all]\nmalware = "warn"\n', "all.malware", 2, "unknown key"),
])
def test_bad_evidence_rules_name_file_line_and_key(text: str, key: str, line: int, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_tiers(text, "policies/tiers.toml")
    error = caught.value
    assert (error.file, error.key, error.line) == ("policies/tiers.toml", key, line)
    assert problem in error.problem


def test_evidence_rules_record_where_they_are_written() -> None:
    rules = parse_tiers('[all]\nvulnerable = "hold"\n\n[reviewed]\nlicenses = ["mit"]\n', "tiers.toml")
    assert rules.evidence["all"].vulnerable.value == "hold" and rules.evidence["all"].vulnerable_where.line == 2
    assert rules.evidence["reviewed"].licenses == frozenset({"mit"})
    assert rules.evidence["reviewed"].licenses_where.line == 5
    assert rules.evidence["vetted"].vulnerable.value == "hold" and rules.evidence["vetted"].licenses is None


@pytest.mark.parametrize(("waiver", "key", "problem"), [
    ('version = "1..2"\nrule = "cooldown"\nuntil = 2026-01-01\nreason = "r"\nby = "a"\n', "waiver.version",
     "bad version"),
    ('version = "1.2"\nrule = "malware"\nuntil = 2026-01-01\nreason = "r"\nby = "a"\n', "waiver.rule",
     "malware cannot be waived"),
    ('version = "1.2"\nrule = "license"\nid = "PYSEC-1"\nuntil = 2026-01-01\nreason = "r"\nby = "a"\n',
     "waiver.id", "only a vulnerability waiver"),
    ('version = "1.2"\nrule = "cooldown"\nreason = "r"\nby = "a"\n', "waiver", "missing key 'until'"),
    ('version = "1.2"\nrule = "cooldown"\nuntil = 2026-01-01\nby = "a"\n', "waiver", "missing key 'reason'"),
])
def test_bad_waivers_name_file_line_and_key(waiver: str, key: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_project(project_toml("[[waiver]]\n" + waiver), "demo.toml", "demo")
    assert caught.value.key == key and problem in caught.value.problem and caught.value.line is not None


def test_add_waiver_writes_a_valid_table_and_its_snippet() -> None:
    text = add_waiver(project_toml(), "1.2", "vulnerability", datetime(2026, 12, 1, tzinfo=UTC), "not reachable",
                      "alice", NOW, advisory="GHSA-dddd-eeee-ffff")
    text = add_waiver(text, "1.0", "cooldown", datetime(2026, 12, 2, tzinfo=UTC), "urgent fix", "bob", NOW)
    policy = parse_project(text, "demo.toml", "demo")
    assert [(w.version, w.rule.value, w.advisory, w.signed.by) for w in policy.waivers] == [
        ("1.2", "vulnerability", "GHSA-dddd-eeee-ffff", "alice"), ("1", "cooldown", None, "bob")]
    shown = snippet(text, "waiver", "1.2")
    assert shown is not None and 'id = "GHSA-dddd-eeee-ffff"' in shown and "until = 2026-12-01T00:00:00Z" in shown


# -- explain -------------------------------------------------------------------------------------------


def test_explain_names_the_advisory_the_fixed_version_and_the_waiver() -> None:
    evidence = Evidence(advisories=Advisories([VULN, REGRESSION]))
    text = explain("demo", "1.0", DETAIL, policy_set(), NOW, evidence).as_text()
    assert "reviewed  OUT  known vulnerability: PYSEC-2026-1 (aka GHSA-aaaa-bbbb-cccc): summary of PYSEC-2026-1" \
        in text
    assert "fixed in 1.1" in text and "WARNING: known vulnerability" in text
    waived = explain("demo", "1.2", DETAIL, policy_set(project_toml(WAIVER)), NOW, evidence).as_dict()
    reviewed = next(t for t in waived["tiers"] if t["tier"] == "reviewed")
    assert reviewed["admitted"] and "until 2026-12-01 00:00 UTC" in reviewed["waived"][0]
    summary = explain("demo", None, DETAIL, policy_set(), NOW, evidence).as_text()
    assert "advisories affect 2 release(s)" in summary and "1.2: GHSA-dddd-eeee-ffff" in summary
