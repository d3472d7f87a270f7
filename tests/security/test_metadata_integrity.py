"""Issue 9, point 2: metadata is extracted only from bytes that passed every check, keyed by the sha256 the
mirror computed from them, and a wrong entry cannot be kept (the latest extraction wins; an entry whose
files are not in the cache is not advertised; rows of the earlier table are never read)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from mirror.adapters.db import PageStore, open_database
from mirror.config import DatabaseConfig

from ..support.dists import build_wheel, read_wheel_metadata, sha256_of
from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.policies import review, vetted
from .conftest import get, sha512_of

TIERS = ("all", "reviewed", "vetted")


@pytest.fixture
def genuine(upstream, tmp_path: Path) -> FakeFile:
    # no PEP 658 file upstream: the mirror extracts METADATA from the wheel itself
    return upstream.add_wheel("chain", "1.0", tmp_path / "genuine", requires_dist=["chain-base<2"],
                              with_metadata=False)


async def files_of(http, mirror, tier: str) -> list[dict]:
    status, body, _ = await get(http, f"{mirror.base}/{tier}/simple/chain/", Accept=JSON_TYPE)
    assert status == 200, body
    return json.loads(body)["files"]


async def test_metadata_of_refused_bytes_never_reaches_the_genuine_file(upstream, policies, start_mirror, http,
                                                                       genuine, tmp_path):
    policies.write_project("chain", review(cooldown_days=0), vetted("1.0", {genuine.filename: genuine.sha256}))
    evil = build_wheel(tmp_path / "evil", "chain", "1.0", requires_dist=["evil-dep"]).read_bytes()
    # 1. the attack of point 1: pinned sha256, plus a sha512 of the evil wheel, which upstream serves
    upstream.add_file("chain", FakeFile(genuine.filename, evil, advertised_sha256=genuine.sha256,
                                        extra_hashes={"sha512": sha512_of(evil)}))
    mirror = await start_mirror(index_ttl=0)
    for tier in TIERS:
        status, body, error = await get(http, f"{mirror.base}/{tier}/files/chain/{genuine.filename}")
        assert status != 200 or error is not None, tier
    # 2. upstream serves the genuine file again
    upstream.add_file("chain", genuine)
    status, body, error = await get(http, f"{mirror.base}/all/files/chain/{genuine.filename}")
    assert (status, error, body) == (200, None, genuine.content)
    want = read_wheel_metadata(tmp_path / "genuine" / genuine.filename)
    for tier in TIERS:
        (f,) = await files_of(http, mirror, tier)
        assert f["core-metadata"] == {"sha256": sha256_of(want)}, tier
        status, body, _ = await get(http, f"{mirror.base}/{tier}/files/chain/{genuine.filename}.metadata")
        assert (status, body) == (200, want), tier
        assert b"evil-dep" not in body and b"Requires-Dist: chain-base<2" in body


async def test_a_later_extraction_replaces_a_wrong_record(tmp_path):
    engine = await open_database(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"))
    try:
        store = PageStore(engine)
        await store.record_extracted_metadata("a" * 64, "b" * 64)  # wrong
        await store.record_extracted_metadata("a" * 64, "c" * 64)  # extracted again from the verified bytes
        assert await store.extracted_metadata_for(["a" * 64]) == {"a" * 64: "c" * 64}
    finally:
        await engine.dispose()


async def test_a_record_whose_metadata_is_not_cached_is_not_advertised(upstream, start_mirror, http, genuine):
    mirror = await start_mirror(index_ttl=0)
    status, _, _ = await get(http, f"{mirror.base}/all/files/chain/{genuine.filename}")
    assert status == 200
    (f,) = await files_of(http, mirror, "all")
    extracted = f["core-metadata"]["sha256"]
    # A record pointing at metadata the cache does not hold (a stray row, a cache cleaned by hand):
    mirror.storage.path_for("sha256", extracted).unlink()
    await mirror.stop()
    await mirror.start()
    (f,) = await files_of(http, mirror, "all")
    assert f["core-metadata"] is False  # nothing the mirror could serve is advertised


async def test_rows_of_the_earlier_table_are_never_read(upstream, start_mirror, http, genuine):
    """A database written by an earlier version may hold metadata extracted from other bytes under the genuine
    sha256 (first write won): the mirror no longer reads that table at all."""
    mirror = await start_mirror()
    storage = mirror.storage
    await mirror.stop()
    poisoned = b"Metadata-Version: 2.1\nName: chain\nVersion: 1.0\nRequires-Dist: evil-dep\n\n"
    digest = hashlib.sha256(poisoned).hexdigest()
    path = storage.path_for("sha256", digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(poisoned)
    wheel = storage.path_for("sha256", genuine.sha256)
    wheel.parent.mkdir(parents=True, exist_ok=True)
    wheel.write_bytes(genuine.content)
    with sqlite3.connect(mirror.config.storage.path / "mirror.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS extracted_metadata (file_sha256 VARCHAR(64) PRIMARY KEY, "
                   "metadata_sha256 VARCHAR(64) NOT NULL)")
        db.execute("INSERT INTO extracted_metadata VALUES (?, ?)", (genuine.sha256, digest))
    await mirror.start()
    (f,) = await files_of(http, mirror, "all")
    assert f["core-metadata"] is False
    status, body, _ = await get(http, f"{mirror.base}/all/files/chain/{genuine.filename}.metadata")
    assert status == 404  # not listed, so not served
