"""The real ``mirror`` command, run in subprocesses against temporary policy directories and a config file
pointing at the fake upstream (which runs in this test's event loop, hence asyncio subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import AuditLog, DemandLog
from mirror.adapters.policy_dir import load_policies
from mirror.config import load_config

from .support.databases import DATABASES
from .support.fake_upstream import FakeUpstream

HAND_COMMENT = "# Hand-written: owned by the platform team, ask #platform first.\n"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli_database(request: pytest.FixtureRequest) -> str:
    """The database URL of the config: "" (SQLite under the storage path) unless a test runs ON_EACH_DATABASE."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    return str(request.getfixturevalue("postgres_url"))


#: Run a test once with the default SQLite database and once on PostgreSQL.
ON_EACH_DATABASE = pytest.mark.parametrize("cli_database", DATABASES, indirect=True)


@pytest.fixture
def config_file(tmp_path: Path, upstream: FakeUpstream, cli_database: str) -> Path:
    upstream.every_name = True  # promote checks that upstream has the project: most tests are about the rest
    path = tmp_path / "config.toml"
    path.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\n'
                    'page_timeout = 10\n\n[storage]\npath = "cache"\n\n[policies]\npath = "policies"\n'
                    f'\n[database]\nurl = "{cli_database}"\n')
    return path


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return tmp_path / "policies"


async def mirror(config_file: Path, *args: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=config_file.parent)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def ok(config_file: Path, *args: str) -> str:
    run = await mirror(config_file, *args)
    assert run.code == 0, f"mirror {' '.join(args)} failed ({run.code}):\n{run.out}\n{run.err}"
    assert run.err == ""
    return run.out


async def fails(config_file: Path, *args: str) -> str:
    run = await mirror(config_file, *args)
    assert run.code == 1, f"mirror {' '.join(args)} exited {run.code}:\n{run.out}\n{run.err}"
    assert run.out == ""
    return run.err


@ON_EACH_DATABASE
async def test_promote_demote_round_trip_keeps_a_hand_written_comment(config_file, policies):
    out = await ok(config_file, "promote", "Requests", "--by", "alice", "--note", "core dependency")
    path = policies / "projects" / "requests.toml"
    assert out.startswith(f"promoted requests into 'reviewed' ({path})")
    text = path.read_text()
    assert text.startswith("# requests:") and 'by = "alice"' in text and 'note = "core dependency"' in text
    path.write_text(HAND_COMMENT + text.replace('note = "core dependency"',
                                                'note = "core dependency"  # inline, inside [review]'))
    await ok(config_file, "demote", "requests", "--by", "alice", "--reason", "unmaintained")
    text = path.read_text()
    assert HAND_COMMENT in text and "[review]" not in text
    await ok(config_file, "promote", "requests", "--by", "bob")
    text = path.read_text()
    assert text.startswith(HAND_COMMENT) and 'by = "bob"' in text
    assert load_policies(policies).of("requests").review.signed.by == "bob"
    await ok(config_file, "demote", "requests", "--by", "bob", "--reason", "done")
    assert load_policies(policies).of("requests").review is None
    assert path.read_text().startswith(HAND_COMMENT)
    out = await ok(config_file, "demote", "requests", "--by", "x", "--reason", "y")  # idempotent
    assert out.startswith("requests is not reviewed") and out.endswith(": nothing changed\n")


async def test_typo_squat_is_refused_naming_the_real_project(config_file, policies):
    err = await fails(config_file, "promote", "requets", "--by", "mallory")
    assert err.startswith(
        "mirror: refusing to promote 'requets': it looks like 'requests' (typo: one character missing")
    assert "--allow-similar" in err
    assert not (policies / "projects" / "requets.toml").exists()
    err = await fails(config_file, "promote", "requets", "--by", "mallory", "--allow-similar")
    assert "--allow-similar needs --note" in err
    out = await ok(config_file, "promote", "requets", "--by", "alice", "--allow-similar",
                   "--note", "internal package, not a typo")
    assert "looks like 'requests'" in out
    assert load_policies(policies).of("requets").review.signed.note == "internal package, not a typo"


