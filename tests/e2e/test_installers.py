"""End to end: real pip and real uv install through the mirror's ``/all/simple/`` from the fake upstream.

Every install goes to a fresh ``--target`` directory with no installer cache and only the mirror as
index, so what lands in the target was resolved from the mirror's pages and downloaded through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest

from ..support import installers
from ..support.dists import dist_basename, sha256_of
from ..support.fake_upstream import FakeUpstream
from ..support.installers import Result, installed
from ..support.mirror_server import MirrorServer

Install = Callable[..., Awaitable[Result]]

INSTALLERS = ["pip", "uv"]


def _install_cmd(tool: str, mirror: MirrorServer, target: Path) -> Install:
    """``install(*args)`` runs ``tool`` against the mirror's ``all`` tier into ``target``."""

    async def run(*args: str | Path, check: bool = True) -> Result:
        return await installers.install(tool, mirror.index(), target, *args, check=check)

    return run


def imported_version(target: Path, name: str) -> str:
    """``__version__`` of the installed top-level module (the wheels built by ``dists`` set it)."""
    text = (target / dist_basename(name) / "__init__.py").read_text()
    return text.split('"')[1]


def upstream_file_paths(upstream: FakeUpstream) -> list[str]:
    """Paths of the distribution and ``.metadata`` files the upstream served (its request log)."""
    return [p for _, p in upstream.requests if p.startswith("/files/")]


def publish_chain(upstream: FakeUpstream, dists: Path) -> None:
    """app 1.0 → chain-lib>=2 → chain-base<2, with decoy versions the constraints must skip."""
    upstream.add_wheel("chain-base", "1.5", dists)
    upstream.add_wheel("chain-base", "2.0", dists)  # excluded by chain-lib's "<2"
    upstream.add_wheel("chain-lib", "1.0", dists)  # excluded by app's ">=2"
    upstream.add_wheel("chain-lib", "2.1", dists, requires_dist=["chain-base<2"])
    upstream.add_wheel("chain-app", "1.0", dists, requires_dist=["chain-lib>=2"])


CHAIN = {"chain_app": "1.0", "chain_lib": "2.1", "chain_base": "1.5"}


# --------------------------------------------------------------------------- 1. dependencies


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_dependency_chain(tool: str, upstream: FakeUpstream, mirror: MirrorServer,
                                dists: Path, new_target: Callable[[], Path]) -> None:
    publish_chain(upstream, dists)
    target = new_target()
    await _install_cmd(tool, mirror, target)("chain-app")
    assert installed(target) == CHAIN
    for name, version in CHAIN.items():
        assert imported_version(target, name) == version


# --------------------------------------------------------------------------- 2. yanked


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_yanked_version(tool: str, upstream: FakeUpstream, mirror: MirrorServer,
                              dists: Path, new_target: Callable[[], Path]) -> None:
    upstream.add_wheel("yanky", "1.0", dists)
    upstream.add_wheel("yanky", "2.0", dists, yanked="broken build of 2.0")

    target = new_target()
    await _install_cmd(tool, mirror, target)("--no-deps", "yanky")
    assert installed(target) == {"yanky": "1.0"}

    target = new_target()
    result = await _install_cmd(tool, mirror, target)("--no-deps", "yanky==2.0")
    assert installed(target) == {"yanky": "2.0"}
    assert "yanked" in result.output.lower(), result.output
    # The reason travels from upstream through the mirror's page to the installer.
    assert "broken build of 2.0" in result.output, result.output


# --------------------------------------------------------------------------- 3. requires-python


@pytest.mark.parametrize(("tool", "incompatible"), [
    ("pip", ">=4"),
    ("pip", "<3"),
    ("uv", ">=4"),
    # uv deliberately ignores upper bounds of Requires-Python (it would pick a "<3" release on
    # 3.11), so "<3" is only checked with pip; the mirror serves it all the same.
])  # fmt: skip
async def test_requires_python_filtering(tool: str, incompatible: str, upstream: FakeUpstream,
                                         mirror: MirrorServer, dists: Path,
                                         new_target: Callable[[], Path]) -> None:
    upstream.add_wheel("pyreq", "1.0", dists, requires_python=">=3.6")
    upstream.add_wheel("pyreq", "2.0", dists, requires_python=">=3.8")  # newest compatible
    upstream.add_wheel("pyreq", "3.0", dists, requires_python=incompatible)

    target = new_target()
    await _install_cmd(tool, mirror, target)("--no-deps", "pyreq")
    assert installed(target) == {"pyreq": "2.0"}
    # Filtered on the page's requires-python: neither 3.0's metadata nor its wheel was wanted.
    fetched = upstream_file_paths(upstream)
    assert not [p for p in fetched if "/pyreq-3.0-" in p], fetched


