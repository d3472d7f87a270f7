"""The rules from evidence one by one (mirror.core.policy.evidence), with the exact words a reviewer reads: which
tier's rule decides and where it is written, the held release's rule and change text, shadow-mode warnings,
waivers and their expiry, licence problems, and when the mirror needs evidence at all. Pure: policies parsed
from TOML text, advisories from OSV records written here, licences as ReleaseLicense values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from packaging.utils import NormalizedName

from mirror.core.advisories import parse_osv
from mirror.core.licenses import LicenseSource, ReleaseLicense
from mirror.core.models import Tier
from mirror.core.policy.evidence import (
    NOTHING,
    Advisories,
    AdvisoryHit,
    Held,
    Outcome,
    judge_release,
    judge_vulnerability,
    malware_hold,
    needs_licenses,
    needs_vulnerabilities,
    waive_command,
)
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import DEFAULT_LOCATION, Location, PolicySet, TierRules, WaivedRule

DEMO = NormalizedName("demo")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TIERS = "policies/tiers.toml"
FILE = "policies/projects/demo.toml"
REVIEW = '[review]\nby = "alice"\nat = 2026-01-01T00:00:00Z\n'


def osv(aid: str, *, summary: str | None = None, aliases: tuple[str, ...] = (), **affected: Any) -> Any:
    top: dict[str, Any] = {"aliases": list(aliases)}
    if summary is not None:
        top["summary"] = summary
    return parse_osv({"id": aid, "modified": "2026-01-02T03:04:05Z", **top,
                      "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, **affected}]})


def fixed_at(fix: str) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fix}]}]


def rules(text: str = "") -> TierRules:
    return parse_tiers(text, TIERS) if text else TierRules()


def project(*tables: str) -> Any:
    return parse_project("\n".join([REVIEW, *tables]), FILE, "demo")


def waiver(rule: str, until: str, *, version: str = "1.0", advisory: str | None = None, by: str = "bob") -> str:
    aid = f'id = "{advisory}"\n' if advisory else ""
    return (f'[[waiver]]\nversion = "{version}"\nrule = "{rule}"\n{aid}until = {until}\nreason = "checked"\n'
            f'by = "{by}"\n')


def judge(tier: Tier, advisories: Advisories = Advisories(), *, tiers: str = "", tables: tuple[str, ...] = (),
          licenses: dict[str, tuple[ReleaseLicense, ...]] | None = None, version: str = "1",
          now: datetime = NOW) -> Outcome:
    return judge_release(tier, "demo", version, project(*tables), rules(tiers), advisories, licenses, now)


VULN = osv("PYSEC-2026-1", summary="boom", aliases=("GHSA-aaaa", "CVE-1", "CVE-2", "CVE-3"), ranges=fixed_at("1.1"))
OTHER = osv("GHSA-bbbb", versions=["1.0"])


# -- which tier's vulnerability rule decides, and where it is written ---------------------------------------


@pytest.mark.parametrize(("tiers", "tier", "held", "where"), [
    ("", Tier.ALL, False, None),                                    # default: warn in all
    ("", Tier.REVIEWED, True, DEFAULT_LOCATION),                    # default: hold in reviewed and vetted
    ("", Tier.VETTED, True, DEFAULT_LOCATION),
    ('[all]\nvulnerable = "hold"\n', Tier.ALL, True, Location(TIERS, 2)),
    # an equally strict rule of a higher tier is the one named (the tier's own, when it has one)
    ('[reviewed]\nvulnerable = "hold"\n', Tier.REVIEWED, True, Location(TIERS, 2)),
    ('[reviewed]\nvulnerable = "hold"\n', Tier.VETTED, True, DEFAULT_LOCATION),
    ('[reviewed]\nvulnerable = "hold"\n\n[vetted]\nvulnerable = "hold"\n', Tier.VETTED, True, Location(TIERS, 5)),
    # a stricter rule below wins over a weaker one above
    ('[all]\nvulnerable = "hold"\n[reviewed]\nvulnerable = "warn"\n[vetted]\nvulnerable = "allow"\n', Tier.VETTED,
     True, Location(TIERS, 2)),
    ('[reviewed]\nvulnerable = "warn"\n', Tier.REVIEWED, False, None),
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "allow"\n', Tier.REVIEWED, False, None),
])
def test_the_strictest_vulnerability_rule_of_the_tier_chain_decides(tiers: str, tier: Tier, held: bool,
                                                                     where: Location | None) -> None:
    outcome = judge(tier, Advisories([VULN]), tiers=tiers)
    assert (outcome.held is not None) is held
    if outcome.held is not None:
        assert outcome.held.where == where


def test_a_held_vulnerable_release_names_the_advisory_the_fix_and_the_waiver_command() -> None:
    outcome = judge(Tier.REVIEWED, Advisories([VULN]))
    assert outcome == Outcome(Held(
        "known vulnerability: PYSEC-2026-1 (aka GHSA-aaaa, CVE-1, CVE-2): boom (in ECOSYSTEM range introduced 0, "
        "fixed 1.1; fixed in 1.1)", DEFAULT_LOCATION,
        "use demo 1.1, or after review: mirror waive demo==1 --rule vulnerability --id PYSEC-2026-1 "
        "--until DATE --by NAME --reason TEXT"))


def test_several_advisories_are_described_then_listed_then_counted() -> None:
    many = [osv(f"GHSA-{i:04}", versions=["1.0"], ranges=fixed_at(f"1.{i}")) for i in range(1, 16)]
    held = judge(Tier.REVIEWED, Advisories(many)).held
    assert held is not None
    described = "; ".join(f"GHSA-{i:04} (listed among the affected versions; fixed in 1.{i})" for i in (1, 2, 3))
    also = ", ".join(f"GHSA-{i:04}" for i in range(4, 13))
    assert held.rule == f"known vulnerabilities: {described}; also {also} and 3 more"
    assert held.change is not None and held.change.startswith("use demo 1.1 or 1.2 or 1.3, or after review: ")
    assert "--id GHSA-0001 " in held.change
    # exactly twelve: no "and ... more"; two: no "also"
    twelve = judge(Tier.REVIEWED, Advisories(many[:12])).held
    assert twelve is not None and twelve.rule.endswith(", GHSA-0012")
    two = judge(Tier.REVIEWED, Advisories(many[:2])).held
    assert two is not None and "also" not in two.rule and two.rule.startswith("known vulnerabilities: GHSA-0001")


def test_a_vulnerability_without_a_known_fix_says_so() -> None:
    held = judge(Tier.REVIEWED, Advisories([OTHER])).held
    assert held is not None
    assert held.rule == "known vulnerability: GHSA-bbbb (listed among the affected versions; no fixed version known)"
    assert held.change == waive_command("demo", "1", WaivedRule.VULNERABILITY, "GHSA-bbbb").join(
        ["after review: ", ""])


@pytest.mark.parametrize(("count", "expected"), [
    (1, 'known vulnerability: GHSA-0001 [vulnerable = "warn" (policies/tiers.toml:2): served, would be held by '
        '"hold"]'),
    (2, 'known vulnerabilities: GHSA-0001, GHSA-0002 [vulnerable = "warn" (policies/tiers.toml:2): served, would '
        'be held by "hold"]'),
    (13, "known vulnerabilities: " + ", ".join(f"GHSA-{i:04}" for i in range(1, 13)) + ' and 1 more [vulnerable = '
         '"warn" (policies/tiers.toml:2): served, would be held by "hold"]'),
])
def test_shadow_mode_serves_and_warns_with_the_ids(count: int, expected: str) -> None:
    many = [osv(f"GHSA-{i:04}", versions=["1.0"]) for i in range(1, count + 1)]
    outcome = judge(Tier.REVIEWED, Advisories(many), tiers='[reviewed]\nvulnerable = "warn"\n')
    assert outcome == Outcome(None, (expected,), (), None)


# -- vulnerability waivers --------------------------------------------------------------------------------


def test_a_vulnerability_waiver_lifts_the_hold_until_it_expires() -> None:
    tables = (waiver("vulnerability", "2026-12-01T00:00:00Z", advisory="GHSA-aaaa"),)
    outcome = judge(Tier.REVIEWED, Advisories([VULN]), tables=tables)
    assert outcome == Outcome(None, (), (
        "known vulnerability PYSEC-2026-1: vulnerability of GHSA-aaaa waived by bob until 2026-12-01 00:00 UTC "
        f"(checked; {FILE}:5)",), datetime(2026, 12, 1, tzinfo=UTC))
    # the instant it expires, the release is held again
    assert judge(Tier.REVIEWED, Advisories([VULN]), tables=tables, now=datetime(2026, 12, 1, tzinfo=UTC)).held


def test_of_several_waivers_of_one_advisory_the_longest_lasting_counts() -> None:
    tables = (waiver("vulnerability", "2026-11-28T00:00:00Z"), waiver("vulnerability", "2026-12-30T00:00:00Z"),
              waiver("vulnerability", "2026-12-01T00:00:00Z"))
    outcome = judge(Tier.REVIEWED, Advisories([VULN]), tables=tables)
    assert outcome.held is None and outcome.until == datetime(2026, 12, 30, tzinfo=UTC)


def test_the_earliest_waiver_expiry_of_several_advisories_is_when_the_release_is_decided_again() -> None:
    tables = (waiver("vulnerability", "2026-12-20T00:00:00Z", advisory="PYSEC-2026-1"),
              waiver("vulnerability", "2026-12-05T00:00:00Z", advisory="GHSA-bbbb"))
    outcome = judge(Tier.REVIEWED, Advisories([VULN, OTHER]), tables=tables)
    assert outcome.held is None and len(outcome.waived) == 2
    assert outcome.until == datetime(2026, 12, 5, tzinfo=UTC)
    # one advisory waived, one not: held, naming only the open one
    partly = judge(Tier.REVIEWED, Advisories([VULN, OTHER]), tables=tables[:1])
    assert partly.held is not None and partly.held.rule.startswith("known vulnerability: GHSA-bbbb")
    # in shadow mode the waived one is reported as waived and the open one warned about
    warned = judge(Tier.REVIEWED, Advisories([VULN, OTHER]), tables=tables[:1],
                   tiers='[reviewed]\nvulnerable = "warn"\n')
    assert warned.held is None and warned.warnings[0].startswith("known vulnerability: GHSA-bbbb [")
    assert warned.waived[0].startswith("known vulnerability PYSEC-2026-1:")
    assert warned.until == datetime(2026, 12, 20, tzinfo=UTC)


def test_waivers_of_other_releases_and_rules_do_not_count() -> None:
    tables = (waiver("vulnerability", "2026-12-01T00:00:00Z", version="1.1"),
              waiver("license", "2026-12-01T00:00:00Z"), waiver("cooldown", "2026-12-01T00:00:00Z"))
    assert judge(Tier.REVIEWED, Advisories([VULN]), tables=tables).held is not None


# -- malware --------------------------------------------------------------------------------------------


def test_malware_holds_are_built_in_and_cannot_be_waived() -> None:
    one = Advisories([osv("MAL-2026-8", versions=["1.0"]), VULN])
    held = malware_hold("demo", "1.0", one)
    assert held == Held("malware: MAL-2026-8 (listed among the affected versions; no fixed version known)",
                        Location("built-in rule: a malware report (MAL-) blocks in every tier"),
                        "nothing to waive: a malicious release is served in no tier (if the report is wrong, "
                        "import its withdrawn record: mirror advisories import PATH)")
    assert malware_hold("demo", "1.1", one) is None
    assert malware_hold("demo", None, one) is None
    # a malware report is not a vulnerability: the vulnerability rule ignores it
    assert judge(Tier.REVIEWED, Advisories([osv("MAL-2026-8", versions=["1.0"])])) is NOTHING
    every = Advisories([osv("MAL-2026-9", ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}])])
    quarantine = malware_hold("demo", None, every)
    assert quarantine is not None and quarantine.rule == "malware: MAL-2026-9 (every version; no fixed version known)"


def test_advisory_hits_are_one_per_vulnerability_and_memoized() -> None:
    again = osv("GHSA-aaaa", versions=["1.0"])  # PYSEC-2026-1's alias, from another source
    advisories = Advisories([VULN, again, OTHER])
    hits = advisories.hits("demo", "1.0")
    assert [h.advisory.id for h in hits] == ["PYSEC-2026-1", "GHSA-bbbb"]
    assert hits[0].also == [again] and hits[0].ids == ("PYSEC-2026-1", "GHSA-aaaa", "CVE-1", "CVE-2", "CVE-3")
    assert advisories.hits("demo", "1.0") is hits
    assert advisories.hits("demo", None) == () and Advisories().hits("demo", "1.0") == ()
    assert advisories.hits("demo", "1.1") == ()
    assert repr(hits[1]) == "AdvisoryHit('GHSA-bbbb', 'listed among the affected versions')"
    # matching a page's releases at once gives the same hits
    prepared = Advisories([VULN, again, OTHER])
    prepared.prepare("demo", ["1.0", "1.1", None, "1.0"])
    assert [h.advisory.id for h in prepared.hits("demo", "1.0")] == ["PYSEC-2026-1", "GHSA-bbbb"]
    assert prepared.hits("demo", "1.1") == ()


def test_the_fix_of_a_hit_counts_the_same_vulnerability_from_other_sources() -> None:
    unfixed = osv("GHSA-cccc", versions=["1.0"])
    fixed_elsewhere = osv("PYSEC-2026-2", aliases=("GHSA-cccc",), ranges=fixed_at("1.4"))
    hit = Advisories([unfixed, fixed_elsewhere]).hits("demo", "1.0")[0]
    assert hit.advisory.id == "GHSA-cccc" and hit.also == [fixed_elsewhere] and hit.fixed == "1.4"
    plain = AdvisoryHit(unfixed, "why")
    assert plain.fixed is None and plain.describe() == "GHSA-cccc (why; no fixed version known)"
    assert plain.malware is False and AdvisoryHit(osv("MAL-1", versions=["1.0"]), "why").malware is True


# -- licences -------------------------------------------------------------------------------------------

MIT = ReleaseLicense("MIT", LicenseSource.EXPRESSION)
GPL = ReleaseLicense("GPL-3.0-only", LicenseSource.CLASSIFIERS)
UNKNOWN = ReleaseLicense(None, LicenseSource.CLASSIFIERS, "no single SPDX licence for 'BSD License'")
BROKEN = ReleaseLicense("NOT AN (EXPRESSION", LicenseSource.EXPRESSION)
ALLOW = '[reviewed]\nlicenses = ["MIT", "BSD-3-Clause"]\n'


@pytest.mark.parametrize(("read", "rule"), [
    (None, "the licence of demo 1 is not known yet (the mirror has not read the metadata of any of its files)"),
    ((), "the licence of demo 1 is not known yet (the mirror has not read the metadata of any of its files)"),
    ((UNKNOWN,), "the licence of demo 1 is unknown (classifiers: no single SPDX licence for 'BSD License')"),
    ((GPL,), "licence GPL-3.0-only (from classifiers) is not allowed in 'reviewed' (allowed: MIT, BSD-3-Clause)"),
    # every metadata file of the release must pass: the first failing one is named
    ((MIT, GPL), "licence GPL-3.0-only (from classifiers) is not allowed in 'reviewed' (allowed: MIT, BSD-3-Clause)"),
    ((MIT, UNKNOWN), "the licence of demo 1 is unknown (classifiers: no single SPDX licence for 'BSD License')"),
])
def test_licence_problems_name_the_release_and_the_allowlist(read: tuple[ReleaseLicense, ...] | None,
                                                             rule: str) -> None:
    licenses = {} if read is None else {"1": read}
    held = judge(Tier.REVIEWED, tiers=ALLOW, licenses=licenses).held
    assert held == Held(rule, Location(TIERS, 2), "after review: mirror waive demo==1 --rule license --until DATE "
                                                   f"--by NAME --reason TEXT; or change 'licenses' in {TIERS}")


def test_an_expression_that_cannot_be_evaluated_is_an_unknown_licence() -> None:
    held = judge(Tier.REVIEWED, tiers=ALLOW, licenses={"1": (BROKEN,)}).held
    assert held is not None and held.rule.startswith("the licence of demo 1 cannot be evaluated (licence ")
    allowed = judge(Tier.REVIEWED, tiers=ALLOW + 'unknown_license = "allow"\n', licenses={"1": (BROKEN,)})
    assert allowed is NOTHING


def test_licences_passing_the_allowlist_add_nothing() -> None:
    assert judge(Tier.REVIEWED, tiers=ALLOW, licenses={"1": (MIT, MIT)}) is NOTHING
    assert judge(Tier.ALL, tiers=ALLOW, licenses={}) is NOTHING  # a rule of reviewed does not apply below it
    assert judge(Tier.REVIEWED, licenses={}) is NOTHING  # no licence rule at all


@pytest.mark.parametrize(("tiers", "read", "outcome"), [
    # a mode written in tiers.toml is named where it is written; a default mode by the licences list
    (ALLOW + 'unknown_license = "warn"\n', (UNKNOWN,), Outcome(None, (
        "the licence of demo 1 is unknown (classifiers: no single SPDX licence for 'BSD License') [licence rule "
        f"in shadow mode ({TIERS}:3): served, would be held]",))),
    (ALLOW + 'unlisted_license = "warn"\n', (GPL,), Outcome(None, (
        "licence GPL-3.0-only (from classifiers) is not allowed in 'reviewed' (allowed: MIT, BSD-3-Clause) [licence "
        f"rule in shadow mode ({TIERS}:3): served, would be held]",))),
    (ALLOW + 'unlisted_license = "warn"\n', (UNKNOWN,), None),  # unknown: still held, at the list's line
    (ALLOW + 'unknown_license = "allow"\n', (UNKNOWN,), NOTHING),
])
def test_licence_modes(tiers: str, read: tuple[ReleaseLicense, ...], outcome: Outcome | None) -> None:
    found = judge(Tier.REVIEWED, tiers=tiers, licenses={"1": read})
    if outcome is None:
        assert found.held is not None and found.held.where == Location(TIERS, 2)
    else:
        assert found == outcome


def test_the_strictest_licence_rule_of_the_tier_chain_decides() -> None:
    tiers = ('[all]\nlicenses = ["MIT", "GPL-3.0-only"]\nunlisted_license = "warn"\n'
             '[reviewed]\nlicenses = ["MIT"]\nunlisted_license = "warn"\n'
             '[vetted]\nlicenses = ["Apache-2.0"]\n')
    apache = ReleaseLicense("Apache-2.0", LicenseSource.EXPRESSION)
    # all's list permits it, reviewed's warns: the warning is reviewed's
    found = judge(Tier.REVIEWED, tiers=tiers, licenses={"1": (GPL,)})
    assert found.held is None and "not allowed in 'reviewed'" in found.warnings[0]
    # in vetted, all's and reviewed's warn but vetted's holds
    held = judge(Tier.VETTED, tiers=tiers, licenses={"1": (GPL,)}).held
    assert held is not None and "not allowed in 'vetted' (allowed: Apache-2.0)" in held.rule
    assert held.where == Location(TIERS, 8)
    # Apache passes vetted's list but not those below it: warned (shadow mode there), never held
    shadow = judge(Tier.VETTED, tiers=tiers, licenses={"1": (apache,)})
    assert shadow.held is None and "not allowed in 'all'" in shadow.warnings[0]
    # the first of two equally strict problems is named
    both = '[all]\nlicenses = ["GPL-3.0-only"]\n[reviewed]\nlicenses = ["MIT"]\n'
    first = judge(Tier.REVIEWED, tiers=both, licenses={"1": (apache,)}).held
    assert first is not None and "not allowed in 'all'" in first.rule


def test_a_licence_waiver_lifts_the_hold_and_the_longest_counts() -> None:
    tables = (waiver("license", "2026-11-30T00:00:00Z", by="carol"), waiver("license", "2026-12-24T00:00:00Z"))
    found = judge(Tier.REVIEWED, tiers=ALLOW, licenses={"1": (GPL,)}, tables=tables)
    assert found == Outcome(None, (), (
        "licence GPL-3.0-only (from classifiers) is not allowed in 'reviewed' (allowed: MIT, BSD-3-Clause): license "
        f"waived by bob until 2026-12-24 00:00 UTC (checked; {FILE}:12)",), datetime(2026, 12, 24, tzinfo=UTC))
    expired = judge(Tier.REVIEWED, tiers=ALLOW, licenses={"1": (GPL,)}, tables=tables,
                    now=datetime(2026, 12, 24, tzinfo=UTC))
    assert expired.held is not None


# -- judge_release combines both rules ----------------------------------------------------------------------


def test_both_rules_together() -> None:
    tiers = ALLOW + 'unlisted_license = "warn"\nvulnerable = "warn"\n'
    both = judge(Tier.REVIEWED, Advisories([OTHER]), tiers=tiers, licenses={"1": (GPL,)})
    assert both.held is None and len(both.warnings) == 2
    assert both.warnings[0].startswith("known vulnerability: GHSA-bbbb") and both.warnings[1].startswith("licence GPL")
    # one rule holds: the release is held, whatever the other says
    held = judge(Tier.REVIEWED, Advisories([OTHER]), tiers=ALLOW + 'vulnerable = "warn"\n', licenses={"1": (GPL,)})
    assert held.held is not None and held.held.rule.startswith("licence GPL") and held.warnings == ()
    # both waived: the earlier expiry is when the release is decided again
    tables = (waiver("license", "2026-12-24T00:00:00Z"), waiver("vulnerability", "2026-12-10T00:00:00Z"))
    waived = judge(Tier.REVIEWED, Advisories([OTHER]), tiers=ALLOW, licenses={"1": (GPL,)}, tables=tables)
    assert waived.held is None and len(waived.waived) == 2 and waived.until == datetime(2026, 12, 10, tzinfo=UTC)
    # an unreadable version is judged by nothing
    assert judge_release(Tier.REVIEWED, "demo", None, project(), rules(ALLOW), Advisories([OTHER]), None,
                         NOW) is NOTHING


def test_judge_vulnerability_is_the_vulnerability_rule_alone() -> None:
    outcome = judge_vulnerability(Tier.REVIEWED, "demo", "1", project(), rules(ALLOW), Advisories([OTHER]), NOW)
    assert outcome == judge(Tier.REVIEWED, Advisories([OTHER]))
    assert judge_vulnerability(Tier.REVIEWED, "demo", "1", None, rules(), Advisories([OTHER]),
                               NOW - timedelta(days=1)).held is not None


# -- when evidence is needed at all ------------------------------------------------------------------------


@pytest.mark.parametrize(("tiers", "reviewed", "licences"), [
    ("", True, False),
    ('[all]\nlicenses = ["MIT"]\n', False, True),        # all applies to every project
    ('[reviewed]\nlicenses = ["MIT"]\n', True, True),
    ('[reviewed]\nlicenses = ["MIT"]\n', False, False),  # the curated tiers do not serve an unreviewed project
    ('[vetted]\nlicenses = ["MIT"]\n', True, True),
    ('[vetted]\nlicenses = ["MIT"]\n', False, False),
])
def test_licences_are_needed_only_where_a_rule_may_apply(tiers: str, reviewed: bool, licences: bool) -> None:
    projects = {DEMO: project()} if reviewed else {}
    pol = PolicySet(rules=rules(tiers), projects=projects, version="t")
    assert needs_licenses(pol, "demo") is licences
    blocked = parse_project('[[block]]\nreason = "no"\nby = "bob"\n', FILE, "demo")
    assert needs_licenses(PolicySet(rules=rules(tiers), projects={DEMO: blocked}, version="t"), "demo") is (
        licences and not reviewed)


@pytest.mark.parametrize(("tiers", "needed"), [
    ("", True),
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "allow"\n', False),
    ('[all]\nvulnerable = "allow"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "warn"\n', True),
    ('[all]\nvulnerable = "warn"\n[reviewed]\nvulnerable = "allow"\n[vetted]\nvulnerable = "allow"\n', True),
])
def test_vulnerabilities_are_needed_unless_every_tier_allows_them(tiers: str, needed: bool) -> None:
    assert needs_vulnerabilities(PolicySet(rules=rules(tiers), projects={}, version="t")) is needed


def test_a_licence_rule_allowing_unknown_licences_below_does_not_hide_a_stricter_one_above() -> None:
    tiers = '[all]\nlicenses = ["MIT"]\nunknown_license = "allow"\n[reviewed]\nlicenses = ["MIT"]\n'
    assert judge(Tier.ALL, tiers=tiers, licenses={"1": (UNKNOWN,)}) is NOTHING
    held = judge(Tier.REVIEWED, tiers=tiers, licenses={"1": (UNKNOWN,)}).held
    assert held is not None and held.where == Location(TIERS, 5)


def test_twelve_warned_advisories_are_all_listed_with_no_more() -> None:
    many = [osv(f"GHSA-{i:04}", versions=["1.0"]) for i in range(1, 13)]
    outcome = judge(Tier.REVIEWED, Advisories(many), tiers='[reviewed]\nvulnerable = "warn"\n')
    assert outcome.warnings[0].startswith("known vulnerabilities: " + ", ".join(f"GHSA-{i:04}" for i in range(1, 13))
                                          + ' [vulnerable = "warn"')


def test_judge_vulnerability_applies_the_project_s_waivers_at_the_given_time() -> None:
    pol = project(waiver("vulnerability", "2026-12-01T00:00:00Z"))
    waived = judge_vulnerability(Tier.REVIEWED, "demo", "1", pol, rules(), Advisories([OTHER]), NOW)
    assert waived.held is None and waived.until == datetime(2026, 12, 1, tzinfo=UTC)
    expired = judge_vulnerability(Tier.REVIEWED, "demo", "1", pol, rules(), Advisories([OTHER]),
                                  datetime(2026, 12, 2, tzinfo=UTC))
    assert expired.held is not None


def test_an_advisory_hit_with_a_known_fix() -> None:
    hit = AdvisoryHit(OTHER, "why", "2.0")
    assert hit.fixed == "2.0" and hit.describe() == "GHSA-bbbb (why; fixed in 2.0)"
    assert AdvisoryHit(OTHER, "why", malware=True).malware is True
