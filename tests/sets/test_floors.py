"""Floors recorded by ``mirror promote`` (the newest release 'reviewed' admits, a file's pin, ``--floor``,
``--no-floor``, ``floor = "none"`` in tiers.toml), changed by ``mirror floor``, proposed by ``mirror check``; real
subprocesses against the fake upstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies

from ..support import depworld
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream

ALICE = ("--by", "alice", "--note", "ok")


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    depworld.publish(upstream, dists)
    # a release inside the cooldown: the floor is the newest release 'reviewed' admits, not upstream's newest
    upstream.add_wheel("escaping", "3.1", dists, upload_time=datetime.now(UTC) - timedelta(days=1))
    return write_config(tmp_path, upstream)


def floors(config: Path) -> dict[str, str | None]:
    policies = load_policies(config.parent / "policies", allow_missing=True)
    return {n: p.review.floor for n, p in policies.projects.items() if p.review is not None}


async def test_promote_records_the_newest_admitted_release_as_floor(config):
    run = await cli("promote", "escaping", *ALICE, config=config)
    assert "  floor 3.0: older releases of escaping stay out of 'reviewed' (to change: mirror floor escaping " \
           "VERSION --by NAME --reason TEXT)" in run.ok()
    await cli("promote", "framework", "--floor", "1.0", *ALICE, config=config)
    await cli("promote", "routing", "--no-floor", *ALICE, config=config)
    assert floors(config) == {"escaping": "3", "framework": "1", "routing": None}
    run = await cli("promote", "sniffio", "--floor", "1.0", "--no-floor", *ALICE, config=config)
    assert run.code == 1 and "--floor VERSION or --no-floor, not both" in run.err


async def test_sets_record_the_followed_release_or_the_files_pin(config, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("routing==1.1\nescaping\n")
    await cli("promote", "-r", requirements, "--by", "alice", "--yes", config=config)
    assert floors(config) == {"routing": "1.1", "escaping": "3"}
    await cli("promote", "webapp", "--with-deps", "--yes", *ALICE, config=config)
    got = floors(config)
    assert got["webapp"] == "1" and got["framework"] == "2.1" and got["templating"] == "1"
    assert got["routing"] == "1.1"  # already reviewed: left as it was


async def test_tier_wide_none_records_no_floor_and_mirror_floor_changes_it(config):
    tiers = config.parent / "policies" / "tiers.toml"
    tiers.parent.mkdir(parents=True)
    tiers.write_text('[reviewed]\nfloor = "none"\n')
    run = await cli("promote", "framework", *ALICE, config=config)
    assert 'no floor (floor = "none" in tiers.toml)' in run.ok()
    assert floors(config) == {"framework": None}
    run = await cli("floor", "framework", "2.1", "--by", "bob", "--reason", "no 1.x", config=config)
    assert run.ok().startswith("floor of framework set to 2.1: older releases stay out of 'reviewed'")
    assert floors(config) == {"framework": "2.1"}
    again = await cli("floor", "framework", "2.1.0", "--by", "bob", "--reason", "again", config=config)
    assert "already 2.1.0: nothing changed" in again.ok()
    await cli("floor", "framework", "none", "--by", "bob", "--reason", "old ones too", config=config)
    assert floors(config) == {"framework": None}
    run = await cli("floor", "routing", "1.0", "--by", "bob", "--reason", "x", config=config)
    assert run.code == 1 and "routing is not reviewed" in run.err


async def test_check_proposes_a_floor_for_reviewed_projects_without_one(config):
    await cli("promote", "escaping", "--no-floor", *ALICE, config=config)
    await cli("promote", "sniffio", *ALICE, config=config)  # neither needs anything: no hole
    run = await cli("check", config=config)
    path = config.parent / "policies" / "projects" / "escaping.toml"
    assert run.code == 0, run.out + run.err
    assert (f"{path}:4: [review]: escaping has no floor: with a dependency missing from 'reviewed', resolvers "
            "fall back to any old release of it; proposed: mirror floor escaping 3.0 --by NAME --reason TEXT") \
        in run.out.splitlines()
    assert "sniffio has no floor" not in run.out and "1 proposal(s) above" in run.out
    offline = await cli("check", "--offline", config=config)
    assert "proposed: mirror floor escaping VERSION --by NAME --reason TEXT" in offline.out
