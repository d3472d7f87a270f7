"""``mirror vet --lock``: a team's lock file becomes the ``vetted`` tier, pinned to the lock's hashes, refused file
by file where upstream differs; then pip and uv install the lock-vetted set from ``vetted`` with --require-hashes."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from mirror.adapters.policy_dir import load_policies

from ..support import depworld, installers
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    depworld.publish(upstream, dists)
    return write_config(tmp_path, upstream)


def vetted(config: Path) -> dict[str, dict[str, dict[str, str]]]:
    policies = load_policies(config.parent / "policies", allow_missing=True)
    return {n: {v: dict(vet.files) for v, vet in p.vettings.items()} for n, p in policies.projects.items()
            if p.vettings}


async def test_a_compiled_lock_becomes_the_vetted_tier_and_installs_with_require_hashes(
        config, tmp_path, mirror: MirrorServer, http: aiohttp.ClientSession, new_target, upstream):
    (await cli("promote", "webapp", "--with-deps", "--yes", "--by", "alice", config=config)).ok()
    await PolicyDir(config.parent / "policies").applied(http, mirror.base)
    source = tmp_path / "requirements.in"
    source.write_text("webapp\ntinybuild  # builds aiostuff from its sdist\n")
    locked = tmp_path / "requirements.txt"
    compiled = await installers.uv("pip", "compile", source, "--generate-hashes", "--index-url",
                                   mirror.index("reviewed"), "-o", locked, "--python", installers.sys.executable)
    compiled.check()
    run = await cli("vet", "--lock", locked, "--by", "alice", "--note", "lock of our app", config=config)
    out = run.ok()
    assert out.splitlines()[-1] == f"8 release(s) vetted, 0 unchanged or refused, 0 refusal(s) from {locked}"
    assert vetted(config)["escaping"] == {"2.5": {"escaping-2.5-py3-none-any.whl": upstream_sha(upstream, "escaping",
                                                                                                 "2.5")}}
    assert set(vetted(config)) == set(depworld.CLOSURE)
    again = (await cli("vet", "--lock", locked, "--by", "bob", config=config)).ok()
    assert again.count("is already vetted by alice") == 8 and again.count(": nothing changed") == 8

    await PolicyDir(config.parent / "policies").applied(http, mirror.base)
    for tool in ("pip", "uv"):
        target = new_target()
        await installers.install(tool, mirror.index("vetted"), target, "--require-hashes", "-r", locked)
        assert installers.installed(target) == {**depworld.INSTALLED, "tinybuild": "1.0"}, tool


def upstream_sha(upstream: FakeUpstream, name: str, version: str) -> str:
    [wheel] = upstream.files_of(name, version)
    return wheel.sha256


def pylock(entries: list[tuple[str, str, str, str]]) -> str:
    """A PEP 751 lock of (name, version, wheel file name, sha256) entries."""
    text = 'lock-version = "1.0"\ncreated-by = "tests"\n'
    for name, version, filename, sha in entries:
        text += (f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\nindex = "https://up.example/simple/"\n'
                 f'[[packages.wheels]]\nname = "{filename}"\nurl = "https://up.example/{filename}"\n'
                 f'hashes = {{sha256 = "{sha}"}}\n')
    return text


async def test_a_lock_with_a_wrong_hash_is_refused_file_by_file(config, tmp_path, upstream):
    good = upstream_sha(upstream, "escaping", "2.5")
    wrong = "f" * 64
    lock = tmp_path / "pylock.toml"
    lock.write_text(pylock([("escaping", "2.5", "escaping-2.5-py3-none-any.whl", good),
                            ("routing", "1.3", "routing-1.3-py3-none-any.whl", wrong),
                            ("sniffio", "1.3", "sniffio-1.3-cp399-none-any.whl", good)]))
    run = await cli("vet", "--lock", lock, "--by", "bob", config=config)
    assert run.code == 1 and run.out == ""
    assert run.err == (f"mirror: not reviewed: escaping, routing, sniffio; promote them first, or in the same run: "
                       f"mirror vet --lock {lock} --promote --by NAME --note TEXT\n")
    run = await cli("vet", "--lock", lock, "--promote", "--by", "bob", "--note", "team lock", config=config)
    assert run.code == 1
    real = upstream_sha(upstream, "routing", "1.3")
    assert (f"refused routing 1.3: routing-1.3-py3-none-any.whl: the lock's sha256 {wrong} differs from upstream's "
            f"{real}") in run.out
    assert "refused sniffio 1.3: sniffio-1.3-cp399-none-any.whl: upstream lists no such file of this release" in run.out
    assert re.search(r"vetted escaping 2.5: 1 file\(s\) pinned in .*escaping.toml", run.out)
    assert run.out.splitlines()[-1] == f"1 release(s) vetted, 2 unchanged or refused, 2 refusal(s) from {lock}"
    assert vetted(config) == {"escaping": {"2.5": {"escaping-2.5-py3-none-any.whl": good}}}
    policies = load_policies(config.parent / "policies")
    assert {n for n, p in policies.projects.items() if p.review} == {"escaping", "routing", "sniffio"}


async def test_a_requirements_file_without_hashes_cannot_be_vetted(config, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("escaping==2.5\nrouting>=1\n")
    run = await cli("vet", "--lock", requirements, "--by", "bob", config=config)
    assert run.code == 1 and f"{requirements}: escaping, routing not pinned with == and --hash" in run.err
    run = await cli("vet", "escaping", "--lock", requirements, "--by", "bob", config=config)
    assert run.code == 1 and "give either PROJECT VERSION or --lock FILE, not both" in run.err
