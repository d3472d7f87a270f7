"""A CLI that never surprises: config discovery, read-only commands that create nothing, explain of what does not
exist, warnings about broken policy files, complete hints, --version, serve's one-line errors, long lists
summarized, the demand queue (fast, served entries dropped, --apply), ?format= short forms."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import DemandLog
from mirror.adapters.policy_dir import load_policies
from mirror.cli.main import build_parser
from mirror.config import load_config

from ..support import depworld
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import JSON_TYPE, FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, review


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    depworld.publish(upstream, dists)
    home = tmp_path / "etc"
    home.mkdir()
    return write_config(home, upstream)


def entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


async def test_config_is_found_the_documented_way_and_reading_creates_nothing(config, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # No --config, no $MIRROR_CONFIG, no ./config.toml: built-in defaults, with a warning naming where it looked.
    run = await cli("check", "--offline", cwd=elsewhere)
    assert run.code == 1
    assert run.err.startswith(f"mirror: warning: no configuration file (no --config, no $MIRROR_CONFIG, no "
                              f"{elsewhere / 'config.toml'}): using the built-in defaults")
    assert f"{elsewhere / 'policies'}: the policy directory does not exist" in run.out
    for args in (("audit",), ("demand",), ("demand", "--tier", "vetted")):
        run = await cli(*args, cwd=elsewhere)  # no database: said, not created
        assert run.code == 1 and "warning: no configuration file" in run.err, args
        assert "no mirror tables yet (`mirror db upgrade` or `mirror serve` creates them)" in run.err, args
    assert entries(elsewhere) == set()  # no cache, no database, no policy directory
    # $MIRROR_CONFIG names the file; paths in it are relative to it.
    run = await cli("explain", "framework", cwd=elsewhere, env={"MIRROR_CONFIG": str(config)})
    assert run.code == 0 and run.err == "" and run.out.startswith("framework:")
    assert f"the policy directory {config.parent / 'policies'} does not exist" in run.out
    # ./config.toml is found in the working directory.
    run = await cli("check", "--offline", cwd=config.parent)
    assert run.code == 1 and run.err.startswith("mirror check: 1 problem(s) in ")
    assert run.out.startswith("config OK: config.toml\n")
    assert entries(elsewhere) == set() and entries(config.parent) == {"config.toml"}
    run = await cli("audit", "--config", tmp_path / "nope.toml", cwd=elsewhere)
    assert run.code == 1 and run.err == f"mirror: configuration error: {tmp_path / 'nope.toml'}: file not found\n"
    # A command that changes policies creates the directory, with a .gitignore for its lock file.
    (await cli("promote", "framework", "--by", "alice", config=config)).ok()
    gitignore = config.parent / "policies" / ".gitignore"
    assert ".lock\n" in gitignore.read_text() and (config.parent / "policies" / ".lock").exists()


async def test_explain_says_when_upstream_has_no_such_project_or_version(config):
    run = await cli("explain", "ghost-project", "--json", config=config)
    explained = json.loads(run.ok())
    assert [(t["tier"], t["admitted"], t["rule"]) for t in explained["tiers"]] == [
        (tier, False, "upstream has no project ghost-project") for tier in ("all", "reviewed", "vetted")]
    run = await cli("explain", "framework", "9.9", config=config)
    assert run.ok().startswith("framework 9.9:\n  all       OUT  upstream lists no file of framework 9.9\n")
    assert "IN " not in run.out


async def test_an_edit_warns_when_another_policy_file_is_broken(config):
    broken = config.parent / "policies" / "projects" / "broken.toml"
    broken.parent.mkdir(parents=True)
    broken.write_text('[review]\nby = "x"\nversions = ">=1,<<2"\n')
    run = await cli("promote", "framework", "--by", "alice", config=config)
    out = run.ok()
    assert out.startswith("promoted framework into 'reviewed'")
    assert f"warning: {broken}, line 3, key 'review.versions'" in out
    assert "a running server keeps serving the last good policy set, without this change, until that file is " \
           "fixed" in out
    run = await cli("promote", "framework", "--by", "alice", config=config)
    assert run.ok().endswith(": nothing changed\n")


async def test_every_hint_is_a_complete_command_that_parses(config, upstream, dists):
    policies = PolicyDir(config.parent / "policies")
    [escaping] = upstream.files_of("escaping", "2.5")
    policies.write_project("escaping", review(), '[[block]]\nversions = "==3.0"\nreason = "bad"\nby = "bob"\n',
                           f'[vetted."2.5"]\nby = "alice"\n\n[vetted."2.5".files]\n"{escaping.filename}" = '
                           f'"{"0" * 64}"\n')
    policies.write_project("routing", review())
    policies.write_project("sniffio", '[[block]]\nreason = "typo-squat"\nby = "bob"\n')
    hints: list[str] = []
    for args in (("webapp",), ("routing",), ("routing", "1.3"), ("escaping", "3.0"), ("escaping", "2.5"),
                 ("sniffio",)):
        explained = json.loads((await cli("explain", *args, "--json", config=config)).ok())
        for tier in explained["tiers"]:
            hints += [tier["change"]] + [f["change"] for f in tier["files"] if f.get("change")]
    run = await cli("vet", "framework", "2.1", "--by", "alice", config=config)
    hints.append(run.err.split("promote it first: ")[1])
    run = await cli("promote", "webap", "--by", "alice", config=config)
    hints.append(run.err.split("(a project about to be published): ")[1])
    run = await cli("promote", "requets", "--by", "alice", config=config)
    hints.append(run.err.split("say why and promote it with: ")[1])
    commands = {h.split(" (")[0] for hint in hints if hint for h in _commands(hint)}
    assert len(commands) >= 10, commands
    parser = build_parser()
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "mirror", command
        parser.parse_args(words[1:])  # SystemExit (a usage error) fails the test


def _commands(text: str) -> list[str]:
    """Every ``mirror ...`` command in a hint (some hints chain two: "X, then after review Y")."""
    found = []
    for part in text.replace("; or ", ", then ").split(", then "):
        part = part.removeprefix("after review ").strip().rstrip(".")
        if "mirror " in part:
            found.append(part[part.index("mirror "):])
    return found


async def test_version_and_serve_errors_are_one_line(config, tmp_path):
    run = await cli("--version")
    assert run.code == 0 and run.out.startswith("mirror ") and run.out.count("\n") == 1
    run = await cli("serve", "--port", "70000", config=config)
    assert (run.code, run.out, run.err) == (1, "", "mirror: --port 70000: not a port number (0-65535; 0 = any free "
                                                   "port)\n")
    (config.parent / "policies").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = await cli("serve", "--port", str(port), config=config, timeout=60)
    assert run.code == 1 and "Traceback" not in run.err
    assert run.err.splitlines()[-1] == (f"mirror: cannot listen on 127.0.0.1:{port}: the port is in use (is another "
                                        "server running there?); choose another with --port or [server] port")


async def test_long_lists_are_summarized(config, upstream, dists):
    tags = [f"cp3{m}-cp3{m}-manylinux_2_17_{arch}" for m in range(8, 14) for arch in ("x86_64", "aarch64")]
    tags += [f"cp3{m}-cp3{m}-win_amd64" for m in range(8, 14)]
    for tag in tags:
        upstream.add_wheel("bignum", "1.0", dists, tag=tag, upload_time=depworld.OLD)
    for minor in range(40):
        upstream.add_wheel("bignum", f"0.{minor}", dists, upload_time=depworld.OLD)
    (await cli("promote", "bignum", "--by", "alice", config=config)).ok()
    out = (await cli("vet", "bignum", "1.0", "--by", "alice", config=config)).ok()
    assert out.startswith(f"vetted bignum 1.0: {len(tags)} file(s) pinned in ")
    assert f"  … and {len(tags) - 10} more file(s): see the policy file" in out
    assert max(map(len, out.splitlines())) < 200 and len(out.splitlines()) < 30  # 10 files, 2 lines each
    run = await cli("vet", "bignum", "9.0", "--by", "alice", config=config)
    assert run.err.startswith("mirror: upstream lists no files of bignum 9.0; available versions: 33 earlier, 0.33,")
    assert len(run.err) < 300


async def test_demand_shows_a_request_within_a_second_drops_what_is_served_and_applies(
        config, tmp_path, upstream, http: aiohttp.ClientSession):
    server = MirrorServer(load_config(config))
    await server.start()
    try:
        engine = await open_database(load_config(config).database_settings)
        asked = time.monotonic()
        async with http.get(server.index("reviewed") + "framework/") as resp:
            assert resp.status == 404
        while not await DemandLog(engine).entries():
            assert time.monotonic() - asked < 1.0, "the request is not in the demand table after a second"
            await asyncio.sleep(0.02)
        await engine.dispose()
        async with http.get(server.index("reviewed") + "ghost-project/") as resp:
            assert resp.status == 404
        lines = (await cli("demand", config=config)).ok().splitlines()
        assert [line.split()[:4] for line in lines[1:]] == [["reviewed", "framework", "(any)", "1"]]
        run = await cli("demand", "--apply", "--by", "carol", config=config, stdin="y\n")
        out = run.ok()
        assert "promote framework (1 request(s) from reviewed)? [y/N]" in run.err
        assert "promoted framework into 'reviewed'" in out
        policy = load_policies(config.parent / "policies").of("framework")
        assert policy is not None and policy.review is not None and policy.review.signed.by == "carol"
        assert (await cli("demand", config=config)).ok() == "no demand recorded\n"  # served now: dropped
        assert "framework" in (await cli("demand", "--all", config=config)).ok()
        again = await cli("demand", "--apply", "--by", "carol", "--yes", config=config)
        assert again.ok() == "the demand queue holds no project to promote: nothing changed\n"
    finally:
        await server.stop()


async def test_format_short_forms(mirror: MirrorServer, upstream: FakeUpstream, dists, http):
    upstream.add_wheel("demo", "1.0", dists)
    for short, media in (("json", JSON_TYPE), ("html", "application/vnd.pypi.simple.v1+html")):
        async with http.get(mirror.index() + f"demo/?format={short}") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith(media), short
    async with http.get(mirror.index() + "demo/?format=xml") as resp:
        assert resp.status == 406
