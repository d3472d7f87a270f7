"""Issue "security, part two", point 7: time and names upstream cannot fake.

The cooldown of a file that appears after the mirror began tracking a project counts from the later of its
upload time and the moment the mirror first saw it, so a back-dated ``upload-time`` (eight days, 1970) cannot
skip it; and a file name seen once with one sha256 keeps it: other bytes under that name are refused in every
tier and reported.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import Sighting, decide_file
from mirror.core.policy.model import Location, PolicySet, ProjectPolicy, Review, Signature
from mirror.core.tiers import Evidence, decide_page

from ..support.policies import review
from .conftest import get

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
SIG = Signature("alice", NOW - timedelta(days=100))
HERE = Location("projects/demo.toml", 3)
POLICIES = PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE))}, version="t")
SHA = "a" * 64


def wheel(version: str, uploaded: datetime | None, sha: str = SHA) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://files.example/demo-{version}.whl",
                    {"sha256": sha}, upload_time=uploaded)


@pytest.mark.parametrize(("claimed_age", "seen_ago", "initial", "admitted"), [
    (timedelta(days=8), timedelta(hours=1), False, False),     # back-dated a week: seen an hour ago → held
    (timedelta(days=20000), timedelta(hours=1), False, False),  # "1970"
    (timedelta(days=8), timedelta(days=7, minutes=1), False, True),  # seen long enough ago
    (timedelta(days=8), timedelta(hours=1), True, True),       # listed at the first fetch: upload time is all we know
    (timedelta(hours=1), timedelta(days=30), False, False),    # a later upload time still counts (the later one)
])
def test_cooldown_counts_from_the_later_of_upload_time_and_first_sight(claimed_age, seen_ago, initial, admitted):
    f = wheel("2.0", NOW - claimed_age)
    sighting = Sighting(SHA, NOW - seen_ago, initial)
    decision = decide_file(Tier.REVIEWED, "demo", f, POLICIES, NOW, sighting=sighting)
    assert decision.admitted is admitted, decision.rule
    if not admitted and not initial and seen_ago < claimed_age:
        assert "first seen by this mirror" in decision.rule and "upstream claims an upload at" in decision.rule
        assert decision.until == NOW - seen_ago + timedelta(days=7)


def test_a_published_file_never_changes_in_any_tier():
    f = wheel("1.0", NOW - timedelta(days=30), sha="b" * 64)
    evidence = Evidence(sightings={f.filename: Sighting(SHA, NOW - timedelta(days=20), True)})
    for tier in (Tier.ALL, Tier.REVIEWED):  # (vetted: nothing of demo is vetted)
        view = decide_page(tier, "demo", ProjectDetail("demo", (f,)), evidence, POLICIES, NOW)
        assert view.detail.files == ()
        [release] = view.releases
        rule = release.files[0].decision.rule
        assert "upstream now lists other bytes under" in rule and SHA in rule and "b" * 64 in rule
    same = Evidence(sightings={f.filename: Sighting("b" * 64, NOW - timedelta(days=20), True)})
    assert decide_page(Tier.ALL, "demo", ProjectDetail("demo", (f,)), same, POLICIES, NOW).detail.files == (f,)


async def test_a_back_dated_release_waits_out_the_cooldown_from_first_sight(start_mirror, upstream, policies,
                                                                            dists, http):
    old = NOW.replace(year=2020)
    upstream.add_wheel("sight-lib", "1.0", dists, upload_time=old)
    policies.write_project("sight-lib", review())
    mirror = await start_mirror(index_ttl=0)
    page = json.loads((await get(http, mirror.index("reviewed") + "sight-lib/",
                                 Accept="application/vnd.pypi.simple.v1+json"))[1])
    assert page["versions"] == ["1.0"]  # listed at the first fetch: judged by its upload time

    # An attacker publishes 2.0 and back-dates it (eight days, then 1970): the mirror sees it now.
    upstream.add_wheel("sight-lib", "2.0", dists, upload_time=datetime.now(UTC) - timedelta(days=8))
    upstream.add_wheel("sight-lib", "3.0", dists, upload_time=datetime(1970, 1, 2, tzinfo=UTC))
    for tier, expected in (("all", ["1.0", "2.0", "3.0"]), ("reviewed", ["1.0"])):
        status, body, _ = await get(http, mirror.index(tier) + "sight-lib/",
                                    Accept="application/vnd.pypi.simple.v1+json")
        assert status == 200 and json.loads(body)["versions"] == expected, tier
    async with http.get(f"{mirror.base}/explain/sight-lib/2.0") as resp:
        tiers = {t["tier"]: t for t in (await resp.json())["tiers"]}
    assert "first seen by this mirror" in tiers["reviewed"]["rule"], tiers["reviewed"]


async def test_other_bytes_under_a_known_name_are_refused_everywhere_and_reported(start_mirror, upstream, policies,
                                                                                  dists, http, caplog):
    caplog.set_level(logging.WARNING, logger="mirror.evidence")
    first = upstream.add_wheel("swap-app", "1.0", dists, upload_time=NOW.replace(year=2020))
    policies.write_project("swap-app", review())
    mirror = await start_mirror(index_ttl=0)
    assert (await get(http, mirror.index() + "swap-app/"))[0] == 200
    other = upstream.add_wheel("swap-app", "1.0", dists, upload_time=NOW.replace(year=2020),
                               module_source="EVIL = True\n")
    assert other.filename == first.filename and other.sha256 != first.sha256
    for tier in ("all", "reviewed"):
        status, body, _ = await get(http, mirror.index(tier) + "swap-app/",
                                    Accept="application/vnd.pypi.simple.v1+json")
        assert status == 200 and json.loads(body)["files"] == [], tier
        status, _, _ = await get(http, f"{mirror.base}/{tier}/files/swap-app/{other.filename}")
        assert status == 404
    assert any("upstream changed a published file" in r.getMessage() and first.sha256 in r.getMessage()
               for r in caplog.records)
