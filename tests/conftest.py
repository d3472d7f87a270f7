"""Shared fixtures: a fake upstream, the mirror running against it, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .support.fake_upstream import FakeUpstream
from .support.mirror_server import MirrorServer, make_config


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    """Where tests build their wheels and sdists."""
    path = tmp_path / "dists"
    path.mkdir()
    return path


@pytest.fixture
async def mirror(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[MirrorServer]:
    server = MirrorServer(make_config(tmp_path, upstream.url))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        yield session


@pytest.fixture
def new_target(tmp_path: Path):
    """Fresh, not yet existing install directories: target-1, target-2, ..."""
    made: list[Path] = []

    def make() -> Path:
        made.append(tmp_path / f"target-{len(made) + 1}")
        return made[-1]

    return make


@pytest.fixture
async def revalidating(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[MirrorServer]:
    """A mirror whose pages are never fresh: every request revalidates with upstream."""
    server = MirrorServer(make_config(tmp_path, upstream.url, index_ttl=0, project_list_ttl=0))
    await server.start()
    yield server
    await server.stop()
