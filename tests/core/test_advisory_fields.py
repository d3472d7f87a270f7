"""The advisory field readers and range model, rule by rule: what each accepts, and for what it refuses, the
exact message (advisory id, field path, problem) a reviewer reads in the import log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from packaging.version import Version

from mirror.core.advisories import fields
from mirror.core.advisories.model import (
    MAX_VERSION_LENGTH,
    AdvisoryError,
    Event,
    EventKind,
    make_affected,
    make_range,
    parse_version,
)
from mirror.core.advisories.osv import parse_osv


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AdvisoryError) as err:
        call(*args, **kwargs)
    return str(err.value)


@pytest.mark.parametrize(("call", "args", "kwargs", "message"), [
    (fields.advisory_id, (5, None, "id"), {}, "advisory (no id): id: 5 is not an advisory id"),
    (fields.advisory_id, ("", "X-1", "aliases[2]"), {}, "advisory X-1: aliases[2]: '' is not an advisory id"),
    (fields.advisory_id, ("-x", None, "id"), {}, "advisory (no id): id: '-x' is not an advisory id"),
    (fields.advisory_id, ("a" * 129, None, "id"), {}, f"advisory (no id): id: {'a' * 129!r}"[:57]),
    (fields.array, ("x", "A-1", "affected", 3), {}, "advisory A-1: affected: is not a list"),
    (fields.array, (None, "A-1", "events", 3), {"required": True}, "advisory A-1: events: is missing"),
    (fields.array, ([1, 2, 3, 4], "A-1", "versions", 3), {}, "advisory A-1: versions: has 4 items, more than 3"),
    (fields.obj, (None, "A-1", "affected[0]"), {}, "advisory A-1: affected[0]: is missing"),
    (fields.obj, ([], "A-1", "affected[0]"), {}, "advisory A-1: affected[0]: is not an object"),
    (fields.text, (None, "A-1", "type"), {"required": True}, "advisory A-1: type: is missing"),
    (fields.text, ("", "A-1", "type"), {}, "advisory A-1: type: is not a non-empty string"),
    (fields.text, (5, "A-1", "type"), {}, "advisory A-1: type: is not a non-empty string"),
    (fields.text, ("x" * 257, "A-1", "type"), {}, "advisory A-1: type: is longer than 256 characters"),
    (fields.text, ("x" * 11, "A-1", "type"), {"limit": 10}, "advisory A-1: type: is longer than 10 characters"),
    (fields.texts, (["1.0", ""], "A-1", "versions", 5), {}, "advisory A-1: versions[1]: is not a non-empty string"),
    (fields.texts, ([None], "A-1", "versions", 5), {}, "advisory A-1: versions[0]: is missing"),
    (fields.ids, (["GHSA-1", 7], "A-1", "aliases", 5), {}, "advisory A-1: aliases[1]: 7 is not an advisory id"),
    (fields.ids, (["a", "b", "c"], "A-1", "aliases", 2), {}, "advisory A-1: aliases: has 3 items, more than 2"),
    (fields.project_name, (5, "A-1", "name"), {}, "advisory A-1: name: 5 is not a project name"),
    (fields.project_name, ("-bad-", "A-1", "name"), {}, "advisory A-1: name: '-bad-' is not a project name"),
    (fields.project_name, ("a" * 257, "A-1", "name"), {}, "advisory A-1: name: 'aaaa"),
    (fields.timestamp, ("yesterday", "A-1", "modified"), {},
     "advisory A-1: modified: 'yesterday' is not an RFC 3339 timestamp"),
    (fields.timestamp, (None, "A-1", "modified"), {"required": True}, "advisory A-1: modified: is missing"),
    (fields.timestamp, ("2" * 65, "A-1", "modified"), {}, "advisory A-1: modified: is longer than 64 characters"),
    (fields.summary, (5, None, "A-1", ""), {}, "advisory A-1: summary: is not a string"),
    (fields.summary, (None, ["x"], "A-1", "x."), {}, "advisory A-1: x.details: is not a string"),
    (fields.web_url, (None, "A-1", "references[0].url"), {}, "advisory A-1: references[0].url: is missing"),
    (fields.web_url, ("x" * 2049, "A-1", "url"), {}, "advisory A-1: url: is longer than 2048 characters"),
    (fields.frozen, (object(), "A-1", "database_specific"), {},
     "advisory A-1: database_specific: holds a object, not a JSON value"),
])
def test_a_bad_field_is_named_with_its_advisory_and_path(call, args, kwargs, message):
    assert refused(call, *args, **kwargs).startswith(message)


def test_an_error_carries_its_parts():
    with pytest.raises(AdvisoryError) as err:
        fields.text(5, "A-1", "summary")
    assert (err.value.advisory_id, err.value.field, err.value.problem) == ("A-1", "summary",
                                                                           "is not a non-empty string")


@pytest.mark.parametrize(("call", "args", "kwargs", "value"), [
    (fields.advisory_id, ("PYSEC-2023-74", None, "id"), {}, "PYSEC-2023-74"),
    (fields.advisory_id, ("a" * 128, None, "id"), {}, "a" * 128),
    (fields.advisory_id, ("CVE-2024-1:x+y.z", None, "id"), {}, "CVE-2024-1:x+y.z"),
    (fields.array, (None, "A-1", "affected", 3), {}, ()),
    (fields.array, ([1, 2, 3], "A-1", "affected", 3), {}, [1, 2, 3]),
    (fields.array, ([], "A-1", "affected", 3), {"required": True}, []),
    (fields.obj, ({}, "A-1", "x"), {}, {}),
    (fields.text, (None, "A-1", "repo"), {}, None),
    (fields.text, ("x" * 256, "A-1", "repo"), {}, "x" * 256),
    (fields.texts, (None, "A-1", "versions", 5), {}, ()),
    (fields.texts, (["1.0", "2.0"], "A-1", "versions", 5), {}, ("1.0", "2.0")),
    (fields.ids, (["B-1", "A-1", "B-1"], "A-1", "aliases", 5), {}, ("B-1", "A-1")),
    (fields.ids, (None, "A-1", "aliases", 5), {}, ()),
    (fields.project_name, ("Foo_Bar.baz", "A-1", "name"), {}, "foo-bar-baz"),
    (fields.project_name, ("a" * 256, "A-1", "name"), {}, "a" * 256),
    (fields.timestamp, (None, "A-1", "published"), {}, None),
    (fields.timestamp, ("2024-01-02T03:04:05Z", "A-1", "modified"), {}, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (fields.timestamp, ("2024-01-02T03:04:05", "A-1", "modified"), {}, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (fields.timestamp, ("2024-01-02T03:04:05+02:00", "A-1", "modified"), {},
     datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
    (fields.web_url, ("https://x.example/a", "A-1", "url"), {}, "https://x.example/a"),
    (fields.web_url, ("http://x.example", "A-1", "url"), {}, "http://x.example"),
    (fields.web_url, ("ftp://x.example/a", "A-1", "url"), {}, None),
    (fields.web_url, ("https:///a", "A-1", "url"), {}, None),
    (fields.web_url, ("http://[x", "A-1", "url"), {}, None),
    (fields.web_url, ("x.example/a", "A-1", "url"), {}, None),
])
def test_a_good_field_is_read(call, args, kwargs, value):
    assert call(*args, **kwargs) == value


def test_an_offset_is_kept_and_a_missing_one_is_utc():
    stamp = fields.timestamp("2024-01-02T03:04:05+02:00", "A-1", "modified")
    assert stamp is not None and stamp.utcoffset() == timedelta(hours=2)
    naive = fields.timestamp("2024-01-02T03:04:05", "A-1", "modified")
    assert naive is not None and naive.tzinfo is UTC


@pytest.mark.parametrize(("summary", "details", "expected"), [
    ("  One line  \nmore", "details", "One line"),
    (None, "\n \n  From the details \nmore", "From the details"),
    ("", "details", "details"),
    (" \n ", "details", "details"),
    (None, None, ""),
    ("", "", ""),
    ("x" * 500, None, "x" * 500),
    ("x" * 501, None, "x" * 499 + "…"),
])
def test_the_summary_is_the_first_non_blank_line(summary, details, expected):
    assert fields.summary(summary, details, "A-1", "") == expected


def nest(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_frozen_json_values():
    frozen = fields.frozen({"a": [1, {"b": None}], 2: True, "f": 1.5, "s": "x"}, "A-1", "database_specific")
    assert isinstance(frozen, MappingProxyType) and frozen["a"] == (1, MappingProxyType({"b": None}))
    assert frozen["2"] is True and frozen["f"] == 1.5 and frozen["s"] == "x"
    assert isinstance(frozen["a"][1], MappingProxyType)
    assert fields.frozen(nest(fields.MAX_DEPTH), "A-1", "d") is not None
    assert refused(fields.frozen, nest(fields.MAX_DEPTH + 1), "A-1", "d") == (
        "advisory A-1: d: is nested deeper than 32 levels")
    assert refused(fields.frozen, {"k": {1, 2}}, "A-1", "d") == "advisory A-1: d: holds a set, not a JSON value"


@pytest.mark.parametrize(("value", "shown"), [
    ("a " + "b" * 76, repr("a " + "b" * 76)),                 # 80 characters shown whole
    ("a " + "b" * 77, repr("a " + "b" * 77)[:77] + "..."),    # 81: cut to 80 with the ellipsis
])
def test_a_bad_id_is_shown_in_80_characters(value, shown):
    assert refused(fields.advisory_id, value, None, "id") == f"advisory (no id): id: {shown} is not an advisory id"


# --- the range model -------------------------------------------------------------------------------------

EVENTS = (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, "abc"))


@pytest.mark.parametrize(("range_type", "events", "problem"), [
    ("GIT", (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, "1.0")),
     "GIT ranges name commits, not release versions"),
    ("SOMETHING", (Event(EventKind.INTRODUCED, "0"),), "range type 'SOMETHING' is not known"),
    ("ECOSYSTEM", EVENTS, "fixed 'abc' is not a PEP 440 version"),
    ("SEMVER", (Event(EventKind.INTRODUCED, "x"),), "introduced 'x' is not a PEP 440 version"),
    ("ECOSYSTEM", (Event(EventKind.INTRODUCED, "0"), Event(EventKind.LIMIT, "1" * 129)),
     f"limit '{'1' * 129}' is not a PEP 440 version"),
])
def test_a_range_that_cannot_be_evaluated_keeps_what_the_record_says(range_type, events, problem):
    made = make_range(range_type, events, "https://repo.example/x")
    assert (made.type, made.events, made.repo, made.problem) == (range_type, events, "https://repo.example/x", problem)
    assert made.timeline == () and made.limits == ()


def test_the_timeline_is_sorted_with_introduced_zero_first_and_limits_apart():
    events = (Event(EventKind.FIXED, "2.0"), Event(EventKind.LIMIT, "3.0"), Event(EventKind.INTRODUCED, "1.5"),
              Event(EventKind.LAST_AFFECTED, "1.2"), Event(EventKind.INTRODUCED, "0"), Event(EventKind.LIMIT, "*"))
    made = make_range("ECOSYSTEM", events, "https://repo.example/x")
    assert made.problem is None and made.repo == "https://repo.example/x" and made.events == events
    assert made.timeline == ((EventKind.INTRODUCED, None), (EventKind.LAST_AFFECTED, Version("1.2")),
                             (EventKind.INTRODUCED, Version("1.5")), (EventKind.FIXED, Version("2.0")))
    assert made.limits == (Version("3.0"), None)
    # equal versions keep the record's order
    same = make_range("ECOSYSTEM", (Event(EventKind.FIXED, "1.0"), Event(EventKind.INTRODUCED, "1.0.0")))
    assert [kind for kind, _ in same.timeline] == [EventKind.FIXED, EventKind.INTRODUCED]
    assert make_range("ECOSYSTEM", events).describe() == (
        "ECOSYSTEM range fixed 2.0, limit 3.0, introduced 1.5, last_affected 1.2, introduced 0, limit *")


@pytest.mark.parametrize(("range_type", "bound", "parsed"), [
    ("SEMVER", "1.0.0+build.5", Version("1.0.0")),       # SemVer build metadata has no precedence
    ("SEMVER", "1.0.0+build+more", Version("1.0.0")),     # ... all of it, from the first '+'
    ("ECOSYSTEM", "1.0.0+local.5", Version("1.0.0+local.5")),
    ("ECOSYSTEM", "0", Version("0")),                      # "0" is a version for any event but introduced
])
def test_bounds_by_range_type(range_type, bound, parsed):
    made = make_range(range_type, (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, bound)))
    assert made.timeline[-1] == (EventKind.FIXED, parsed)


def test_parse_version_is_bounded():
    assert parse_version("1" * MAX_VERSION_LENGTH) == Version("1" * MAX_VERSION_LENGTH)
    assert parse_version("1" * (MAX_VERSION_LENGTH + 1)) is None
    assert parse_version("not a version") is None


def test_an_affected_entry_parses_its_versions_once():
    entry = make_affected("demo", (), ("1.0", "1.0.0", "weird-1", "2.0rc1"), ("2.0",))  # type: ignore[arg-type]
    assert entry.listed == {Version("1.0"), Version("2.0rc1")}
    assert entry.listed_raw == {"1.0", "1.0.0", "weird-1", "2.0rc1"}
    assert entry.versions == ("1.0", "1.0.0", "weird-1", "2.0rc1") and entry.fixed_in == ("2.0",)


# --- OSV records: the paths of bad fields ------------------------------------------------------------------

def osv(**top: Any) -> dict[str, Any]:
    return {"id": "GHSA-test-0001", "modified": "2024-01-02T03:04:05Z", **top}


def entry(**fields_: Any) -> dict[str, Any]:
    return {"package": {"ecosystem": "PyPI", "name": "demo"}, **fields_}


@pytest.mark.parametrize(("record", "message"), [
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]},
                                 {"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[1].events: has no 'introduced' event"),
    (osv(affected=[entry(ranges=[{"type": "GIT", "events": [{"introduced": "0"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].repo: is required for a GIT range"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events[0]: must hold exactly one of introduced, fixed, "
     "last_affected, limit"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events[1]: must hold exactly one of"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": ""}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events[0].introduced: is not a non-empty string"),
    (osv(affected=[entry(ranges=[{"events": [{"introduced": "0"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].type: is missing"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM"}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events: is missing"),
    (osv(affected=[entry(ranges=[{"type": "GIT", "repo": 5, "events": [{"introduced": "0"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].repo: is not a non-empty string"),
    (osv(affected=[entry(ranges=[{"type": "GIT", "repo": "x" * 2049, "events": [{"introduced": "0"}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].repo: is longer than 2048 characters"),
    (osv(affected=[entry(), {"package": {"ecosystem": "PyPI", "name": "-x-"}}]),
     "advisory GHSA-test-0001: affected[1].package.name: '-x-' is not a project name"),
    (osv(affected=[{"package": "demo"}]), "advisory GHSA-test-0001: affected[0].package: is not an object"),
    (osv(affected=[entry(versions=["1.0", 2])]), "advisory GHSA-test-0001: affected[0].versions[1]: is not a "
                                                  "non-empty string"),
    (osv(affected=[entry(ranges="x")]), "advisory GHSA-test-0001: affected[0].ranges: is not a list"),
    (osv(references=[{"url": "https://x.example"}, {"url": None}]),
     "advisory GHSA-test-0001: references[1].url: is missing"),
    (osv(references=["https://x.example"]), "advisory GHSA-test-0001: references[0]: is not an object"),
    (osv(database_specific=[1]), "advisory GHSA-test-0001: database_specific: is not an object"),
    (osv(aliases=["CVE-1", "bad alias"]), "advisory GHSA-test-0001: aliases[1]: 'bad alias' is not an advisory id"),
    (osv(withdrawn="soon"), "advisory GHSA-test-0001: withdrawn: 'soon' is not an RFC 3339 timestamp"),
    (osv(published="soon"), "advisory GHSA-test-0001: published: 'soon' is not an RFC 3339 timestamp"),
    (osv(summary=5), "advisory GHSA-test-0001: summary: is not a string"),
    ({"id": "GHSA-test-0001"}, "advisory GHSA-test-0001: modified: is missing"),
    ({"modified": "2024-01-02T03:04:05Z"}, "advisory (no id): id: None is not an advisory id"),
    ([], "advisory (no id): record: is not an object"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [5]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events[0]: is not an object"),
    (osv(affected=[entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": None}]}])]),
     "advisory GHSA-test-0001: affected[0].ranges[0].events[0].introduced: is missing"),
    (osv(affected=[entry(ranges=[5])]), "advisory GHSA-test-0001: affected[0].ranges[0]: is not an object"),
    (osv(references="x"), "advisory GHSA-test-0001: references: is not a list"),
    (osv(database_specific=nest(fields.MAX_DEPTH + 1)),
     "advisory GHSA-test-0001: database_specific: is nested deeper than 32 levels"),
])
def test_a_malformed_osv_record_names_the_field_by_path(record, message):
    assert refused(parse_osv, record).startswith(message)


def test_an_osv_record_keeps_its_pypi_entries_and_fields():
    record = osv(
        aliases=["CVE-1", "PYSEC-1", "CVE-1"], summary=None, details="\nFirst line\nsecond",
        published="2024-01-01T00:00:00Z", withdrawn="2024-02-01T00:00:00Z",
        references=[{"url": "https://x.example/a"}, {"url": "ftp://x.example/b"}],
        database_specific={"severity": "HIGH"},
        affected=[{"ranges": [{"type": "GIT", "repo": "https://r.example", "events": [{"introduced": "0"}]}]},
                  {"package": {"ecosystem": "npm", "name": "demo"}},
                  {"package": {"ecosystem": "pypi", "name": "demo"}},
                  entry(ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]}],
                        versions=["1.0", "1.4"]),
                  {"package": {"ecosystem": "PyPI", "name": "Other_Name"},
                   "ranges": [{"type": "GIT", "repo": "https://r.example", "events": [{"introduced": "0"}]}]}])
    adv = parse_osv(record)
    assert adv.aliases == ("CVE-1", "PYSEC-1") and adv.summary == "First line"
    assert adv.published == datetime(2024, 1, 1, tzinfo=UTC) and adv.withdrawn == datetime(2024, 2, 1, tzinfo=UTC)
    assert adv.modified == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert adv.references == ("https://x.example/a",) and adv.database_specific == {"severity": "HIGH"}
    assert [a.name for a in adv.affected] == ["demo", "other-name"]  # the PyPI ecosystem, spelled exactly
    demo = adv.affected[0]
    assert demo.versions == ("1.0", "1.4") and demo.listed == {Version("1.0"), Version("1.4")}
    assert demo.ranges[0].timeline == ((EventKind.INTRODUCED, None), (EventKind.FIXED, Version("1.5")))
    git = adv.affected[1].ranges[0]
    assert (git.type, git.repo, git.problem) == ("GIT", "https://r.example", "GIT ranges name commits, not release "
                                                                             "versions")
    assert adv.affected[1].versions == ()
