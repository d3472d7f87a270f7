"""Shared fixtures: a fake upstream, the mirror running against it, an HTTP client."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from mirror.config import StorageConfig

from .support.databases import database_url, postgres_url  # noqa: F401 - fixtures for every test module
from .support.fake_upstream import FakeUpstream
from .support.mirror_server import MirrorServer, make_config
from .support.s3_server import S3Server, unavailable

#: The file store backends a test parametrized with ``backend`` runs against.
BACKENDS = ("filesystem", "s3")


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


@pytest.fixture(scope="session")
def _s3_server_or_reason() -> Iterator[S3Server | str]:
    """One S3-compatible server for the whole run (each test uses its own bucket), or why it cannot start."""
    try:
        server = S3Server.start()
    except RuntimeError as exc:
        yield str(exc)
        return
    yield server
    server.stop()


@pytest.fixture
def s3_server(_s3_server_or_reason: S3Server | str) -> S3Server:
    """The running S3-compatible server; skips (fails under CI=true) when it cannot run here."""
    if isinstance(_s3_server_or_reason, str):
        unavailable(_s3_server_or_reason)
    assert isinstance(_s3_server_or_reason, S3Server)
    return _s3_server_or_reason


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def storage_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StorageConfig:
    """``[storage]`` for the backend under test: a directory under ``tmp_path``, or a fresh bucket."""
    local = StorageConfig(path=tmp_path / "cache")
    if backend == "filesystem":
        return local
    server: S3Server = request.getfixturevalue("s3_server")
    return server.storage_config(local, server.new_bucket())


@pytest.fixture
async def any_mirror(tmp_path: Path, upstream: FakeUpstream, storage_config: StorageConfig
                     ) -> AsyncIterator[MirrorServer]:
    """The mirror with files in each backend (parametrized by ``backend``)."""
    server = MirrorServer(make_config(tmp_path, upstream.url, storage=storage_config))
    await server.start()
    yield server
    await server.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a mutation run (tools/mutation.py), after the fork server has collected the tests: freeze what is
    alive, so that the test session forked for each mutant does not scan it again in every garbage collection
    (a third of a session's time otherwise)."""
    if "MUTANT_UNDER_TEST" in os.environ and session.config.option.collectonly:
        gc.freeze()

