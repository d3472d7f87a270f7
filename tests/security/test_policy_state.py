"""Issue 9, point 7: policy state never silently disappears.

A policy directory that vanishes, whose ``projects`` is not a directory, or whose ``tiers.toml`` is not a
readable file is a broken edit: the last good policy stays in force, an ERROR is logged and ``/healthz``
reports it. At start-up a missing directory is created as an explicit empty set. Only an explicit, valid
empty set (the directory there, no project file) empties the tiers.
"""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from mirror.adapters.policy_dir import create_policy_dir, load_policies
from mirror.core.errors import PolicyError

from ..support.fake_upstream import JSON_TYPE
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, block, review, wait_until

PROJECT = "blocked-app"


async def health(http, mirror) -> dict:
    async with http.get(f"{mirror.base}/healthz") as resp:
        assert resp.status == 200
        return await resp.json()


async def served_files(http, mirror, tier: str = "all") -> list[str]:
    async with http.get(f"{mirror.index(tier)}{PROJECT}/", headers={"Accept": JSON_TYPE}) as resp:
        if resp.status == 404:
            return []
        assert resp.status == 200
        return [f["filename"] for f in (await resp.json())["files"]]


async def file_status(http, mirror, filename: str) -> int:
    async with http.get(f"{mirror.base}/all/files/{PROJECT}/{filename}") as resp:
        await resp.read()
        return resp.status


@pytest.fixture
async def blocked(tmp_path, upstream, dists, http):
    """A mirror whose policy blocks PROJECT (and reviews another project): (mirror, policy dir, wheel)."""
    wheel = upstream.add_wheel(PROJECT, "1.0", dists)
    upstream.add_wheel("other-lib", "1.0", dists)
    policies = PolicyDir(tmp_path / "policies")
    policies.write_tiers("[reviewed]\ncooldown_days = 0\n")
    policies.write_project(PROJECT, block("malicious release"))
    policies.write_project("other-lib", review())
    server = MirrorServer(make_config(tmp_path, upstream.url))
    await server.start()
    try:
        yield server, policies, wheel
    finally:
        await server.stop()


async def assert_still_blocked(http, mirror, wheel) -> None:
    assert await served_files(http, mirror) == []
    assert await file_status(http, mirror, wheel.filename) == 404
    assert await served_files(http, mirror, "reviewed") == []


async def wait_for_error(http, mirror, fragment: str) -> dict:
    """Wait until /healthz reports the broken edit, checking all along that the block stays in force."""
    async def probe():
        files = await served_files(http, mirror)
        assert files == [], f"the block was lifted while the policy was broken: {files} served"
        state = await health(http, mirror)
        error = state.get("policy", {}).get("last_reload_error")
        return state if error and fragment in error else None

    return await wait_until(probe, f"/healthz to report a reload error containing {fragment!r}")


async def wait_for_recovery(http, mirror) -> dict:
    async def probe():
        state = await health(http, mirror)
        return state if state["policy"]["last_reload_error"] is None else None

    return await wait_until(probe, "/healthz to report no reload error")


async def test_blocks_stay_in_force_while_the_directory_is_renamed_away_and_after(blocked, http, caplog):
    mirror, policies, wheel = blocked
    directory = policies.directory
    await assert_still_blocked(http, mirror, wheel)
    version = load_policies(directory).version

    with caplog.at_level(logging.ERROR, logger="mirror.policy"):
        os.rename(directory, directory.with_name("policies.moved"))  # a checkout / rsync / remount window
        state = await wait_for_error(http, mirror, "missing")
    assert state["status"] == "degraded" and state["policy"]["version"] == version
    assert state["policy"]["last_reload_error_at"]
    assert str(directory) not in str(state)  # paths relative to the policy directory only
    assert any(r.levelno == logging.ERROR and "last good policy" in r.getMessage() for r in caplog.records)
    await assert_still_blocked(http, mirror, wheel)
    async with http.get(f"{mirror.index('reviewed')}other-lib/", headers={"Accept": JSON_TYPE}) as resp:
        assert resp.status == 200  # the reviews stay in force too

    os.rename(directory.with_name("policies.moved"), directory)
    state = await wait_for_recovery(http, mirror)
    assert state["policy"] == {"version": version, "loaded_at": state["policy"]["loaded_at"],
                               "last_reload_error": None, "last_reload_error_at": None, "last_signal": None}
    await assert_still_blocked(http, mirror, wheel)


async def test_projects_not_a_directory_or_unreadable_tiers_is_a_broken_edit(blocked, http):
    mirror, policies, wheel = blocked
    projects = policies.directory / "projects"
    version = load_policies(policies.directory).version

    os.rename(projects, policies.directory / "projects.old")
    projects.write_text("not a directory\n")
    state = await wait_for_error(http, mirror, "projects: not a directory")
    assert state["policy"]["version"] == version
    await assert_still_blocked(http, mirror, wheel)
    projects.unlink()
    os.rename(policies.directory / "projects.old", projects)
    await wait_for_recovery(http, mirror)

    tiers = policies.tiers_path
    tiers.unlink()
    tiers.mkdir()  # tiers.toml that is not a readable file
    state = await wait_for_error(http, mirror, "tiers.toml: not a regular file")
    assert state["policy"]["version"] == version
    await assert_still_blocked(http, mirror, wheel)
    tiers.rmdir()
    policies.write_tiers("[reviewed]\ncooldown_days = 0\n")
    await wait_for_recovery(http, mirror)
    await assert_still_blocked(http, mirror, wheel)


async def test_only_an_explicit_empty_set_lifts_the_blocks(blocked, http):
    mirror, policies, wheel = blocked
    shutil.rmtree(policies.directory / "projects")  # projects/ absent: an explicit empty set of projects
    policies.tiers_path.unlink()

    async def unblocked():
        return await served_files(http, mirror) == [wheel.filename]

    await wait_until(unblocked, "the block to be lifted by an explicit empty policy set")
    state = await health(http, mirror)
    assert state["policy"]["last_reload_error"] is None
    assert state["policy"]["version"] == load_policies(policies.directory).version
    assert await file_status(http, mirror, wheel.filename) == 200


async def test_start_up_creates_a_missing_directory_as_an_empty_set(tmp_path, upstream, http, caplog):
    config = make_config(tmp_path / "fresh", upstream.url)
    assert not config.policies.path.exists()
    server = MirrorServer(config)
    with caplog.at_level(logging.WARNING, logger="mirror.policy"):
        await server.start()
    try:
        assert (config.policies.path / "projects").is_dir()
        assert any("created it empty" in r.getMessage() for r in caplog.records)
        state = await health(http, server)
        assert state["policy"]["last_reload_error"] is None
        assert state["policy"]["version"] == load_policies(config.policies.path).version
    finally:
        await server.stop()


def test_loading_a_missing_or_malformed_directory_is_an_error(tmp_path):
    with pytest.raises(PolicyError, match="missing"):
        load_policies(tmp_path / "absent")
    assert load_policies(tmp_path / "absent", allow_missing=True).projects == {}
    (tmp_path / "file").write_text("")
    with pytest.raises(PolicyError, match="not a directory"):
        load_policies(tmp_path / "file")
    with pytest.raises(PolicyError, match="not a directory"):
        create_policy_dir(tmp_path / "file")
    assert create_policy_dir(tmp_path / "new") and not create_policy_dir(tmp_path / "new")
    assert load_policies(tmp_path / "new").projects == {}
    (tmp_path / "new" / "projects").rmdir()
    (tmp_path / "new" / "projects").write_text("")
    with pytest.raises(PolicyError, match="projects: not a directory"):
        load_policies(tmp_path / "new")
