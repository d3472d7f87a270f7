"""``explain`` with evidence, word for word: shadow-mode warnings and waivers per tier and per file (a file's own
only where it differs from the tier's), the advisory notes of a release and of a project, and a release upstream's
page is not available for. Pure: policies parsed from TOML text, advisories from OSV records written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from packaging.utils import NormalizedName

from mirror.core.advisories import parse_osv
from mirror.core.licenses import license_of
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import Decision
from mirror.core.policy.evidence import Advisories
from mirror.core.policy.explain import FileVerdict, TierExplanation, advisory_notes, explain
from mirror.core.policy.load import parse_project, parse_tiers
from mirror.core.policy.model import PolicySet
from mirror.core.tiers import Evidence

DEMO = NormalizedName("demo")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FILE = "policies/projects/demo.toml"
PROJECT = ('[review]\nby = "alice"\nat = 2026-01-01T00:00:00Z\n'
           '[[waiver]]\nversion = "1.0"\nrule = "vulnerability"\nid = "GHSA-2"\nuntil = 2026-12-01T00:00:00Z\n'
           'reason = "unreachable"\nby = "bob"\n')
COOLDOWN_WAIVER = ('[[waiver]]\nversion = "1.0"\nrule = "cooldown"\nuntil = 2026-11-30T00:00:00Z\n'
                   'reason = "fix needed"\nby = "carol"\n')


def file(name: str, *, age: timedelta = timedelta(days=60)) -> DistFile:
    return DistFile(name, f"https://up.example/{name}", {"sha256": "e" * 64}, upload_time=NOW - age)


def osv(aid: str, versions: list[str]) -> Any:
    return parse_osv({"id": aid, "modified": "2026-01-02T03:04:05Z", "summary": f"summary of {aid}",
                      "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, "versions": versions}]})


def policies(project: str = PROJECT, tiers: str = '[reviewed]\nvulnerable = "warn"\n') -> PolicySet:
    return PolicySet(rules=parse_tiers(tiers, "policies/tiers.toml"),
                     projects={DEMO: parse_project(project, FILE, "demo")}, version="t")


DETAIL = ProjectDetail(name=DEMO, files=(file("demo-1.0-py3-none-any.whl"),
                                           file("demo-1.0.tar.gz", age=timedelta(hours=1)),
                                           file("demo-1.1-py3-none-any.whl")))
EVIDENCE = Evidence(advisories=Advisories([osv("GHSA-1", ["1.0"]), osv("GHSA-2", ["1.0"])]))
WARN_ALL = ('WARNING: known vulnerability: GHSA-1 [vulnerable = "warn" (built-in default): served, would be held by '
            '"hold"]')
WARN_REVIEWED = ('WARNING: known vulnerability: GHSA-1 [vulnerable = "warn" (policies/tiers.toml:2): served, would be '
                 'held by "hold"]')
WAIVED = ("known vulnerability GHSA-2: vulnerability of GHSA-2 waived by bob until 2026-12-01 00:00 UTC (unreachable; "
          f"{FILE}:4)")
COOLED = f"cooldown: cooldown waived by carol until 2026-11-30 00:00 UTC (fix needed; {FILE}:11)"
NOTES = ["advisory: GHSA-1: summary of GHSA-1 (listed among the affected versions; no fixed version known)",
         "advisory: GHSA-2: summary of GHSA-2 (listed among the affected versions; no fixed version known)"]


def test_warnings_and_waivers_are_shown_per_tier_and_where_a_file_differs() -> None:
    found = explain("demo", "1.0", DETAIL, policies(PROJECT + COOLDOWN_WAIVER), NOW, EVIDENCE)
    young = ("uploaded 2026-11-25 11:00 UTC, inside the 7-day cooldown until 2026-12-02 11:00 UTC, admitted by a "
             "waiver")
    assert found.as_text() == "\n".join([
        "demo 1.0:",
        "  all       IN   not blocked: every upstream project is in 'all' (2 files)",
        "            rule at: built-in default",
        "            to change: mirror block demo --by NAME --reason TEXT",
        f"            {WARN_ALL}",
        f"            waived: {WAIVED}",
        # one line per release and tier; a file only where it differs from its release
        "  reviewed  IN   reviewed by alice; older than the 7-day cooldown (2 files)",
        f"            rule at: {FILE}:1",
        "            to change: mirror block demo==1.0 --by NAME --reason TEXT",
        f"            {WARN_REVIEWED}",
        f"            waived: {WAIVED}",
        f"            + demo-1.0.tar.gz: reviewed by alice; {young}",
        f"              waived: {COOLED}",
        f"              waived: {WAIVED}",
        "  vetted    OUT  no release of this project is vetted",
        f"            rule at: {FILE}:1",
        "            to change: mirror vet demo VERSION --by NAME --note TEXT",
        *(f"  note: {n}" for n in NOTES)])
    reviewed = found.as_dict()["tiers"][1]
    assert reviewed == {
        "tier": "reviewed", "admitted": True, "rule": "reviewed by alice; older than the 7-day cooldown",
        "where": f"{FILE}:1", "change": "mirror block demo==1.0 --by NAME --reason TEXT",
        "warnings": [WARN_REVIEWED.removeprefix("WARNING: ")], "waived": [WAIVED],
        "files": [{"filename": "demo-1.0-py3-none-any.whl", "admitted": True,
                   "rule": "reviewed by alice; older than the 7-day cooldown"},
                  {"filename": "demo-1.0.tar.gz", "admitted": True, "rule": f"reviewed by alice; {young}",
                   "waived": [COOLED, WAIVED]}]}
    assert found.as_dict()["notes"] == NOTES


def test_a_held_file_shows_its_own_change_and_no_warnings() -> None:
    found = explain("demo", "1.0", DETAIL, policies(), NOW, EVIDENCE)
    text = found.as_text().splitlines()
    held = text.index("            - demo-1.0.tar.gz: uploaded 2026-11-25 11:00 UTC, inside the 7-day cooldown until "
                      "2026-12-02 11:00 UTC")
    assert text[held + 1:held + 3] == ["              to change: mirror vet demo 1.0 --by NAME --note TEXT",
                                       "  vetted    OUT  no release of this project is vetted"]
    files = found.as_dict()["tiers"][1]["files"]
    assert files[1] == {"filename": "demo-1.0.tar.gz", "admitted": False,
                        "rule": "uploaded 2026-11-25 11:00 UTC, inside the 7-day cooldown until 2026-12-02 11:00 UTC",
                        "change": "mirror vet demo 1.0 --by NAME --note TEXT"}
    # a tier without warnings or waivers has neither key
    assert set(found.as_dict()["tiers"][2]) == {"tier", "admitted", "rule", "where", "change", "files"}


def test_without_upstream_s_page_the_release_is_still_judged_by_the_evidence() -> None:
    held = explain("demo", "1.0", None, policies(tiers='[all]\nvulnerable = "allow"\n'), NOW, EVIDENCE)
    reviewed = held.as_dict()["tiers"][1]
    assert not reviewed["admitted"]
    assert reviewed["rule"] == ("known vulnerability: GHSA-1: summary of GHSA-1 (listed among the affected versions; "
                                "no fixed version known)")
    assert held.as_dict()["tiers"][0]["admitted"]
    assert held.notes == ("upstream page not available: file-level rules (hashes, cooldown) not evaluated", *NOTES)
    # the waiver in force at ``now`` counts; once expired, GHSA-2 holds the release too
    later = explain("demo", "1.0", None, policies(tiers='[reviewed]\nvulnerable = "warn"\n'),
                    datetime(2026, 12, 1, tzinfo=UTC), EVIDENCE).as_dict()["tiers"][1]
    assert later["admitted"] and later["warnings"] == [
        'known vulnerabilities: GHSA-1, GHSA-2 [vulnerable = "warn" (policies/tiers.toml:2): served, would be held by '
        '"hold"]']
    licensed = explain("demo", "1.0", None, policies(tiers='[reviewed]\nlicenses = ["MIT"]\n'), NOW,
                       Evidence(licenses={})).as_dict()["tiers"][1]
    assert not licensed["admitted"] and licensed["rule"].startswith("the licence of demo 1 is not known yet")


def test_the_advisory_notes_of_a_project_name_its_latest_ten_affected_releases() -> None:
    versions = [f"1.{i}" for i in range(12)]
    detail = ProjectDetail(name=DEMO, files=tuple(file(f"demo-{v}-py3-none-any.whl") for v in [*versions, "2.0"]))
    evidence = Evidence(advisories=Advisories([osv("GHSA-1", versions), osv("GHSA-3", ["1.11"])]))
    shown = "; ".join([*(f"{v}: GHSA-1" for v in versions[2:11]), "1.11: GHSA-1, GHSA-3"])
    assert advisory_notes("demo", None, detail, evidence) == [
        f"advisories affect 12 release(s) (the latest 10 of 12): {shown}; details: mirror explain demo VERSION"]
    few = ProjectDetail(name=DEMO, files=detail.files[:2])
    assert advisory_notes("demo", None, few, evidence) == [
        "advisories affect 2 release(s): 1.0: GHSA-1; 1.1: GHSA-1; details: mirror explain demo VERSION"]
    assert advisory_notes("demo", None, ProjectDetail(name=DEMO, files=detail.files[-1:]), evidence) == []
    assert advisory_notes("demo", None, None, evidence) == []
    assert advisory_notes("demo", "1.0", None, Evidence()) == []
    # a release's notes name every advisory affecting it, any spelling of its version
    assert advisory_notes("demo", "1.11.0", None, evidence) == [
        "advisory: GHSA-1: summary of GHSA-1 (listed among the affected versions; no fixed version known)",
        "advisory: GHSA-3: summary of GHSA-3 (listed among the affected versions; no fixed version known)"]


def test_without_upstream_s_page_the_licences_read_count() -> None:
    mit = license_of(license_expression="MIT")
    tiers = '[reviewed]\nlicenses = ["MIT"]\n'
    read = explain("demo", "1.0", None, policies(tiers=tiers), NOW, Evidence(licenses={"1": (mit,)}))
    assert read.as_dict()["tiers"][1]["admitted"]


def test_advisory_notes_for_a_version_that_is_not_pep_440() -> None:
    """A reviewer may ask about any version string; an advisory may list one verbatim."""
    evidence = Evidence(advisories=Advisories([osv("GHSA-9", ["weird-1"])]))
    assert advisory_notes("demo", "weird-1", None, evidence) == [
        "advisory: GHSA-9: summary of GHSA-9 (listed among the affected versions; no fixed version known)"]


def test_ten_affected_releases_are_all_shown() -> None:
    versions = [f"1.{i}" for i in range(11)]
    detail = ProjectDetail(name=DEMO, files=tuple(file(f"demo-{v}-py3-none-any.whl") for v in versions))
    ten = Evidence(advisories=Advisories([osv("GHSA-1", versions[:10])]))
    assert advisory_notes("demo", None, detail, ten)[0].startswith("advisories affect 10 release(s): 1.0: GHSA-1;")
    eleven = Evidence(advisories=Advisories([osv("GHSA-1", versions)]))
    assert advisory_notes("demo", None, detail, eleven)[0].startswith(
        "advisories affect 11 release(s) (the latest 10 of 11): 1.1: GHSA-1;")


def test_a_file_s_own_warnings_and_waivers_are_shown_where_they_differ_from_the_tier_s() -> None:
    tier = Decision(True, "in", warnings=("w-tier",), waived=("x-tier",))
    files = (FileVerdict("a.whl", True, "in", warnings=("w-tier",), waived=("x-tier",)),
             FileVerdict("b.whl", True, "in", warnings=("w-own",), waived=("x-own",)))
    shown = TierExplanation(Tier.REVIEWED, tier, files).as_dict()["files"]
    assert shown == [{"filename": "a.whl", "admitted": True, "rule": "in"},
                     {"filename": "b.whl", "admitted": True, "rule": "in", "warnings": ["w-own"], "waived": ["x-own"]}]
