"""Advisories: OSV and JSON API parsing, OSV matching with PEP 440 ordering, fixes, malware. Plain values."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mirror.core.advisories import (
    AdvisoryError,
    AdvisorySource,
    affects,
    affects_every_version,
    fixed_versions,
    from_json_api,
    is_malware,
    lowest_fixed_above,
    match,
    parse_osv,
)
from mirror.core.advisories.record import from_record, to_record

DATA = Path(__file__).resolve().parent.parent / "data" / "osv"


def record(*affected: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A minimal valid OSV record with the given affected entries."""
    return {"id": "GHSA-test-0001", "modified": "2024-01-02T03:04:05Z", "affected": list(affected), **top}


def pypi(name: str = "demo", ranges: list[dict[str, Any]] | None = None,
         versions: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": name}}
    if ranges is not None:
        entry["ranges"] = ranges
    if versions is not None:
        entry["versions"] = versions
    return entry


def eco(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> dict[str, Any]:
    return {"type": kind, "events": [{k: v} for k, v in events]}


def real(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# -- range semantics -------------------------------------------------------------------------------------

FROM_ZERO_FIXED_15 = (("introduced", "0"), ("fixed", "1.5"))
FROM_10_FIXED_15 = (("introduced", "1.0"), ("fixed", "1.5"))
LAST_AFFECTED_14 = (("introduced", "1.0"), ("last_affected", "1.4"))
TWO_WINDOWS = (("introduced", "1.0"), ("fixed", "1.0.2"), ("introduced", "3.0"), ("fixed", "3.2.5"))
TWO_WINDOWS_UNSORTED = (("fixed", "3.2.5"), ("introduced", "3.0"), ("fixed", "1.0.2"), ("introduced", "1.0"))


@pytest.mark.parametrize(
    ("events", "version", "affected"),
    [
        # introduced "0": before every version, pre-releases and dev releases included
        ((("introduced", "0"),), "0.0.1", True),
        ((("introduced", "0"),), "0.dev0", True),
        ((("introduced", "0"),), "99.0", True),
        # fixed: exclusive upper bound, equality under PEP 440
        (FROM_ZERO_FIXED_15, "1.4.9", True),
        (FROM_ZERO_FIXED_15, "1.5", False),
        (FROM_ZERO_FIXED_15, "1.5.0", False),
        (FROM_ZERO_FIXED_15, "2.0", False),
        # pre-, dev- and post-releases take their PEP 440 places
        (FROM_ZERO_FIXED_15, "1.5rc1", True),
        (FROM_ZERO_FIXED_15, "1.5.dev3", True),
        (FROM_ZERO_FIXED_15, "1.4.post2", True),
        (FROM_ZERO_FIXED_15, "1.5.post1", False),
        (FROM_ZERO_FIXED_15, "1!0.5", False),  # epoch 1 sorts after every epoch-0 version
        # introduced: inclusive lower bound; its pre-releases come before it
        (FROM_10_FIXED_15, "0.9", False),
        (FROM_10_FIXED_15, "1.0", True),
        (FROM_10_FIXED_15, "1.0rc1", False),
        (FROM_10_FIXED_15, "1.0.dev1", False),
        (FROM_10_FIXED_15, "1.0.post1", True),
        # last_affected: inclusive upper bound
        (LAST_AFFECTED_14, "1.4", True),
        (LAST_AFFECTED_14, "1.4.0", True),
        (LAST_AFFECTED_14, "1.4rc1", True),
        (LAST_AFFECTED_14, "1.4.post1", False),
        (LAST_AFFECTED_14, "1.4.1", False),
        # limit: the range applies only below one of the limits; "*" is no limit
        ((("introduced", "1.0"), ("limit", "2.0")), "1.9", True),
        ((("introduced", "1.0"), ("limit", "2.0")), "2.0", False),
        ((("introduced", "1.0"), ("limit", "*")), "50", True),
        ((("introduced", "0"), ("fixed", "3.0"), ("limit", "2.0")), "2.5", False),
        ((("introduced", "0"), ("limit", "1.0"), ("limit", "3.0")), "2.5", True),
        # several windows in one event list, sorted or not
        (TWO_WINDOWS, "0.9", False),
        (TWO_WINDOWS, "1.0.1", True),
        (TWO_WINDOWS, "2.0", False),
        (TWO_WINDOWS, "3.1", True),
        (TWO_WINDOWS, "3.2.5", False),
        (TWO_WINDOWS_UNSORTED, "1.0.1", True),
        (TWO_WINDOWS_UNSORTED, "2.0", False),
        (TWO_WINDOWS_UNSORTED, "3.1", True),
        (TWO_WINDOWS_UNSORTED, "4.0", False),
        # equal versions keep the record's order: fixed at 1.0, re-introduced at 1.0 (stays affected)
        ((("introduced", "0"), ("fixed", "1.0"), ("introduced", "1.0"), ("fixed", "2.0")), "1.5", True),
        # local versions are judged as their public version
        (FROM_ZERO_FIXED_15, "1.4+ubuntu1", True),
        (FROM_ZERO_FIXED_15, "1.5+patched", False),
        (LAST_AFFECTED_14, "1.4+local.7", True),
        # a release version that is not PEP 440 cannot be placed in a range
        ((("introduced", "0"),), "not a version", False),
        ((("introduced", "0"),), "1.0-custom-build!", False),
    ],
)
def test_ecosystem_range_semantics(events, version, affected):
    advisory = parse_osv(record(pypi(ranges=[eco(*events)])))
    assert affects(advisory, "demo", version) is affected


@pytest.mark.parametrize(
    ("events", "version", "affected"),
    [
        ((("introduced", "1.0.0-beta.1"), ("fixed", "1.0.0")), "1.0.0b2", True),
        ((("introduced", "1.0.0-beta.1"), ("fixed", "1.0.0")), "1.0.0a9", False),
        ((("introduced", "0"), ("fixed", "2.1.0+build.7")), "2.0.9", True),  # build metadata has no precedence
        ((("introduced", "0"), ("fixed", "2.1.0+build.7")), "2.1.0", False),
    ],
)
def test_semver_ranges_are_evaluated_in_pep440_order(events, version, affected):
    advisory = parse_osv(record(pypi(ranges=[eco(*events, kind="SEMVER")])))
    assert affects(advisory, "demo", version) is affected


def test_any_of_several_ranges_and_entries_matches():
    advisory = parse_osv(record(
        pypi(ranges=[eco(("introduced", "1.0"), ("fixed", "1.1")), eco(("introduced", "2.0"), ("fixed", "2.1"))]),
        pypi(name="Demo", versions=["5.0"]),
    ))
    assert [affects(advisory, "demo", v) for v in ("1.0", "1.5", "2.0", "3.0", "5.0")] == [
        True, False, True, False, True]


def test_match_says_why():
    advisory = parse_osv(record(pypi(ranges=[eco(*FROM_10_FIXED_15)], versions=["0.1"])))
    found = match(advisory, "Demo", "1.2")
    assert found is not None
    assert (found.advisory_id, found.project, found.version) == ("GHSA-test-0001", "demo", "1.2")
    assert found.reason == "in ECOSYSTEM range introduced 1.0, fixed 1.5"
    listed = match(advisory, "demo", "0.1")
    assert listed is not None and listed.reason == "listed among the affected versions"
    assert match(advisory, "demo", "1.5") is None


# -- explicit versions, unevaluable ranges, unparseable versions ----------------------------------------

@pytest.mark.parametrize(
    ("listed", "version", "affected"),
    [
        (["1.0"], "1.0", True),
        (["1.0"], "1.0.0", True),  # PEP 440 equality
        (["1.0.0"], "1.0", True),
        (["1.0"], "1.0+local", True),  # a local build of a listed release
        (["1.0"], "1.0.post1", False),
        (["1.0"], "1.0rc1", False),
        (["1.0+abc"], "1.0+abc", True),
        (["1.0+abc"], "1.0", False),
        (["0.12.01"], "0.12.1", True),  # PEP 440 normalises the leading zero
        (["weird-1.x"], "weird-1.x", True),  # not PEP 440: verbatim only
        (["weird-1.x"], "weird-1.X", False),
    ],
)
def test_explicit_versions(listed, version, affected):
    advisory = parse_osv(record(pypi(versions=listed)))
    assert affects(advisory, "demo", version) is affected


def test_git_ranges_are_ignored_but_their_entry_versions_count():
    advisory = parse_osv(record(pypi(
        ranges=[{"type": "GIT", "repo": "https://example.org/demo.git",
                 "events": [{"introduced": "0"}, {"fixed": "a" * 40}]}],
        versions=["1.2"],
    )))
    assert advisory.affected[0].ranges[0].problem == "GIT ranges name commits, not release versions"
    assert affects(advisory, "demo", "1.2")
    assert not affects(advisory, "demo", "1.3")


@pytest.mark.parametrize(
    ("range_", "problem"),
    [
        (eco(("introduced", "0"), ("fixed", "not-a-version!")), "fixed 'not-a-version!' is not a PEP 440 version"),
        (eco(("introduced", "banana"),), "introduced 'banana' is not a PEP 440 version"),
        (eco(("introduced", "0"), ("limit", "x.y")), "limit 'x.y' is not a PEP 440 version"),
        (eco(("introduced", "0"), kind="SEMVER_NEXT"), "range type 'SEMVER_NEXT' is not known"),
    ],
)
def test_unevaluable_ranges_never_match_and_say_why(range_, problem):
    advisory = parse_osv(record(pypi(ranges=[range_], versions=["0.5"])))
    assert advisory.affected[0].ranges[0].problem == problem
    assert not affects(advisory, "demo", "0.4")
    assert affects(advisory, "demo", "0.5")


def test_withdrawn_advisories_never_match():
    advisory = parse_osv(record(pypi(ranges=[eco(("introduced", "0"))], versions=["1.0"]),
                                withdrawn="2024-02-01T00:00:00Z"))
    assert advisory.withdrawn == datetime(2024, 2, 1, tzinfo=UTC)
    assert not affects(advisory, "demo", "1.0")
    assert lowest_fixed_above(advisory, "demo", "1.0") is None


# -- names and ecosystems --------------------------------------------------------------------------------

@pytest.mark.parametrize("asked", ["foo-bar", "Foo_Bar", "FOO.bar", "foo__bar"])
def test_project_names_are_compared_normalized(asked):
    advisory = parse_osv(record(pypi(name="Foo_Bar", versions=["1.0"])))
    assert advisory.affected[0].name == "foo-bar"
    assert affects(advisory, asked, "1.0")


def test_only_pypi_entries_are_kept():
    advisory = parse_osv(record(
        {"package": {"ecosystem": "npm", "name": "demo"}, "versions": ["1.0"]},
        {"package": {"ecosystem": "pypi", "name": "demo"}, "versions": ["1.0"]},  # the ecosystem name is exact
        {"ranges": [{"type": "GIT", "repo": "https://example.org/x.git", "events": [{"introduced": "0"}]}]},
        pypi(name="other", versions=["2.0"]),
    ))
    assert [a.name for a in advisory.affected] == ["other"]
    assert not affects(advisory, "demo", "1.0")
    assert parse_osv(record({"package": {"ecosystem": "Go", "name": "x"}})).affected == ()


# -- malware ---------------------------------------------------------------------------------------------

def test_malware_is_recognised_by_id_or_alias():
    assert is_malware(parse_osv(record(pypi(versions=["1"]), id="MAL-2024-1")))
    assert is_malware(parse_osv(record(pypi(versions=["1"]), aliases=["MAL-2024-2"])))
    assert not is_malware(parse_osv(record(pypi(versions=["1"]), aliases=["CVE-2024-1"])))
    assert not is_malware(parse_osv(record(pypi(versions=["1"]), id="PYSEC-2024-MAL-1")))


# -- fixed versions and explain --------------------------------------------------------------------------

def test_fixed_versions_are_sorted_and_deduplicated():
    advisory = parse_osv(record(
        pypi(ranges=[eco(("introduced", "3.0"), ("fixed", "3.2.5")), eco(("introduced", "1.0"), ("fixed", "1.0.2")),
                     {"type": "GIT", "repo": "https://example.org/x.git",
                      "events": [{"introduced": "0"}, {"fixed": "b" * 40}]}]),
        pypi(ranges=[eco(("introduced", "0"), ("fixed", "1.0.2.0"))]),
        pypi(name="other", ranges=[eco(("introduced", "0"), ("fixed", "9.0"))]),
    ))
    assert fixed_versions(advisory, "demo") == ("1.0.2", "3.2.5")
    assert fixed_versions(advisory, "nothing") == ()


@pytest.mark.parametrize(
    ("version", "fix"),
    [
        ("0.5", "1.0.2"),
        ("1.0.1", "1.0.2"),
        ("2.0", "3.2.5"),  # not affected itself, but the next fix above it is still named
        ("3.1", "3.2.5"),
        ("3.2.5", None),
        ("not a version", None),
    ],
)
def test_lowest_fixed_version_above(version, fix):
    advisory = parse_osv(record(pypi(ranges=[eco(*TWO_WINDOWS)])))
    assert lowest_fixed_above(advisory, "demo", version) == fix


def test_lowest_fixed_above_skips_a_fix_that_another_range_reopens():
    advisory = parse_osv(record(pypi(ranges=[
        eco(("introduced", "0"), ("fixed", "1.5")),
        eco(("introduced", "1.5"), ("fixed", "1.6")),  # 1.5 brought it back
    ])))
    assert lowest_fixed_above(advisory, "demo", "1.2") == "1.6"


# -- real records ----------------------------------------------------------------------------------------

def test_real_pysec_record():
    advisory = parse_osv(real("PYSEC-2023-74.json"))
    assert advisory.source is AdvisorySource.OSV
    assert advisory.id == "PYSEC-2023-74"
    assert advisory.aliases == ("CVE-2023-32681", "GHSA-j8r2-6x86-q33q")
    assert advisory.modified == datetime(2023, 6, 5, 1, 13, 0, 534973, tzinfo=UTC)
    assert advisory.summary.startswith("Requests is a HTTP library.")
    git, ecosystem = advisory.affected[0].ranges
    assert git.problem is not None and ecosystem.problem is None
    assert [affects(advisory, "requests", v) for v in ("2.2.1", "2.3.0", "2.30.0", "2.31.0", "2.32.3")] == [
        False, True, True, False, False]
    assert fixed_versions(advisory, "requests") == ("2.31.0",)  # the GIT commit is no version
    assert lowest_fixed_above(advisory, "requests", "2.28.1") == "2.31.0"
    assert all(url.startswith("https://example.org/") for url in advisory.references)
    assert not is_malware(advisory)


def test_real_ghsa_record():
    advisory = parse_osv(real("GHSA-j8r2-6x86-q33q.json"))
    assert advisory.summary == "Unintended leak of Proxy-Authorization header in requests"
    assert affects(advisory, "Requests", "2.30.0") and not affects(advisory, "requests", "2.31.0")
    assert advisory.database_specific is not None
    assert advisory.database_specific["cwe_ids"] == ("CWE-200",)
    with pytest.raises(TypeError):
        advisory.database_specific["severity"] = "LOW"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        advisory.id = "GHSA-other"  # type: ignore[misc]


def test_real_malware_record():
    advisory = parse_osv(real("MAL-2024-4720.json"))
    assert is_malware(advisory)
    assert advisory.summary == "Malicious code in 1337test (PyPI)"
    assert affects(advisory, "1337test", "1") and affects(advisory, "1337test", "1.0")
    assert not affects(advisory, "1337test", "2")
    assert fixed_versions(advisory, "1337test") == ()


# -- malformed records -----------------------------------------------------------------------------------

BASE = record(pypi(ranges=[eco(("introduced", "0"), ("fixed", "1.0"))], versions=["0.5"]),
              aliases=["CVE-2024-1"], references=[{"type": "WEB", "url": "https://example.org/a"}])


def _set(path: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "advisory_id", "field"),
    [
        (_set("id", _DELETE), None, "id"),
        (_set("id", "no spaces allowed"), None, "id"),
        (_set("id", 7), None, "id"),
        (_set("modified", _DELETE), "GHSA-test-0001", "modified"),
        (_set("modified", "yesterday"), "GHSA-test-0001", "modified"),
        (_set("withdrawn", 20240101), "GHSA-test-0001", "withdrawn"),
        (_set("aliases", "CVE-2024-1"), "GHSA-test-0001", "aliases"),
        (_set("aliases.0", "CVE 2024 1"), "GHSA-test-0001", "aliases[0]"),
        (_set("summary", ["a"]), "GHSA-test-0001", "summary"),
        (_set("affected", {"package": {}}), "GHSA-test-0001", "affected"),
        (_set("affected.0", "demo"), "GHSA-test-0001", "affected[0]"),
        (_set("affected.0.package", "demo"), "GHSA-test-0001", "affected[0].package"),
        (_set("affected.0.package.name", "-demo-"), "GHSA-test-0001", "affected[0].package.name"),
        (_set("affected.0.package.name", None), "GHSA-test-0001", "affected[0].package.name"),
        (_set("affected.0.versions", "0.5"), "GHSA-test-0001", "affected[0].versions"),
        (_set("affected.0.versions.0", 5), "GHSA-test-0001", "affected[0].versions[0]"),
        (_set("affected.0.versions.0", ""), "GHSA-test-0001", "affected[0].versions[0]"),
        (_set("affected.0.ranges.0.type", _DELETE), "GHSA-test-0001", "affected[0].ranges[0].type"),
        (_set("affected.0.ranges.0.events", []), "GHSA-test-0001", "affected[0].ranges[0].events"),
        (_set("affected.0.ranges.0.events", None), "GHSA-test-0001", "affected[0].ranges[0].events"),
        (_set("affected.0.ranges.0.events.0", {"introduced": "0", "fixed": "1.0"}), "GHSA-test-0001",
         "affected[0].ranges[0].events[0]"),
        (_set("affected.0.ranges.0.events.0", {"broken": "0"}), "GHSA-test-0001",
         "affected[0].ranges[0].events[0]"),
        (_set("affected.0.ranges.0.events.1", {"fixed": 1.0}), "GHSA-test-0001",
         "affected[0].ranges[0].events[1].fixed"),
        (_set("affected.0.ranges.0.events.0", {"last_affected": "0.1"}), "GHSA-test-0001",
         "affected[0].ranges[0].events"),  # no "introduced" left
        (_set("affected.0.ranges.0.type", "GIT"), "GHSA-test-0001", "affected[0].ranges[0].repo"),
        (_set("references.0", "https://example.org/a"), "GHSA-test-0001", "references[0]"),
        (_set("references.0.url", None), "GHSA-test-0001", "references[0].url"),
        (_set("database_specific", ["x"]), "GHSA-test-0001", "database_specific"),
    ],
)
def test_malformed_records_name_the_advisory_and_field(change, advisory_id, field):
    doc = copy.deepcopy(BASE)
    change(doc)
    with pytest.raises(AdvisoryError) as caught:
        parse_osv(doc)
    assert (caught.value.advisory_id, caught.value.field) == (advisory_id, field)
    assert field in str(caught.value)


@pytest.mark.parametrize("not_an_object", [[], "text", 7, None])
def test_a_record_must_be_an_object(not_an_object):
    with pytest.raises(AdvisoryError) as caught:
        parse_osv(not_an_object)
    assert caught.value.field == "record"


def test_bounds_are_enforced():
    too_many = record(pypi(versions=[f"1.{i}" for i in range(50_001)]))
    with pytest.raises(AdvisoryError, match=r"affected\[0\].versions: has 50001 items"):
        parse_osv(too_many)
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"x": deep}
    with pytest.raises(AdvisoryError, match="database_specific: is nested deeper"):
        parse_osv(record(database_specific=deep))
    with pytest.raises(AdvisoryError, match="versions\\[0\\]: is longer than 256"):
        parse_osv(record(pypi(versions=["1" * 300])))


def test_summary_falls_back_to_details_and_is_bounded():
    assert parse_osv(record(details="\n\n  First line.  \nSecond.")).summary == "First line."
    long = parse_osv(record(summary="x" * 900)).summary
    assert len(long) == 500 and long.endswith("…")
    assert parse_osv(record()).summary == ""


def test_only_web_references_are_kept():
    advisory = parse_osv(record(references=[
        {"type": "WEB", "url": "javascript:alert(1)"},
        {"type": "WEB", "url": "https://example.org/ok"},
        {"type": "WEB", "url": "ftp://example.org/file"},
    ]))
    assert advisory.references == ("https://example.org/ok",)


def test_timestamps_without_offset_are_utc_and_long_fractions_accepted():
    advisory = parse_osv(record(modified="2024-06-28T02:48:10.844486592Z", published="2024-06-28"))
    assert advisory.modified == datetime(2024, 6, 28, 2, 48, 10, 844486, tzinfo=UTC)
    assert advisory.published == datetime(2024, 6, 28, tzinfo=UTC)


# -- the JSON API's vulnerabilities ----------------------------------------------------------------------

def json_api(*entries: dict[str, Any], name: str = "Demo_Pkg", version: str = "4.0.3") -> dict[str, Any]:
    return {"info": {"name": name, "version": version}, "vulnerabilities": list(entries), "urls": []}


ENTRY = {
    "id": "PYSEC-2022-1", "aliases": ["CVE-2022-1", "GHSA-aaaa-bbbb-cccc"], "details": "Bad thing.\nMore.",
    "summary": None, "fixed_in": ["3.2.13", "4.0.4"], "link": "https://example.org/vuln/PYSEC-2022-1",
    "source": "osv", "withdrawn": None,
}


def test_a_json_api_entry_names_only_the_documents_release():
    (advisory,) = from_json_api(json_api(ENTRY))
    assert advisory.source is AdvisorySource.JSON_API
    assert (advisory.id, advisory.aliases, advisory.summary) == (
        "PYSEC-2022-1", ("CVE-2022-1", "GHSA-aaaa-bbbb-cccc"), "Bad thing.")
    assert advisory.modified is None and advisory.withdrawn is None
    assert advisory.references == ("https://example.org/vuln/PYSEC-2022-1",)
    assert affects(advisory, "demo-pkg", "4.0.3")
    # nothing is inferred for other releases, on either side of the fixes
    assert [affects(advisory, "demo-pkg", v) for v in ("4.0.2", "3.2.12", "3.2.14", "4.0.4")] == [False] * 4
    assert fixed_versions(advisory, "demo-pkg") == ("3.2.13", "4.0.4")
    assert lowest_fixed_above(advisory, "demo-pkg", "4.0.3") == "4.0.4"
    assert not is_malware(advisory)


def test_json_api_withdrawn_and_empty_lists():
    (advisory,) = from_json_api(json_api({**ENTRY, "withdrawn": "2023-01-01T00:00:00Z"}))
    assert not affects(advisory, "demo-pkg", "4.0.3")
    assert from_json_api(json_api()) == ()
    assert from_json_api({"info": {"name": "x", "version": "1"}, "vulnerabilities": None}) == ()
    assert from_json_api({"info": {"name": "x", "version": "1"}}) == ()
    (minimal,) = from_json_api(json_api({"id": "GHSA-xxxx-yyyy-zzzz"}))
    assert minimal.affected[0].fixed_in == () and minimal.summary == "" and minimal.references == ()
    # a summary, when the entry has one, is preferred to the first line of the details
    (summarized,) = from_json_api(json_api({**ENTRY, "summary": "Short."}))
    assert summarized.summary == "Short."


@pytest.mark.parametrize(
    ("document", "advisory_id", "field"),
    [
        ({"vulnerabilities": []}, None, "info"),
        (["not", "an", "object"], None, "document"),
        ({"info": {"version": "1.0"}}, None, "info.name"),
        ({"info": {"name": "demo"}}, None, "info.version"),
        ({"info": {"name": "demo", "version": ""}}, None, "info.version"),
        (json_api(ENTRY) | {"vulnerabilities": {"id": "x"}}, None, "vulnerabilities"),
        (json_api("PYSEC-1"), None, "vulnerabilities[0]"),  # type: ignore[arg-type]
        (json_api({**ENTRY, "id": None}), None, "vulnerabilities[0].id"),
        (json_api(ENTRY, {**ENTRY, "id": "PYSEC-2", "fixed_in": "4.0.4"}), "PYSEC-2", "vulnerabilities[1].fixed_in"),
        (json_api({**ENTRY, "fixed_in": [4]}), "PYSEC-2022-1", "vulnerabilities[0].fixed_in[0]"),
        (json_api({**ENTRY, "aliases": [None]}), "PYSEC-2022-1", "vulnerabilities[0].aliases[0]"),
        (json_api({**ENTRY, "withdrawn": "soon"}), "PYSEC-2022-1", "vulnerabilities[0].withdrawn"),
        (json_api({**ENTRY, "details": 5}), "PYSEC-2022-1", "vulnerabilities[0].details"),
        (json_api({**ENTRY, "link": 5}), "PYSEC-2022-1", "vulnerabilities[0].link"),
    ],
)
def test_malformed_json_api_documents(document, advisory_id, field):
    with pytest.raises(AdvisoryError) as caught:
        from_json_api(document)
    assert (caught.value.advisory_id, caught.value.field) == (advisory_id, field)


# -- the stored record -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PYSEC-2023-74.json", "GHSA-j8r2-6x86-q33q.json", "MAL-2024-4720.json"])
def test_a_stored_record_rebuilds_the_advisory_exactly(name: str) -> None:
    advisory = parse_osv(real(name))
    stored = json.loads(json.dumps(to_record(advisory)))  # plain JSON values, as the database keeps them
    assert from_record(stored) == advisory


def test_the_stored_record_keeps_times_ranges_versions_and_fixes() -> None:
    advisory = parse_osv(record(
        pypi("Demo_Pkg", ranges=[eco(("introduced", "0"), ("fixed", "1.5")), eco(("introduced", "2.0"),
             ("last_affected", "2.3"), ("limit", "3.0"), kind="SEMVER")], versions=["2.0", "not-pep440"]),
        aliases=["CVE-2024-1"], summary="a summary", published="2024-01-01T00:00:00Z",
        withdrawn="2024-02-01T00:00:00.5Z", references=[{"type": "WEB", "url": "https://advisories.example/1"}]))
    stored = to_record(advisory)
    assert stored == {
        "source": "osv", "id": "GHSA-test-0001", "aliases": ["CVE-2024-1"], "summary": "a summary",
        "modified": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp(),
        "published": datetime(2024, 1, 1, tzinfo=UTC).timestamp(),
        "withdrawn": datetime(2024, 2, 1, 0, 0, 0, 500000, tzinfo=UTC).timestamp(),
        "references": ["https://advisories.example/1"],
        "affected": [{"name": "demo-pkg", "versions": ["2.0", "not-pep440"], "fixed_in": [], "ranges": [
            {"type": "ECOSYSTEM", "repo": None, "events": [["introduced", "0"], ["fixed", "1.5"]]},
            {"type": "SEMVER", "repo": None, "events": [["introduced", "2.0"], ["last_affected", "2.3"],
                                                         ["limit", "3.0"]]}]}]}
    again = from_record(stored)
    assert again == advisory and again.withdrawn == datetime(2024, 2, 1, 0, 0, 0, 500000, tzinfo=UTC)
    live = dataclasses.replace(advisory, withdrawn=None)
    for version in ("0.9", "1.5", "2.0", "2.3", "2.4", "not-pep440"):
        assert affects(from_record(to_record(live)), "demo-pkg", version) == affects(live, "demo-pkg", version)
    api = from_json_api({"info": {"name": "demo", "version": "2.0"},
                         "vulnerabilities": [{"id": "PYSEC-1", "fixed_in": ["2.1"], "summary": "boom"}]})[0]
    assert from_record(to_record(api)) == api and from_record(to_record(api)).source is AdvisorySource.JSON_API


def test_a_record_with_only_the_required_keys() -> None:
    advisory = from_record({"source": "osv", "id": "PYSEC-1"})
    assert (advisory.id, advisory.modified, advisory.published, advisory.withdrawn) == ("PYSEC-1", None, None, None)
    assert (advisory.aliases, advisory.summary, advisory.references, advisory.affected) == ((), "", (), ())
    entry = from_record({"source": "osv", "id": "PYSEC-2", "summary": None,
                         "affected": [{"name": "Demo"}]}).affected[0]
    assert (entry.name, entry.versions, entry.fixed_in, entry.ranges) == ("demo", (), (), ())


@pytest.mark.parametrize("stored", [
    {"id": "PYSEC-1"},
    {"source": "somewhere", "id": "PYSEC-1"},
    {"source": "osv", "id": "PYSEC-1", "modified": "yesterday"},
    {"source": "osv", "id": "PYSEC-1", "affected": [{"versions": ["1.0"]}]},
    {"source": "osv", "id": "PYSEC-1", "affected": [{"name": "demo", "ranges": [{"type": "ECOSYSTEM",
                                                                                 "events": [["bogus", "1"]]}]}]},
    {"source": "osv", "id": "PYSEC-1", "published": [1]},
])
def test_a_broken_stored_record_names_the_advisory(stored: dict[str, Any]) -> None:
    with pytest.raises(AdvisoryError, match="is not a stored advisory") as caught:
        from_record(stored)
    assert "PYSEC-1" in str(caught.value)


# -- a report about every release (the project is then quarantined) -----------------------------------------


@pytest.mark.parametrize(("ranges", "withdrawn", "every"), [
    ([eco(("introduced", "0"))], False, True),
    ([eco(("introduced", "0"), ("limit", "*"))], False, True),         # "*": no limit
    ([eco(("introduced", "0"))], True, False),                          # withdrawn: nothing
    ([eco(("introduced", "0"), ("limit", "2.0"))], False, False),       # limited
    ([eco(("introduced", "0"), ("fixed", "2.0"))], False, False),       # fixed
    ([eco(("introduced", "0"), ("last_affected", "2.0"))], False, False),
    ([eco(("introduced", "1.0"))], False, False),                       # not from the start
    ([{"type": "GIT", "repo": "https://git.example/x", "events": [{"introduced": "0"}]}], False, False),
    ([eco(("introduced", "1.0")), eco(("introduced", "0"))], False, True),  # any one range suffices
])
def test_affects_every_version(ranges, withdrawn, every):
    top = {"withdrawn": "2024-02-01T00:00:00Z"} if withdrawn else {}
    advisory = parse_osv(record(pypi(ranges=ranges), id="MAL-2024-1", **top))
    assert affects_every_version(advisory, "Demo") is every
    assert affects_every_version(advisory, "other") is False


def test_the_lowest_fixed_version_is_strictly_above_the_release():
    from mirror.core.advisories.match import ProjectMatcher

    advisory = parse_osv(record(pypi(ranges=[eco(("introduced", "1.0"), ("fixed", "1.5"))])))
    matcher = ProjectMatcher([advisory], "demo")
    assert matcher.lowest_fixed_above(advisory, "1.2") == "1.5"
    assert matcher.lowest_fixed_above(advisory, "1.5") is None
    assert matcher.lowest_fixed_above(advisory, "not a version") is None
    assert lowest_fixed_above(advisory, "demo", "1.5") is None


def test_a_broken_stored_record_says_what_broke():
    with pytest.raises(AdvisoryError) as caught:
        from_record({"id": "PYSEC-1"})
    error = caught.value
    assert (error.advisory_id, error.field, error.problem) == ("PYSEC-1", "record",
                                                               "is not a stored advisory (KeyError: 'source')")
    assert str(error) == "advisory PYSEC-1: record: is not a stored advisory (KeyError: 'source')"
    with pytest.raises(AdvisoryError) as caught:
        from_record(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert caught.value.advisory_id is None and caught.value.field == "record"
    assert str(caught.value).startswith("advisory (no id): record: is not a stored advisory (TypeError: ")


# -- the field readers' exact limits and words --------------------------------------------------------------


def test_frozen_makes_json_immutable_and_bounds_its_depth():
    from types import MappingProxyType

    from mirror.core.advisories import fields

    value = fields.frozen({"a": [1, {"b": None}], 2: (True, 1.5, "s")}, "PYSEC-1", "database_specific")
    assert value == MappingProxyType({"a": (1, MappingProxyType({"b": None})), "2": (True, 1.5, "s")})
    assert isinstance(value, MappingProxyType) and isinstance(value["a"][1], MappingProxyType)
    deepest: object = "x"
    for _ in range(32):
        deepest = [deepest]
    assert fields.frozen(deepest, "PYSEC-1", "d") is not None
    with pytest.raises(AdvisoryError) as caught:
        fields.frozen([deepest], "PYSEC-1", "d")
    assert (caught.value.advisory_id, caught.value.field, caught.value.problem) == (
        "PYSEC-1", "d", "is nested deeper than 32 levels")
    with pytest.raises(AdvisoryError) as caught:
        fields.frozen({"k": {1, 2}}, "PYSEC-1", "d")
    assert (caught.value.advisory_id, caught.value.field, caught.value.problem) == (
        "PYSEC-1", "d", "holds a set, not a JSON value")


@pytest.mark.parametrize(("summary_value", "details", "expected"), [
    ("  Short.  \nmore", "details", "Short."),
    ("\n \n", "First line.\nsecond", "First line."),
    (None, None, ""),
    ("x" * 500, None, "x" * 500),
    ("x" * 501, None, "x" * 499 + "…"),
])
def test_summary_is_one_line_of_at_most_500_characters(summary_value, details, expected):
    from mirror.core.advisories import fields

    assert fields.summary(summary_value, details, "PYSEC-1", "x.") == expected


def test_a_summary_that_is_not_a_string_names_its_field():
    from mirror.core.advisories import fields

    with pytest.raises(AdvisoryError) as caught:
        fields.summary(5, None, "PYSEC-1", "vulnerabilities[0].")
    assert (caught.value.field, caught.value.problem) == ("vulnerabilities[0].summary", "is not a string")


@pytest.mark.parametrize(("url", "kept"), [
    ("https://advisories.example/1", True),
    ("http://advisories.example/1", True),
    ("ftp://advisories.example/1", False),
    ("https:///no-host", False),
    ("javascript:alert(1)", False),
    ("http://[::1", False),  # not a URL at all
])
def test_only_web_urls_with_a_host_are_kept(url, kept):
    from mirror.core.advisories import fields

    assert fields.web_url(url, "PYSEC-1", "link") == (url if kept else None)


@pytest.mark.parametrize(("value", "shown"), [
    ("bad id!", "'bad id!'"),
    ("!" * 78, "'" + "!" * 78 + "'"),
    ("!" * 79, "'" + "!" * 76 + "..."),
])
def test_a_bad_value_is_shown_in_at_most_80_characters(value, shown):
    from mirror.core.advisories import fields

    with pytest.raises(AdvisoryError) as caught:
        fields.advisory_id(value, None, "id")
    assert caught.value.problem == f"{shown} is not an advisory id"
