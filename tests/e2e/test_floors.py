"""No silent downgrades, end to end with real resolvers (pip, uv, pip-compile, poetry) against a running server.

The world (tests/support/floorworld.py): toolkit 1.x needs nothing, toolkit 2.x needs helper. With helper missing
from ``reviewed``, every resolver backtracks to toolkit 1.1 and succeeds when toolkit has no floor (before); with
the floor promote records, each fails naming helper (after). Floors live in the policy files, so they survive
policy reloads; /healthz counts the hole; demote refuses to open it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from ..support import floorworld, installers
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, wait_until

BY = ("--by", "alice", "--reason", "test")
TOOLS = ("pip", "uv", "pip-compile", "poetry")
#: What each says, as docs/policies.md quotes it (the before/after table of the floors section): with no floor it
#: succeeds on toolkit 1.1; with the floor it fails with this line.
BEFORE = {"pip": "pip is looking at multiple versions of toolkit", "uv": "+ toolkit==1.1",
          "pip-compile": "toolkit==1.1", "poetry": "Writing lock file"}
AFTER = {"pip": f"Could not find a version that satisfies the requirement {floorworld.NEEDS} (from toolkit)",
         "uv": "Because helper was not found in the package registry and all versions of toolkit depend on "
               "helper>=1.0,<3",
         "pip-compile": f"Could not find a version that satisfies the requirement {floorworld.NEEDS} (from toolkit)",
         "poetry": "because no versions of helper match >=1.0,<3"}


@pytest.fixture
async def server(tmp_path: Path, upstream: FakeUpstream, dists: Path):
    floorworld.publish(upstream, dists)
    config = make_config(tmp_path, upstream.url)
    config = replace(config, dependencies=replace(config.dependencies, holes_delay=0))
    server = await MirrorServer(config).start()
    yield server
    await server.stop()


def need_resolvers() -> None:
    """pip-tools and poetry are in the test extra: skip without them (fail under CI=true)."""
    for module, name in (("piptools", "pip-tools"), ("poetry", "poetry")):
        if importlib.util.find_spec(module) is None:
            message = f"{name} is not installed: pip install '.[test]' (it is in the test extra)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)


POETRY_PROJECT = """\
[project]
name = "probe"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["toolkit"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "mirror"
url = "{index}"
priority = "primary"
"""


def poetry_locked(result: installers.Result, project: Path) -> dict[str, str]:
    """{name: version} of the packages ``poetry lock`` wrote (empty when it wrote no lock file)."""
    lock = project / "poetry.lock"
    if not lock.is_file():
        return {}
    packages = tomllib.loads(lock.read_text())["package"]
    return {p["name"]: p["version"] for p in packages}


async def resolve(tool: str, index: str, tmp_path: Path, n: int) -> installers.Result:
    """Install (pip, uv), compile (pip-compile) or lock (poetry, in ``target-N``) ``toolkit`` with ``index`` as the
    only index."""
    if tool == "poetry":
        project = tmp_path / f"target-{n}"
        project.mkdir()
        (project / "pyproject.toml").write_text(POETRY_PROJECT.format(index=index))
        home = tmp_path / f"poetry-{n}"
        env = installers.clean_env(POETRY_CACHE_DIR=str(home / "cache"), POETRY_CONFIG_DIR=str(home / "config"),
                                   POETRY_DATA_DIR=str(home / "data"), POETRY_VIRTUALENVS_CREATE="false",
                                   PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
        return await installers.run(sys.executable, "-m", "poetry", "lock", "--no-interaction", "--directory",
                                    project, env=env, timeout=installers.INSTALL_TIMEOUT)
    if tool == "pip-compile":
        spec = tmp_path / f"in-{n}" / "requirements.in"
        spec.parent.mkdir()
        spec.write_text("toolkit\n")
        return await installers.run(sys.executable, "-m", "piptools", "compile", "--quiet", "--no-header",
                                    "--index-url", index, "--cache-dir", tmp_path / f"cache-{n}",
                                    "--output-file", "-", spec, timeout=installers.INSTALL_TIMEOUT)
    return await installers.install(tool, index, tmp_path / f"target-{n}", "toolkit", check=False)


async def holes(http: aiohttp.ClientSession, base: str, version: str) -> dict:
    """/healthz's count of holes once counted for the policies of ``version``."""
    async def counted() -> dict | None:
        async with http.get(base + "/healthz") as resp:
            found = (await resp.json())["holes"]
        return found["counts"] if found["policy_version"] == version else None
    return await wait_until(counted, f"holes counted for policy version {version}")


async def test_a_hole_fails_every_resolver_with_a_floor_instead_of_an_old_release(
        server: MirrorServer, tmp_path, upstream, http, policies: PolicyDir):
    need_resolvers()
    config = write_config(tmp_path, upstream)
    (await cli("promote", "toolkit", "--by", "alice", config=config)).ok()  # floor 2.1: the newest admitted
    (await cli("promote", "helper", "--by", "alice", config=config)).ok()
    version = await policies.applied(http, server.base)
    assert await holes(http, server.base, version) == {"reviewed": 0, "vetted": 0}

    refused = await cli("demote", "helper", *BY, config=config)
    assert refused.code == 1 and f"toolkit 2.1 needs {floorworld.NEEDS}: helper is not in 'reviewed'" in refused.err
    (await cli("demote", "helper", *BY, "--force", config=config)).ok()
    version = await policies.applied(http, server.base)
    assert await holes(http, server.base, version) == {"reviewed": 1, "vetted": 0}
    check = await cli("check", config=config)
    assert check.code == 1 and f"hole in 'reviewed': toolkit 2.1 needs {floorworld.NEEDS}: helper is not in " \
                               "'reviewed'" in check.out

    # before: no floor: every resolver silently falls back to toolkit 1.1
    (await cli("floor", "toolkit", "none", *BY, config=config)).ok()
    await policies.applied(http, server.base)
    index = server.index("reviewed")
    n = 0
    for tool in TOOLS:
        n += 1
        result = await resolve(tool, index, tmp_path, n)
        assert result.returncode == 0, f"{tool}: {result.output}"
        assert BEFORE[tool] in result.output, f"{tool}: {result.output}"
        if tool == "pip-compile":
            assert "toolkit==1.1" in result.output, result.output
        elif tool == "poetry":
            assert poetry_locked(result, tmp_path / f"target-{n}") == {"toolkit": "1.1"}, result.output
        else:
            assert installers.installed(tmp_path / f"target-{n}") == {"toolkit": "1.1"}, tool

    # after: the floor: each fails, naming helper
    (await cli("floor", "toolkit", "2.1", *BY, config=config)).ok()
    await policies.applied(http, server.base)
    for tool in TOOLS:
        n += 1
        result = await resolve(tool, index, tmp_path, n)
        assert result.returncode != 0, f"{tool} succeeded: {result.output}"
        assert AFTER[tool] in result.output, f"{tool}: {result.output}"
        assert not installers.installed(tmp_path / f"target-{n}"), tool
        assert not poetry_locked(result, tmp_path / f"target-{n}"), tool
        assert not poetry_locked(result, tmp_path / f"target-{n}"), tool

    # floors live in the policy files: a reload of another change keeps them
    tiers = tmp_path / "policies" / "tiers.toml"
    tiers.write_text("[reviewed]\ncooldown_days = 7\n")
    await policies.applied(http, server.base)
    async with http.get(index + "toolkit/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}) as resp:
        versions = sorted({f["filename"].split("-")[1] for f in (await resp.json())["files"]})
    assert versions == ["2.1"]
