"""One contract, every backend: what the services may rely on from a FileStore.

Each test runs against the file system store and against the S3 store talking to a real S3-compatible
server process (moto's standalone server), through the Protocol only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from mirror.core.errors import IntegrityError, StorageError
from mirror.core.stored import StoredFile
from mirror.services.filestore import FileStore, read_bytes

from .conftest import MIB, digests


async def put(store: FileStore, data: bytes, expected: dict[str, str] | None = None,
              chunk: int = 64 * 1024) -> StoredFile:
    session = store.new_write(expected or digests(data), len(data))
    await session.open()
    for i in range(0, len(data), chunk):
        await session.write(data[i:i + chunk])
    return await session.commit("test://file")


async def content(store: FileStore, stored: StoredFile, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(stored, start, end)])


async def test_verified_write_is_invisible_until_committed(store, visible, temp_files):
    data = os.urandom(300_000)
    want = digests(data, "sha256", "sha512")
    session = store.new_write(want, len(data))
    await session.open()
    await session.write(data[:100_000])
    assert await store.find(want["sha256"]) is None and visible() == []  # nothing while writing
    await session.write(data[100_000:])
    assert await store.find_verified(want) is None  # written, not yet verified
    stored = await session.commit("test://file")
    assert (stored.sha256, stored.size) == (want["sha256"], len(data))
    assert dict(stored.digests) == want
    assert await content(store, stored) == data
    found = await store.find(want["sha256"])
    assert found is not None and found.size == len(data) and found.sha256 == want["sha256"]
    assert temp_files() == []


async def test_readers_follow_the_temp_file_until_it_is_stored(store):
    data = b"abcdefgh" * 1000
    session = store.new_write(digests(data), len(data))
    await session.open()
    await session.write(data[:4000])
    reader = await session.open_reader()
    assert reader is not None
    assert await reader.read(0, 10_000) == data[:4000]
    await session.write(data[4000:])
    assert await reader.read(4000, 10_000) == data[4000:]
    await reader.close()
    await session.commit("test://file")
    assert await session.open_reader() is None  # gone: readers go to the store now


@pytest.mark.parametrize("bad", ["digest", "short", "long", "one of two digests"])
async def test_refused_write_leaves_nothing(store, visible, temp_files, bad):
    data = os.urandom(50_000)
    want = digests(data, "sha256", "sha512")
    body = {"digest": os.urandom(50_000), "short": data[:-1], "long": data + b"!",
            "one of two digests": data}[bad]
    if bad == "one of two digests":
        want["sha512"] = hashlib.sha512(b"other bytes").hexdigest()
    session = store.new_write(want, len(data))
    await session.open()
    with pytest.raises(IntegrityError):  # a body longer than expected is refused as it is written
        await session.write(body)
        await session.commit("test://file")
    await session.discard()
    assert visible() == [] and temp_files() == []
    assert await store.find(want["sha256"]) is None


async def test_concurrent_writers_of_one_digest(store, visible, temp_files):
    data = os.urandom(200_000)
    results = await asyncio.gather(*(put(store, data, chunk=10_000 + i) for i in range(8)))
    assert {r.sha256 for r in results} == {hashlib.sha256(data).hexdigest()}
    assert len(visible()) == 1 and temp_files() == []
    stored = await store.find(results[0].sha256)
    assert stored is not None and await content(store, stored) == data


@pytest.mark.parametrize(("start", "end"), [(0, None), (0, 1), (5, 6), (1000, 4096), (4095, 4096), (7, 7)])
async def test_byte_ranges(store, start, end):
    data = bytes(range(256)) * 16
    stored = await put(store, data)
    assert await content(store, stored, start, end) == data[start:end]
    assert await read_bytes(store, stored, start, end if end is not None else len(data)) == data[start:end]


async def test_find_by_every_advertised_hash(store):
    data = os.urandom(10_000)
    both = digests(data, "sha256", "sha512")
    stored = await put(store, data, both)
    assert (await store.find_verified(both)).sha256 == stored.sha256
    only512 = await store.find_verified({"sha512": both["sha512"]})  # a page without a sha256
    assert only512 is not None and only512.sha256 == stored.sha256 and only512.size == len(data)
    assert await content(store, only512) == data
    # A hash these bytes were never checked against proves nothing, right or wrong.
    assert await store.find_verified({**both, "sha384": hashlib.sha384(data).hexdigest()}) is None
    assert await store.find_verified({**both, "sha512": "0" * 128}) is None
    # Verified again with the extra hash, the file is found by it too.
    await put(store, data, {**both, "sha384": hashlib.sha384(data).hexdigest()})
    assert await store.find_verified({**both, "sha384": hashlib.sha384(data).hexdigest()}) is not None
    assert await store.find_verified(both) is not None


async def test_present_pairs(store):
    wheel, meta = await put(store, b"wheel bytes"), await put(store, b"metadata bytes")
    missing = "f" * 64
    pairs = {wheel.sha256: meta.sha256, missing: meta.sha256, meta.sha256: missing}
    assert await store.present(pairs) == {wheel.sha256: meta.sha256}


async def test_delete_removes_every_name(store, visible):
    data = os.urandom(20_000)
    both = digests(data, "sha256", "sha512")
    stored = await put(store, data, both)
    assert await store.delete(stored.sha256) is True
    assert visible() == []
    assert await store.find_verified(both) is None
    assert await store.find_verified({"sha512": both["sha512"]}) is None
    assert await store.delete(stored.sha256) is False
    with pytest.raises(StorageError):
        await content(store, stored)


async def test_big_file_in_parts(store, backend, small_parts, request):
    data = os.urandom(12 * MIB + 12345)  # three parts of 5 MiB at most
    stored = await put(store, data, chunk=256 * 1024)
    assert stored.size == len(data)
    got = hashlib.sha256()
    async for chunk in store.read(stored):
        got.update(chunk)
    assert got.hexdigest() == stored.sha256
    assert await content(store, stored, 5 * MIB - 10, 5 * MIB + 10) == data[5 * MIB - 10:5 * MIB + 10]
    if backend == "s3":  # S3's ETag of a multipart object ends in "-<number of parts>"
        key = f"{small_parts.prefix}files/sha256/{stored.sha256[:2]}/{stored.sha256[2:4]}/{stored.sha256}"
        head = request.getfixturevalue("s3_server").client().head_object(Bucket=small_parts.bucket, Key=key)
        assert head["ETag"].strip('"').endswith("-3")


async def test_empty_file(store):
    stored = await put(store, b"")
    assert stored.size == 0 and await content(store, stored) == b""


async def test_health(store):
    report = await store.health()
    assert report["ok"] is True and report["problem"] is None and report["backend"] in ("filesystem", "s3")


@pytest.mark.parametrize("digest", ["../../etc/passwd", "A" * 64 + "/", "g" * 64, "", "ab"])
def test_malformed_digests_are_refused(store, digest):
    with pytest.raises(ValueError):
        store.new_write({"sha256": digest}, None)
