"""The file system store on a directory several nodes share: temp files, links, lookups that fail."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest

from mirror.adapters.spool import host_token, sweep
from mirror.adapters.storage import LocalFileStore
from mirror.core.errors import StorageError


@pytest.fixture
async def local(tmp_path):
    store = LocalFileStore(tmp_path / "cache", stale_after=600)
    await store.prepare()
    return store


def make(directory, name, age=0.0):
    path = directory / name
    path.write_bytes(b"partial")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_sweep_removes_only_provably_dead_temp_files(tmp_path):
    me, parent = os.getpid(), os.getppid()
    host = host_token()
    kept = [
        make(tmp_path, f"{host}.{parent}.a.part"),               # a live process of this host (our parent)
        make(tmp_path, f"other-node.{parent}.b.part"),           # another host: its pids mean nothing here
        make(tmp_path, "other-node.999999999.c.part", age=60),   # ... even one that does not run here
        make(tmp_path, f"{host}.{me}.d.part", age=60),           # our own pid: maybe a container with our name
        make(tmp_path, "999999999.e.part", age=60),              # an older version's name: the age decides
    ]
    dead = [
        make(tmp_path, f"{host}.999999999.f.part"),              # this host, a pid that no longer runs
        make(tmp_path, f"other-node.{parent}.g.part", age=700),  # anyone's, silent longer than the bound
        make(tmp_path, "whatever", age=700),
    ]
    assert sweep(tmp_path, stale_after=600) == len(dead)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in dead)


async def test_prepare_sweeps_and_a_live_download_survives_another_node_starting(tmp_path, local):
    data = b"x" * 1000
    session = local.new_write({"sha256": hashlib.sha256(data).hexdigest()}, len(data))
    await session.open()
    await session.write(data[:500])
    assert session.name.startswith(f"{host_token()}.{os.getpid()}.")
    # Another node (same directory, another host) starts: its sweep keeps our live temp file.
    await asyncio.to_thread(sweep, local.tmp_dir, 600, host="other-node", pid=1)
    await session.write(data[500:])
    stored = await session.commit("u")
    assert stored.local_path is not None and stored.local_path.read_bytes() == data


async def test_concurrent_commits_keep_one_inode_and_valid_links(local):
    data = os.urandom(100_000)
    want = {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}

    async def write() -> None:
        session = local.new_write(want, len(data))
        await session.open()
        await session.write(data)
        await session.commit("u")

    await asyncio.gather(*(write() for _ in range(10)))
    main, alias = local.path_for("sha256", want["sha256"]), local.path_for("sha512", want["sha512"])
    assert main.samefile(alias) and main.read_bytes() == data
    assert list(local.tmp_dir.iterdir()) == []
    assert [p for p in local.files_dir.rglob(".*")] == []  # no leftover link temp names


async def test_lookup_errors_other_than_absence_are_storage_errors(local, monkeypatch):
    digest = "a" * 64
    assert await local.find(digest) is None

    def broken(*_args, **_kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "stat", broken)
    with pytest.raises(StorageError):
        await local.find(digest)


async def test_health_reports_an_unusable_directory(local):
    assert (await local.health())["ok"] is True
    local.tmp_dir.rmdir()
    local.tmp_dir.write_bytes(b"not a directory")
    report = await local.health()
    assert report["ok"] is False and report["problem"]
