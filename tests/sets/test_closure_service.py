"""The closure service against the fake upstream, in-process: what ``reviewed`` would serve of a whole set, with
metadata read through the mirror's store and verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mirror.adapters.policy_dir import load_policies
from mirror.core.models import Tier
from mirror.core.targets import Target
from mirror.services.closure import NOT_UPSTREAM
from mirror.services.runtime import Runtime
from mirror.web.state import SERVICES

from ..support import depworld
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, review


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path):
    depworld.publish(upstream, dists)
    return make_config(tmp_path, upstream.url)


def policies_of(config):
    return lambda: load_policies(config.policies.path, allow_missing=True)


async def test_the_closure_reviewed_would_serve_once_promoted(config, upstream):
    async with Runtime.open(config, policies_of(config)) as runtime:
        result = await runtime.closure.closure([Requirement("webapp")], Tier.REVIEWED, assume_reviewed=True)
        walk = result.closure
        assert {n: p.version for n, p in walk.projects.items()} == depworld.CLOSURE
        assert walk.complete and not walk.unsatisfied
        assert walk.projects["escaping"].depth == 3  # webapp (0) → framework → routing/templating → escaping
        [build] = walk.projects["tinybuild"].needed_by
        assert build.describe() == "needed to build aiostuff 1.0 (tinybuild>=1)"
        assert (walk.projects["aiostuff"].needed_by[0].describe()
                == 'needed by framework 2.1[async] (aiostuff>=1; extra == "async")')
        sources = {n: f.source for n, f in result.followed.items()}
        assert sources["framework"] == "PEP 658 metadata of framework-2.1-py3-none-any.whl"
        assert sources["aiostuff"] == "PKG-INFO of aiostuff-1.0.tar.gz"
        assert not any("winhelper" in n.text for n in walk.notes + walk.skipped)  # its marker holds on no target
        fetched = upstream.count("/files/")
        again = await runtime.closure.closure([Requirement("webapp")], Tier.REVIEWED, assume_reviewed=True)
        assert again.closure.projects.keys() == walk.projects.keys()
    async with Runtime.open(config, policies_of(config)) as runtime:  # a new command: the store has it all
        await runtime.closure.closure([Requirement("webapp")], Tier.REVIEWED, assume_reviewed=True)
    assert upstream.count("/files/") == fetched  # every .metadata file and the sdist fetched once, then stored
    assert fetched == len(depworld.CLOSURE)  # 7 .metadata files and one sdist


async def test_targets_decide_markers_and_the_default_is_reviewed_as_it_is(config):
    windows = Target.parse("3.12-windows-amd64")
    async with Runtime.open(config, policies_of(config)) as runtime:
        result = await runtime.closure.closure([Requirement("webapp")], Tier.REVIEWED, [windows],
                                               assume_reviewed=True)
        assert "winhelper" in result.closure.projects and "oldpy" not in result.closure.projects
        # Without the planning assumption, nothing is reviewed yet: every root is a hole saying why.
        plain = await runtime.closure.closure([Requirement("webapp"), Requirement("ghost-project")], Tier.REVIEWED)
        holes = {h.edge.child: h.reason for h in plain.closure.holes}
        assert holes["webapp"].startswith("is not in 'reviewed': not reviewed")
        assert holes["ghost-project"] == NOT_UPSTREAM


async def test_a_blocked_or_held_dependency_is_a_hole_with_the_rule(config):
    policy_dir = PolicyDir(config.policies.path)
    policy_dir.write_project("routing", review(), '[[block]]\nversions = "==1.3"\nreason = "bad"\nby = "bob"\n')
    async with Runtime.open(config, policies_of(config)) as runtime:
        result = await runtime.closure.closure([Requirement("webapp")], Tier.REVIEWED, assume_reviewed=True)
    # routing 1.3 is blocked: 1.1 is the newest served, outside framework's routing>=1.2
    [unsatisfied] = result.closure.unsatisfied
    assert unsatisfied.describe() == "framework 2.1 needs routing>=1.2, but routing 1.1 is followed"


async def test_the_server_has_the_same_service(config):
    server = MirrorServer(config)
    await server.start()
    try:
        policy_dir = PolicyDir(server.config.policies.path)
        for name in depworld.CLOSURE:
            policy_dir.write_project(name, review())
        await server.app[SERVICES].policies.reload_if_changed()
        result = await server.app[SERVICES].closure.closure([Requirement("webapp")], Tier.REVIEWED)
        assert {n: p.version for n, p in result.closure.projects.items()} == depworld.CLOSURE
        assert result.closure.complete
    finally:
        await server.stop()