# --------------------------------------------------------------------------- 4. names


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_non_normalized_name(tool: str, upstream: FakeUpstream, mirror: MirrorServer,
                                   dists: Path, new_target: Callable[[], Path],
                                   http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("My.App", "1.0", dists)
    upstream.add_wheel("My.App", "1.1", dists)

    async with http.get(mirror.index() + "My_App/", allow_redirects=False) as resp:
        assert resp.status == 301
        location = urljoin(str(resp.url), resp.headers["Location"])
    assert location == mirror.index() + "my-app/"

    target = new_target()
    await _install_cmd(tool, mirror, target)("--no-deps", "My_App")
    assert installed(target) == {"my_app": "1.1"}


# --------------------------------------------------------------------------- 5. upload-time


@pytest.mark.parametrize(("tool", "option"), [
    ("uv", "--exclude-newer"),
    ("pip", "--uploaded-prior-to"),
])  # fmt: skip
async def test_upload_time_cutoff(tool: str, option: str, upstream: FakeUpstream,
                                  mirror: MirrorServer, dists: Path,
                                  new_target: Callable[[], Path]) -> None:
    """The mirror passes PEP 700 ``upload-time`` through: the installer's date cutoff works."""
    old = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)
    new = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    upstream.add_wheel("timely", "1.0", dists, upload_time=old)
    upstream.add_wheel("timely", "2.0", dists, upload_time=new)

    target = new_target()
    await _install_cmd(tool, mirror, target)("--no-deps", option, "2022-01-01T00:00:00Z",
                                             "timely")
    assert installed(target) == {"timely": "1.0"}

    # Control: without the cutoff the newer release wins.
    target = new_target()
    await _install_cmd(tool, mirror, target)("--no-deps", "timely")
    assert installed(target) == {"timely": "2.0"}


# --------------------------------------------------------------------------- 6. hashes


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_require_hashes(tool: str, upstream: FakeUpstream, mirror: MirrorServer,
                              dists: Path, tmp_path: Path,
                              new_target: Callable[[], Path]) -> None:
    lib = upstream.add_wheel("hashed-lib", "1.0", dists)
    upstream.add_wheel("hashed-lib", "1.1", dists)
    assert lib.sha256 == sha256_of(dists / lib.filename)

    good = tmp_path / "good.txt"
    good.write_text(f"hashed-lib==1.0 --hash=sha256:{sha256_of(dists / lib.filename)}\n")
    target = new_target()
    await _install_cmd(tool, mirror, target)("--require-hashes", "-r", good)
    assert installed(target) == {"hashed_lib": "1.0"}

    bad = tmp_path / "bad.txt"
    bad.write_text(f"hashed-lib==1.0 --hash=sha256:{'0' * 64}\n")
    target = new_target()
    result = await _install_cmd(tool, mirror, target)("--require-hashes", "-r", bad, check=False)
    assert result.returncode != 0, result.output
    assert "hash" in result.output.lower(), result.output
    assert installed(target) == {}


# --------------------------------------------------------------------------- 7. metadata + cache


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_metadata_and_cache_hit(tool: str, upstream: FakeUpstream, any_mirror: MirrorServer,
                                      dists: Path, new_target: Callable[[], Path],
                                      http: aiohttp.ClientSession) -> None:
    """On every file store backend (``any_mirror``)."""
    mirror = any_mirror
    publish_chain(upstream, dists)

    target = new_target()
    await _install_cmd(tool, mirror, target)("chain-app")
    assert installed(target) == CHAIN

    fetched = upstream_file_paths(upstream)
    # Resolution used PEP 658 metadata: the mirror fetched .metadata files for the installer...
    metadata = {p.rsplit("/", 1)[1] for p in fetched if p.endswith(".whl.metadata")}
    assert {"chain_app-1.0-py3-none-any.whl.metadata",
            "chain_lib-2.1-py3-none-any.whl.metadata",
            "chain_base-1.5-py3-none-any.whl.metadata"} <= metadata, fetched
    # ...and the wheels themselves, each once (none of the decoy versions).
    wheels = [p.rsplit("/", 1)[1] for p in fetched if p.endswith(".whl")]
    assert sorted(wheels) == sorted(f"{n}-{v}-py3-none-any.whl" for n, v in CHAIN.items()), fetched

    # The mirror's .metadata is the wheel's METADATA, byte for byte.
    async with http.get(f"{mirror.base}/all/files/chain-lib/chain_lib-2.1-py3-none-any.whl.metadata") as resp:
        assert resp.status == 200
        body = await resp.read()
    assert b"Requires-Dist: chain-base<2" in body

    # A second install, fresh target and no installer cache: every file comes from the mirror's cache.
    upstream.reset_log()
    target = new_target()
    await _install_cmd(tool, mirror, target)("chain-app")
    assert installed(target) == CHAIN
    assert upstream.count("/files/") == 0, upstream.requests


# --------------------------------------------------------------------------- 8. HTML-only upstream


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_html_only_upstream(tool: str, upstream: FakeUpstream, mirror: MirrorServer,
                                  dists: Path, new_target: Callable[[], Path]) -> None:
    upstream.html_only = True
    publish_chain(upstream, dists)
    upstream.add_wheel("chain-lib", "3.0", dists, yanked=True, requires_dist=["chain-base<2"])

    target = new_target()
    await _install_cmd(tool, mirror, target)("chain-app")
    assert installed(target) == CHAIN
