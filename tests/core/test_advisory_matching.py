"""Matching many releases at once (``ProjectMatcher.matches_all``, by bisection over sorted versions) gives exactly
the answers of ``match`` one release at a time, on arbitrary OSV ranges, versions lists and release versions."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.core.advisories import lowest_fixed_above, match, parse_osv
from mirror.core.advisories.match import ProjectMatcher
from mirror.core.advisories.model import Advisory, AdvisorySource, Event, EventKind, make_affected, make_range

VERSIONS = ["0.9", "1.0.dev1", "1.0rc1", "1.0", "1.0.0", "1.0.post1", "1.0+local", "1.1", "1.2", "1.2.1", "2.0a1",
            "2.0", "2.0.1", "3!0.1", "not-a-version", "10.0"]
BOUNDS = ["0.9", "1.0", "1.0rc1", "1.1", "1.2", "2.0", "2.0.1", "3.0", "oops"]

events = st.lists(st.one_of(
    st.sampled_from(BOUNDS).map(lambda b: {"fixed": b}),
    st.sampled_from(BOUNDS).map(lambda b: {"last_affected": b}),
    st.sampled_from(BOUNDS + ["*"]).map(lambda b: {"limit": b}),
    st.sampled_from(BOUNDS + ["0"]).map(lambda b: {"introduced": b}),
), max_size=5).map(lambda rest: [{"introduced": "0"}, *rest] if not any("introduced" in e for e in rest) else rest)
ranges = st.lists(st.builds(lambda ev, kind: {"type": kind, "events": ev}, events,
                            st.sampled_from(["ECOSYSTEM", "SEMVER"])), max_size=3)
entries = st.lists(st.builds(lambda r, v: {"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": r,
                                           "versions": v},
                             ranges, st.lists(st.sampled_from(VERSIONS), max_size=3)), min_size=1, max_size=2)


def advisory(i: int, affected: list[dict[str, Any]], withdrawn: bool) -> Any:
    return parse_osv({"id": f"GHSA-{i}", "modified": "2026-01-01T00:00:00Z", "affected": affected,
                      **({"withdrawn": "2026-01-02T00:00:00Z"} if withdrawn else {})})


# Under mutation testing (tools/mutation.py) each of hundreds of mutants runs this: fewer examples, always the same
# ones (the tables below state the edges; this checks that the two ways of matching agree).
_MUTATION = bool(os.environ.get("MIRROR_MUTATION"))


@settings(max_examples=40 if _MUTATION else 300, derandomize=_MUTATION, deadline=None)
@given(st.lists(st.tuples(entries, st.booleans()), min_size=1, max_size=4),
       st.lists(st.sampled_from(VERSIONS), min_size=1, max_size=10, unique=True))
def test_matching_all_releases_at_once_agrees_with_match(spec: list[Any], releases: list[str]) -> None:
    advisories = [advisory(i, affected, withdrawn) for i, (affected, withdrawn) in enumerate(spec)]
    matcher = ProjectMatcher(advisories, "Demo")
    together = matcher.matches_all(releases)
    for version in releases:
        one_by_one = [(a.id, m) for a in advisories if (m := match(a, "demo", version)) is not None]
        assert [(a.id, m) for a, m in together[version]] == one_by_one, version
        assert [(a.id, m) for a, m in matcher.matches(version)] == one_by_one, version
        for a, _ in together[version]:
            assert matcher.lowest_fixed_above(a, version) == lowest_fixed_above(a, "demo", version)


def _reopened() -> Any:
    return parse_osv({"id": "GHSA-reopen", "modified": "2026-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "1.5"}, {"fixed": "1.6"}]}]}]})


def test_a_matcher_answers_for_an_advisory_it_was_not_given_as_the_function_does():
    # a withdrawn advisory is left out of the matcher's list, but its fixes can still be asked for
    withdrawn = advisory(1, [{"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]}]}], True)
    for matcher in (ProjectMatcher([], "demo"), ProjectMatcher([withdrawn], "demo")):
        assert matcher.lowest_fixed_above(_reopened(), "1.2") == lowest_fixed_above(_reopened(), "demo", "1.2") == "1.6"
        assert matcher.lowest_fixed_above(withdrawn, "1.2") == "1.5"


def test_the_fix_above_a_local_version_is_compared_exactly():
    # fixes listed outside any range (as the JSON API does): 1.0+a < 1.0+local < 1.0+z < 2.0 in PEP 440 order
    entry = make_affected("demo", (make_range("ECOSYSTEM", (Event(EventKind.INTRODUCED, "0"),  # type: ignore[arg-type]
                                                            Event(EventKind.LAST_AFFECTED, "0.9"))),),
                          (), ("1.0+a", "1.0+z", "2.0"))
    adv = Advisory(AdvisorySource.JSON_API, "PYSEC-1", None, (entry,))
    assert lowest_fixed_above(adv, "demo", "1.0+local") == "1.0+z"
    assert ProjectMatcher([adv], "demo").lowest_fixed_above(adv, "1.0+local") == "1.0+z"
    assert ProjectMatcher([adv], "demo").lowest_fixed_above(adv, "1.0") == "1.0+a"
    assert ProjectMatcher([adv], "demo").lowest_fixed_above(adv, "not-a-version") is None


def test_a_version_that_is_not_pep440_is_looked_for_in_every_entrys_list():
    two = parse_osv({"id": "GHSA-two", "modified": "2026-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}], "versions": ["1.0"]},
        {"package": {"ecosystem": "PyPI", "name": "demo"}, "versions": ["not-a-version"]}]})
    found = match(two, "demo", "not-a-version")
    assert found is not None and found.reason == "listed among the affected versions"
    assert ProjectMatcher([two], "demo").matches("not-a-version")[0][1] == found


@pytest.mark.parametrize(("events", "releases"), [
    # release strings whose text order is not their version order: ranges are located among sorted versions
    ([{"introduced": "1.5"}, {"fixed": "1.10"}], ["1.10", "1.9", "1.2", "1.0", "1.11"]),
    # a timeline whose events are not in version order: swept by where each event starts, not by its place
    ([{"introduced": "2.0"}, {"fixed": "3.0"}, {"introduced": "1.0"}, {"fixed": "1.5"}],
     ["0.9", "1.0", "1.4", "1.5", "1.9", "2.0", "2.5", "3.0", "3.1"]),
    ([{"introduced": "1.0"}, {"last_affected": "1.4"}, {"introduced": "0"}, {"fixed": "0.5"}],
     ["0.1", "0.5", "0.9", "1.0", "1.4", "1.4.1", "2.0"]),
    # events at one bound: "last_affected" starts applying above it, "fixed" at it
    ([{"introduced": "0"}, {"last_affected": "1.4"}, {"fixed": "1.4"}], ["1.0", "1.4", "1.4.1", "1.5"]),
])
def test_matching_all_releases_at_once_agrees_on_unordered_inputs(events: list[dict[str, str]],
                                                                  releases: list[str]) -> None:
    adv = parse_osv({"id": "GHSA-order", "modified": "2026-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]})
    together = ProjectMatcher([adv], "demo").matches_all(releases)
    for version in releases:
        assert [m for _, m in together[version]] == ([m] if (m := match(adv, "demo", version)) else []), version