@ON_EACH_DATABASE
async def test_vet_pins_the_advertised_hashes(config_file, policies, upstream, dists):
    wheel = upstream.add_wheel("requests", "2.32.3", dists)
    sdist = upstream.add_sdist("requests", "2.32.3", dists)
    upstream.add_wheel("requests", "2.32.4", dists)
    upstream.set_owners("requests", ["nate", "graff"])
    await ok(config_file, "promote", "requests", "--by", "alice")
    out = await ok(config_file, "vet", "requests", "2.32.3", "--by", "alice", "--note", "diff reviewed")
    assert f"{wheel.filename}  sha256 {wheel.sha256}" in out and sdist.sha256 in out
    assert "recorded (trust on first use): maintainers graff, nate" in out
    vetting = load_policies(policies).of("requests").vettings["2.32.3"]
    assert dict(vetting.files) == {wheel.filename: wheel.sha256, sdist.filename: sdist.sha256}
    text = (policies / "projects" / "requests.toml").read_text()
    assert '[vetted."2.32.3".files]' in text and 'maintainers = ["graff", "nate"]' in text


async def test_vet_of_an_unreviewed_project_fails_clearly(config_file, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    err = await fails(config_file, "vet", "requests", "1.0", "--by", "alice")
    assert err == ("mirror: requests is not reviewed, so none of its releases can be vetted; promote it first: "
                   "mirror promote requests --by NAME --note TEXT\n")


async def test_changed_maintainers_are_refused_then_overridden(config_file, policies, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    upstream.add_wheel("requests", "2.0", dists)
    upstream.set_owners("requests", ["alice", "bob"])
    await ok(config_file, "promote", "requests", "--by", "alice")
    await ok(config_file, "vet", "requests", "1.0", "--by", "alice")
    upstream.set_owners("requests", ["alice", "mallory"])
    err = await fails(config_file, "vet", "requests", "2.0", "--by", "carol")
    assert "refusing to vet requests 2.0" in err
    assert "maintainers: recorded alice, bob; upstream now alice, mallory (new: mallory; gone: bob)" in err
    assert "--override-uploaders" in err
    check = await mirror(config_file, "check")
    assert check.code == 1 and "upstream maintainers of requests changed" in check.out
    assert f"{policies / 'projects' / 'requests.toml'}:" in check.out
    out = await ok(config_file, "vet", "requests", "2.0", "--by", "carol", "--override-uploaders",
                   "--note", "bob handed over to mallory")
    assert "overridden" in out
    policy = load_policies(policies).of("requests")
    assert policy.uploaders.maintainers == ("alice", "mallory") and "2" in policy.vettings
    await ok(config_file, "check")


@ON_EACH_DATABASE
async def test_block_and_unblock_a_version(config_file, policies, upstream, dists):
    upstream.add_wheel("requests", "2.32.1", dists)
    out = await ok(config_file, "block", "requests==2.32.1", "--by", "bob", "--reason", "malicious release")
    assert out.startswith("blocked release 2.32.1 of requests in every tier")
    [block] = load_policies(policies).of("requests").blocks
    assert str(block.versions) == "==2.32.1" and block.reason == "malicious release"
    explained = json.loads(await ok(config_file, "explain", "requests", "2.32.1", "--json"))
    assert [t["admitted"] for t in explained["tiers"]] == [False, False, False]
    assert "version blocked" in explained["tiers"][0]["rule"]
    out = await ok(config_file, "unblock", "requests==2.0", "--by", "bob", "--reason", "x")
    assert out.startswith("requests==2.0 is not blocked; blocks of requests: ==2.32.1")
    await ok(config_file, "unblock", "requests==2.32.1", "--by", "bob", "--reason", "false positive")
    assert load_policies(policies).of("requests").blocks == ()


async def test_explain_text_and_with_upstream_down(config_file, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    await ok(config_file, "promote", "requests", "--by", "alice")
    out = await ok(config_file, "explain", "requests", "1.0")
    assert out.startswith("requests 1.0:") and "reviewed  OUT" in out and "cooldown" in out
    await upstream.down()
    out = await ok(config_file, "explain", "requests", "1.0")
    assert "reviewed  IN" in out and "explained from the policies alone" in out


async def test_check_names_file_and_line(config_file, policies, tmp_path):
    projects = policies / "projects"
    projects.mkdir(parents=True)
    (projects / "good.toml").write_text('[review]\nby = "alice"\n')
    out = await ok(config_file, "check")
    assert "config OK" in out and "policies OK" in out
    await ok(config_file, "check", "--offline")
    (projects / "bad.toml").write_text('# a comment\n\n[review]\nby = "alice"\nversions = ">=2,<<3"\n')
    run = await mirror(config_file, "check", "--offline")
    assert run.code == 1
    assert f"{projects / 'bad.toml'}:5: review.versions: bad version specifier" in run.out
    assert "1 problem(s)" in run.err
    (projects / "bad.toml").unlink()
    config_file.write_text(config_file.read_text() + "\n[server]\nport = 99999\n")
    run = await mirror(config_file, "check")
    assert run.code == 1 and run.out.startswith(f"{config_file}:") and "server.port" in run.out


@ON_EACH_DATABASE
async def test_audit_lists_every_action_in_order(config_file, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    upstream.set_owners("requests", ["alice"])
    steps = [("promote", "requests", "--by", "alice", "--note", "n1"),
             ("vet", "requests", "1.0", "--by", "alice", "--note", "n2"),
             ("block", "requests==1.1", "--by", "bob", "--reason", "n3"),
             ("unblock", "requests==1.1", "--by", "bob", "--reason", "n4"),
             ("unvet", "requests", "1.0", "--by", "carol", "--reason", "n5"),
             ("demote", "requests", "--by", "carol", "--reason", "n6"),
             ("block", "other", "--by", "dave", "--reason", "n7")]
    for step in steps:
        await ok(config_file, *step)
    lines = (await ok(config_file, "audit")).splitlines()
    assert lines[0].split()[:6] == ["TIME", "(UTC)", "ACTOR", "ACTION", "TARGET", "BEFORE"]
    rows = [line.split()[2:5] for line in lines[1:]]
    assert rows == [["alice", "promote", "requests"], ["alice", "vet", "requests==1.0"],
                    ["alice", "record-uploaders", "requests"], ["bob", "block", "requests==1.1"],
                    ["bob", "unblock", "requests==1.1"], ["carol", "unvet", "requests==1.0"],
                    ["carol", "demote", "requests"], ["dave", "block", "other"]]
    assert lines[1].endswith("n1") and "(none) → [review]" in lines[1] and lines[-1].endswith("n7")
    only = (await ok(config_file, "audit", "requests")).splitlines()
    assert len(only) == 8 and "other" not in "\n".join(only)
    full = await ok(config_file, "audit", "requests", "--full")
    assert '[vetted."1.0".files]' in full and "note: n5" in full


@ON_EACH_DATABASE
async def test_demand_table(config_file):
    config = load_config(config_file)
    engine = await open_database(config.database_settings)
    try:
        await DemandLog(engine).add({("reviewed", "flask", ""): (3, time.time()),
                                     ("vetted", "requests", "2.0"): (5, time.time())})
    finally:
        await engine.dispose()
    lines = (await ok(config_file, "demand")).splitlines()
    assert lines[0].split()[:4] == ["TIER", "PROJECT", "VERSION", "REQUESTS"]
    assert lines[1].split()[:4] == ["vetted", "requests", "2.0", "5"]
    assert lines[2].split()[:4] == ["reviewed", "flask", "(any)", "3"]
    lines = (await ok(config_file, "demand", "--tier", "reviewed")).splitlines()
    assert len(lines) == 2 and "flask" in lines[1]


@ON_EACH_DATABASE
async def test_eight_concurrent_promotes_all_land(config_file, policies):
    names = ["alpha-svc", "bravo-svc", "charlie-svc", "delta-svc", "echo-svc", "foxtrot-svc", "golf-svc", "hotel-svc"]
    runs = await asyncio.gather(*(mirror(config_file, "promote", n, "--by", f"user{i}") for i, n in enumerate(names)))
    assert [r.code for r in runs] == [0] * 8, [r.err for r in runs]
    assert sorted(p.stem for p in (policies / "projects").glob("*.toml")) == sorted(names)
    assert all(load_policies(policies).of(n).review is not None for n in names)
    engine = await open_database(load_config(config_file).database_settings)
    try:
        assert sorted(r.target for r in await AuditLog(engine).records()) == sorted(names)
    finally:
        await engine.dispose()


async def test_usage_errors_exit_2(config_file):
    run = await mirror(config_file, "promote", "requests")
    assert run.code == 2 and "--by" in run.err
    run = await mirror(config_file, "demand", "--tier", "gold")
    assert run.code == 2


async def test_a_reader_that_goes_away_ends_the_command_quietly(config_file, upstream, dists):
    """``mirror explain … | head -1``: the reader closes the pipe; the command exits 0 without a traceback (one
    handler in mirror.cli.main, for every command)."""
    upstream.add_wheel("requests", "1.0", dists)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mirror", "explain", "requests", "1.0", "--config", str(config_file),
            stdout=write, stderr=asyncio.subprocess.PIPE, cwd=config_file.parent)
    finally:
        os.close(write)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0 and err == b""
    shell = await asyncio.create_subprocess_shell(
        f"set -o pipefail; {shlex.quote(sys.executable)} -m mirror explain requests 1.0 --config "
        f"{shlex.quote(str(config_file))} | head -1", executable="/bin/bash",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=config_file.parent)
    out, err = await asyncio.wait_for(shell.communicate(), timeout=120)
    assert shell.returncode == 0 and out == b"requests 1.0:\n" and err == b""
