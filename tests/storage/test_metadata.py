"""Wheel METADATA extracted through the file store, on each backend, with byte ranges."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest

from mirror.services.filestore import read_bytes
from mirror.services.metadata import MetadataExtractor, RangeFile, read_wheel_metadata

from ..support.dists import build_wheel
from ..support.dists import read_wheel_metadata as reference
from .test_contract import put


class Recorded:
    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    async def record_extracted_metadata(self, wheel: str, metadata: str) -> None:
        self.records[wheel] = metadata


async def test_extracted_and_stored_like_any_file(store, tmp_path):
    path = build_wheel(tmp_path, "demo-app", "1.0", requires_dist=["requests>=2"])
    wheel = await put(store, path.read_bytes())
    changed: list[str] = []
    pages = Recorded()
    digest = await MetadataExtractor(store, pages, changed.append).extract_verified("demo-app", wheel)  # type: ignore[arg-type]
    want = reference(path)
    assert digest == hashlib.sha256(want).hexdigest() and pages.records == {wheel.sha256: digest}
    assert changed == ["demo-app"]
    stored = await store.find(digest)
    assert stored is not None and await read_bytes(store, stored, 0, stored.size) == want


async def test_a_big_wheel_is_read_in_a_few_ranges(store, tmp_path):
    """Only the zip's directory and the METADATA entry are read, whatever the wheel's size."""
    path = tmp_path / "big-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("big/data.bin", os.urandom(6 * 1024 * 1024), compress_type=zipfile.ZIP_STORED)
        archive.writestr("big-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: big\nVersion: 1.0\n")
    wheel = await put(store, path.read_bytes(), chunk=1024 * 1024)
    reads: list[tuple[int, int]] = []
    real_read = store.read

    def counting(stored, start=0, end=None):
        reads.append((start, end))
        return real_read(stored, start, end)

    store.read = counting  # type: ignore[method-assign]
    data = await MetadataExtractor(store, Recorded(), lambda _p: None).read_metadata(wheel)  # type: ignore[arg-type]
    assert data is not None and b"Name: big" in data
    assert sum(end - start for start, end in reads) < 1024 * 1024 and len(reads) <= 6


@pytest.mark.parametrize("junk", [b"", b"not a zip at all", b"PK\x05\x06" + b"\0" * 18])
async def test_not_a_wheel_gives_none(store, junk):
    stored = await put(store, junk)
    assert await MetadataExtractor(store, Recorded(), lambda _p: None).read_metadata(stored) is None  # type: ignore[arg-type]


def test_range_file_budget_bounds_hostile_archives():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("x-1.0.dist-info/METADATA", "Name: x\n" * 10_000)
    blob = data.getvalue()
    fetched: list[int] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append(end - start)
        return blob[start:end]

    assert read_wheel_metadata(RangeFile(len(blob), fetch)) is not None
    assert read_wheel_metadata(RangeFile(len(blob), fetch, budget=100)) is None  # refused, not read


async def test_many_extractions_at_once_never_starve_the_stores_reads(store, tmp_path):
    """Each extraction's thread waits for store reads the event loop makes, and a local store's reads run in the
    default executor: extractions must not take its threads, or enough of them at once wait forever (uv
    downloading a set's wheels together did that)."""
    import asyncio

    wheels = [await put(store, build_wheel(tmp_path, f"demo{i}", "1.0").read_bytes()) for i in range(3)]
    extractor = MetadataExtractor(store, Recorded(), lambda _p: None)
    loop = asyncio.get_running_loop()
    executor_threads = min(32, (os.cpu_count() or 1) + 4)  # the default executor's size
    try:
        # more extractions at once than the default executor has threads (its threads are all taken meanwhile)
        blockers = [loop.run_in_executor(None, __import__("time").sleep, 0.2) for _ in range(executor_threads)]
        reads = [extractor.read_metadata(wheels[i % 3]) for i in range(3 * executor_threads)]
        found = await asyncio.wait_for(asyncio.gather(*reads, *blockers), timeout=60)
    finally:
        extractor.close()
    assert all(data is not None and b"Name: demo" in data for data in found[:len(reads)])
