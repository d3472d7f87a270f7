"""The content-addressed file store: only verified bytes become visible, atomically."""

import hashlib
import os

import pytest

from mirror.adapters.storage import Storage
from mirror.core.errors import IntegrityError


@pytest.fixture
def storage(tmp_path):
    s = Storage(tmp_path / "cache")
    s.prepare()
    return s


async def test_verified_file_is_committed(storage):
    data = b"hello wheel" * 1000
    digest = hashlib.sha256(data).hexdigest()
    temp = storage.new_temp({"sha256": digest}, len(data))
    await temp.open()
    await temp.write(data[:500])
    assert await storage.find("sha256", digest) is None  # not visible while downloading
    await temp.write(data[500:])
    path = (await temp.commit("u")).path
    assert path.read_bytes() == data
    assert await storage.find("sha256", digest) == path
    assert list(storage.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("bad", ["digest", "short", "long"])
async def test_mismatch_is_refused_and_nothing_kept(storage, bad):
    data = b"x" * 100
    digest = hashlib.sha256(data).hexdigest()
    body = {"digest": b"y" * 100, "short": data[:50], "long": data + b"!"}[bad]
    temp = storage.new_temp({"sha256": digest}, len(data))
    await temp.open()
    with pytest.raises(IntegrityError):  # a body longer than expected is refused as it is written
        await temp.write(body)
        await temp.commit("u")
    await temp.discard()
    assert await storage.find("sha256", digest) is None
    assert list(storage.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("digest", ["../../etc/passwd", "A" * 64 + "/", "g" * 64, "", "ab"])
def test_path_for_rejects_anything_but_hex(storage, digest):
    with pytest.raises(ValueError):
        storage.path_for("sha256", digest)


@pytest.mark.parametrize("algorithm", ["blake3", "shake_128", "SHA256", "sha-256"])
def test_path_for_rejects_unknown_algorithm(storage, algorithm):
    with pytest.raises(ValueError):
        storage.path_for(algorithm, "a" * 64)


def test_prepare_removes_partial_files_of_dead_processes(storage):
    dead = storage.tmp_dir / "999999999.abcd.part"  # no such pid
    dead.write_bytes(b"partial")
    alive = storage.tmp_dir / f"{os.getppid()}.abcd.part"  # our parent is alive
    alive.write_bytes(b"sibling worker's download")
    assert storage.prepare() == 1
    assert not dead.exists() and alive.exists()
