"""``mirror promote`` of whole sets, as real subprocesses against the fake upstream: the dependency closure with a
plan and a confirmation, requirements and lock files, names upstream lacks, look-alike dependencies; then real pip
and uv install the promoted closure from ``reviewed``."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import AuditLog
from mirror.adapters.policy_dir import load_policies
from mirror.config import load_config

from ..support import depworld, installers
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir

ALICE = ("--by", "alice", "--note", "our web app")


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    depworld.publish(upstream, dists)
    return write_config(tmp_path, upstream)


def reviewed(config: Path) -> set[str]:
    policies = load_policies(config.parent / "policies", allow_missing=True)
    return {n for n, p in policies.projects.items() if p.review is not None}


async def audit(config: Path) -> list:
    engine = await open_database(load_config(config).database_settings)
    try:
        return await AuditLog(engine).records()
    finally:
        await engine.dispose()


async def test_promote_with_deps_plans_asks_promotes_and_installers_get_the_closure(
        config, mirror: MirrorServer, http: aiohttp.ClientSession, new_target):
    run = await cli("promote", "webapp", "--with-deps", *ALICE, config=config, stdin="n\n")
    assert run.code == 1 and "not confirmed: nothing changed" in run.err
    assert run.out.startswith("plan: promote 8 project(s) into 'reviewed' (dependencies for cpython3.")
    lines = run.out.splitlines()
    assert "  + webapp 1.0      promote: named" in lines
    assert "  + escaping 2.5    promote: needed by routing 1.3 (escaping<3)" in lines
    assert "  + tinybuild 1.0   promote: needed to build aiostuff 1.0 (tinybuild>=1)" in lines
    assert "winhelper" not in run.out and reviewed(config) == set()
    assert "promote these 8 project(s)? [y/N]" in run.err
    windows = await cli("promote", "webapp", "--with-deps", "--target", "3.12-windows-amd64", *ALICE, config=config)
    assert windows.code == 1 and "+ winhelper 1.0" in windows.out  # no answer (end of input) is a no

    run = await cli("promote", "webapp", "--with-deps", *ALICE, config=config, stdin="y\n")
    assert run.ok().splitlines()[-1] == "8 project(s) promoted, 0 left as they were"
    assert reviewed(config) == set(depworld.CLOSURE)
    records = {r.target: r for r in await audit(config)}
    assert set(records) == set(depworld.CLOSURE) and {r.action for r in records.values()} == {"promote"}
    assert records["webapp"].note == "our web app"
    assert records["framework"].note == "our web app (as a dependency of webapp 1.0)"
    assert records["tinybuild"].note == "our web app (as a dependency of aiostuff 1.0)"
    again = await cli("promote", "webapp", "--with-deps", "--yes", *ALICE, config=config)
    assert again.ok().endswith("nothing to promote: nothing changed\n") and "= webapp 1.0" in again.out
    assert len(await audit(config)) == 8

    await PolicyDir(config.parent / "policies").applied(http, mirror.base)
    for tool in ("pip", "uv"):
        target = new_target()
        await installers.install(tool, mirror.index("reviewed"), target, "webapp")
        assert installers.installed(target) == depworld.INSTALLED, tool


async def test_promote_requirements_and_lock_files(config, tmp_path, upstream):
    sniffio = upstream.add_wheel("sniffio", "1.3", tmp_path / "dists", upload_time=depworld.OLD)  # as published
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"--index-url https://elsewhere.example/simple/\nframework>=2  # the framework\n"
                            f"sniffio==1.3 --hash=sha256:{sniffio.sha256}\n-e ./local-checkout\n")
    run = await cli("promote", "-r", requirements, "--by", "alice", "--yes", config=config)
    out = run.ok()
    assert f"  + framework 2.1  promote: listed in {requirements}:2" not in out  # no closure: no version
    assert f"+ framework  promote: listed in {requirements}:2" in out
    assert f"not promotable: {requirements}:4: ./local-checkout (an editable checkout)" in out
    assert f"{requirements}:1: --index-url is decided by the mirror, ignored" in out
    assert reviewed(config) == {"framework", "sniffio"}
    assert {r.target: r.note for r in await audit(config)}["sniffio"] == f"(listed in {requirements}:3)"

    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "hand"\n\n'
                    '[[packages]]\nname = "escaping"\nversion = "2.5"\nindex = "https://up.example/simple/"\n'
                    '[[packages.wheels]]\nname = "escaping-2.5-py3-none-any.whl"\n'
                    'url = "https://up.example/escaping-2.5-py3-none-any.whl"\nhashes = {sha256 = "' + "0" * 64 + '"}\n'
                    '\n[[packages]]\nname = "local-thing"\ndirectory = {path = "."}\n')
    uv_lock = tmp_path / "uv.lock"
    uv_lock.write_text('version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "routing"\nversion = "1.3"\n'
                       'source = { registry = "https://up.example/simple" }\n'
                       'wheels = [{ url = "https://up.example/routing-1.3-py3-none-any.whl", hash = "sha256:'
                       + "1" * 64 + '" }]\n')
    run = await cli("promote", "--lock", lock, "--lock", uv_lock, "--with-deps", "--by", "bob", "--yes",
                    config=config)
    out = run.ok()
    assert f"+ escaping 2.5  promote: listed in {lock}:4" in out
    assert f"+ routing 1.3   promote: listed in {uv_lock}:4" in out
    assert f"not promotable: {lock}:13: local-thing (source: directory, not from an index)" in out
    assert reviewed(config) == {"framework", "sniffio", "escaping", "routing"}


async def test_names_upstream_lacks_are_refused_with_suggestions_unless_allowed(config):
    run = await cli("promote", "webap", "--by", "alice", config=config)
    assert run.code == 1 and run.out == ""
    assert "has no project webap; did you mean webapp" in run.err
    assert run.err.endswith(": mirror promote webap --allow-missing --by NAME --note TEXT\n")
    run = await cli("promote", "webapp", "ghost-project", "--with-deps", "--yes", *ALICE, config=config)
    assert run.code == 1 and re.search(r"\n  \? ghost-project +missing: named; upstream \(", run.out)
    assert run.err.startswith("mirror: refusing the plan, nothing changed:\n  ghost-project: upstream (")
    assert reviewed(config) == set()
    run = await cli("promote", "ghost-project", "--allow-missing", "--by", "alice", config=config)
    assert run.code == 1 and "--allow-missing needs --note" in run.err
    await cli("promote", "ghost-project", "--allow-missing", "--by", "alice", "--note", "ours, published Monday",
              config=config)
    assert reviewed(config) == {"ghost-project"}


async def test_a_look_alike_dependency_refuses_the_whole_plan(config, upstream, dists):
    upstream.add_wheel("requets", "1.0", dists, upload_time=depworld.OLD)
    upstream.add_wheel("sneaky", "1.0", dists, requires_dist=["requets"], upload_time=depworld.OLD)
    run = await cli("promote", "sneaky", "--with-deps", "--yes", *ALICE, config=config)
    assert run.code == 1
    assert re.search(r"\n  x requets 1.0 +refused: needed by sneaky 1.0 \(requets\); refusing to promote 'requets': "
                     r"it looks like 'requests'", run.out)
    assert "nothing changed" in run.err and reviewed(config) == set()

