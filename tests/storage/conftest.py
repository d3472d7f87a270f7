"""The file store under test, opened on each backend (a directory, a bucket on a real S3-compatible server)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from mirror.adapters.stores import open_file_store
from mirror.config import StorageConfig
from mirror.services.filestore import FileStore

MIB = 1024 * 1024


@pytest.fixture
def small_parts(storage_config: StorageConfig) -> StorageConfig:
    """The backend's config with S3's smallest parts, so a file of a few MiB is uploaded in several."""
    return replace(storage_config, multipart_threshold=5 * MIB, multipart_chunk_size=5 * MIB)


@pytest.fixture
async def store(small_parts: StorageConfig) -> AsyncIterator[FileStore]:
    opened = open_file_store(small_parts, stale_after=3600)
    await opened.prepare()
    yield opened
    await opened.close()


@pytest.fixture
def visible(backend: str, small_parts: StorageConfig, request: pytest.FixtureRequest) -> Callable[[], list[str]]:
    """Everything stored that a reader could see (file names or object keys), temp files excluded."""
    if backend == "filesystem":
        files = small_parts.path / "files"
        return lambda: sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())
    server = request.getfixturevalue("s3_server")
    return lambda: [k.removeprefix(small_parts.prefix + "files/") for k in server.keys(small_parts.bucket)]


@pytest.fixture
def temp_files(small_parts: StorageConfig) -> Callable[[], list[str]]:
    tmp = small_parts.path / "tmp"
    return lambda: sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


def digests(data: bytes, *algorithms: str) -> dict[str, str]:
    return {a: hashlib.new(a, data).hexdigest() for a in algorithms or ("sha256",)}
