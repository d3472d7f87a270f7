"""Prefetching through the running server: once a client has read a release's metadata, the pages of its
dependencies are fetched (and prepared for that client's tier) before the client asks for them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mirror.web.state import SERVICES

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer, make_config

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
async def mirror(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[MirrorServer]:
    """The mirror with prefetching on (``[upstream] prefetch_concurrency``; off by default)."""
    server = MirrorServer(make_config(tmp_path, upstream.url, prefetch_concurrency=4))
    await server.start()
    yield server
    await server.stop()


async def test_prefetching_is_off_by_default(tmp_path: Path, upstream: FakeUpstream) -> None:
    server = MirrorServer(make_config(tmp_path / "default", upstream.url))
    await server.start()
    try:
        assert server.app[SERVICES].prefetcher is None
    finally:
        await server.stop()


async def test_dependency_pages_are_warm_when_the_installer_asks(mirror, upstream, dists, http):
    upstream.add_wheel("top-app", "1.0", dists, requires_dist=["dep-lib>=1", "opt-lib; extra == 'x'"])
    upstream.add_wheel("dep-lib", "1.0", dists)
    upstream.add_wheel("opt-lib", "1.0", dists)
    async with http.get(mirror.index() + "top-app/", headers={"Accept": JSON}) as resp:
        page = json.loads(await resp.read())
    [wheel] = page["files"]
    async with http.get(mirror.index() + "top-app/" + wheel["url"] + ".metadata") as resp:
        assert resp.status == 200 and b"Requires-Dist: dep-lib" in await resp.read()
    prefetcher = mirror.app[SERVICES].prefetcher
    assert prefetcher is not None
    for _ in range(100):  # background work: wait for it, bounded
        if upstream.count("/simple/dep-lib/") >= 1 and prefetcher.fetched >= 1:
            break
        await asyncio.sleep(0.05)
    assert upstream.count("/simple/dep-lib/") == 1
    assert upstream.count("/simple/opt-lib/") == 0  # behind an extra: only fetched when asked for
    async with http.get(mirror.index() + "dep-lib/", headers={"Accept": JSON}) as resp:
        assert resp.status == 200
        assert float(resp.headers["Server-Timing"].split("dur=")[1]) >= 0
    assert upstream.count("/simple/dep-lib/") == 1  # the installer's request was served from the warm page
