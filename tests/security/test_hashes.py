"""Issue 9, point 1: every hash upstream advertises must match the bytes, in every tier; through `vetted` the
served bytes' sha256 is the pin whatever else upstream claims; md5/sha1-only files are never listed; a hash
the mirror cannot compute is not shown to clients."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from ..support.dists import build_wheel, sha256_of
from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.policies import review, vetted
from .conftest import get, regular_files, sha512_of

TIERS = ("all", "reviewed", "vetted")


def pin(policies, f: FakeFile, project: str = "pinned") -> None:
    policies.write_project(project, review(cooldown_days=0), vetted("1.0", {f.filename: f.sha256}))


@pytest.fixture
def genuine(upstream, tmp_path: Path) -> FakeFile:
    return upstream.add_wheel("pinned", "1.0", tmp_path / "genuine", with_metadata=False)


@pytest.fixture
def evil(tmp_path: Path) -> bytes:
    """Other bytes under the same filename: the wheel with a dependency the reviewer never saw."""
    return build_wheel(tmp_path / "evil", "pinned", "1.0", requires_dist=["evil-dep"]).read_bytes()


def attack(upstream, genuine: FakeFile, evil: bytes) -> None:
    """The page keeps the pinned sha256 and adds a sha512 of other bytes, which it serves."""
    upstream.add_file("pinned", FakeFile(genuine.filename, evil, advertised_sha256=genuine.sha256,
                                         extra_hashes={"sha512": sha512_of(evil)}))


async def assert_not_served(http, mirror, filename: str, bad: bytes) -> None:
    for tier in TIERS:
        status, body, error = await get(http, f"{mirror.base}/{tier}/files/pinned/{filename}")
        assert status != 200 or error is not None, f"{tier}: a complete answer was served"
        assert body != bad and len(body) < len(bad), tier
        assert status != 500, body


def assert_nothing_of(mirror, data: bytes) -> None:
    names = {p.name for p in regular_files(mirror)}
    assert sha256_of(data) not in names and sha512_of(data) not in names, names


async def test_pinned_sha256_plus_sha512_of_other_bytes_serves_and_caches_nothing(
        upstream, policies, start_mirror, http, genuine, evil, caplog):
    caplog.set_level(logging.INFO, logger="mirror.files")
    pin(policies, genuine)
    attack(upstream, genuine, evil)
    mirror = await start_mirror()
    await assert_not_served(http, mirror, genuine.filename, evil)
    assert regular_files(mirror) == []  # nothing cached, under any algorithm
    assert any(r.levelno == logging.ERROR and "refused" in r.getMessage() for r in caplog.records)


async def test_the_attack_on_a_warm_cache_serves_nothing_either(upstream, policies, start_mirror, http, genuine,
                                                                 evil, caplog):
    caplog.set_level(logging.INFO, logger="mirror.files")
    pin(policies, genuine)
    mirror = await start_mirror(index_ttl=0)  # every request sees upstream's current page
    status, body, error = await get(http, f"{mirror.base}/vetted/files/pinned/{genuine.filename}")
    assert (status, error, body) == (200, None, genuine.content)
    attack(upstream, genuine, evil)
    # The genuine bytes are cached under the pinned sha256, but nobody checked them against the new sha512:
    # the page's hashes disagree with each other, so no tier serves either set of bytes.
    await assert_not_served(http, mirror, genuine.filename, evil)
    assert_nothing_of(mirror, evil)
    assert any("refused" in r.getMessage() for r in caplog.records)


async def test_genuine_bytes_with_a_sha512_of_other_bytes_are_refused(upstream, policies, start_mirror, http,
                                                                      genuine, caplog):
    caplog.set_level(logging.INFO, logger="mirror.files")
    pin(policies, genuine)
    upstream.add_file("pinned", FakeFile(genuine.filename, genuine.content,
                                         extra_hashes={"sha512": sha512_of(b"other bytes")}))
    mirror = await start_mirror()
    await assert_not_served(http, mirror, genuine.filename, genuine.content)
    assert regular_files(mirror) == []
    assert any("refused" in r.getMessage() and "sha512" in r.getMessage() for r in caplog.records)


async def test_every_matching_hash_is_checked_and_a_cache_hit_needs_them_all(upstream, policies, start_mirror,
                                                                              http, genuine):
    f = upstream.add_file("pinned", FakeFile(genuine.filename, genuine.content, extra_hashes={
        "sha512": sha512_of(genuine.content), "md5": hashlib.md5(genuine.content).hexdigest()}))
    pin(policies, f)
    mirror = await start_mirror(index_ttl=0)
    for tier in TIERS:
        status, body, error = await get(http, f"{mirror.base}/{tier}/files/pinned/{f.filename}")
        assert (status, error, body) == (200, None, f.content), tier
    downloads = upstream.count("/files/", "GET")
    assert downloads == 1  # one verified download, then cache hits through every tier
    # Every algorithm names the same verified bytes.
    storage = mirror.storage
    assert storage.path_for("sha512", sha512_of(f.content)).samefile(storage.path_for("sha256", f.sha256))
    # A hash upstream adds later was never checked against the cached bytes: they are verified again once.
    f.extra_hashes = {"sha384": hashlib.sha384(f.content).hexdigest()}
    status, body, _ = await get(http, f"{mirror.base}/all/files/pinned/{f.filename}")
    assert (status, body) == (200, f.content) and upstream.count("/files/", "GET") == downloads + 1
    await get(http, f"{mirror.base}/vetted/files/pinned/{f.filename}")
    assert upstream.count("/files/", "GET") == downloads + 1


UNVERIFIABLE = {
    "md5 only": lambda c: {"sha256": None, "md5": hashlib.md5(c).hexdigest()},
    "sha1 only": lambda c: {"sha256": None, "sha1": hashlib.sha1(c).hexdigest()},
    "md5 and sha1": lambda c: {"sha256": None, "md5": hashlib.md5(c).hexdigest(), "sha1": hashlib.sha1(c).hexdigest()},
    "malformed sha512": lambda c: {"sha512": "ab" * 10},
    "sha512 not hex": lambda c: {"sha512": "zz" * 64},
    "two spellings disagree": lambda c: {"SHA256": "0" * 64},
    "unknown algorithm only": lambda c: {"sha256": None, "blake3": "ab" * 32},
}


@pytest.mark.parametrize("case", sorted(UNVERIFIABLE))
async def test_files_the_mirror_cannot_verify_are_listed_in_no_tier(upstream, policies, start_mirror, http,
                                                                   genuine, case, tmp_path):
    listed = upstream.add_wheel("pinned", "2.0", tmp_path / "other", with_metadata=False)
    hashes = UNVERIFIABLE[case](genuine.content)
    upstream.add_file("pinned", FakeFile(genuine.filename, genuine.content, extra_hashes=hashes))
    policies.write_project("pinned", review(cooldown_days=0),
                           vetted("1.0", {genuine.filename: genuine.sha256}),
                           vetted("2.0", {listed.filename: listed.sha256}))
    mirror = await start_mirror()
    for tier in TIERS:
        status, body, _ = await get(http, f"{mirror.base}/{tier}/simple/pinned/", Accept=JSON_TYPE)
        assert status == 200, (tier, body)
        names = [f["filename"] for f in json.loads(body)["files"]]
        assert names == [listed.filename], (tier, names)  # the verifiable file is listed, this one is not
        status, _, _ = await get(http, f"{mirror.base}/{tier}/files/pinned/{genuine.filename}")
        assert status == 404, tier
    assert upstream.count("/files/") == 0


async def test_a_hash_the_mirror_cannot_compute_is_not_shown(upstream, policies, start_mirror, http, genuine):
    upstream.add_file("pinned", FakeFile(genuine.filename, genuine.content, extra_hashes={"blake3": "ab" * 32}))
    pin(policies, genuine)
    mirror = await start_mirror()
    for tier in TIERS:
        _, body, _ = await get(http, f"{mirror.base}/{tier}/simple/pinned/", Accept=JSON_TYPE)
        (f,) = json.loads(body)["files"]
        assert f["hashes"] == {"sha256": genuine.sha256}, tier
        _, html, _ = await get(http, f"{mirror.base}/{tier}/simple/pinned/", Accept="text/html")
        assert b"blake3" not in html and genuine.sha256.encode() in html


def test_hash_rules() -> None:
    from mirror.core.hashes import checked_hashes

    good = {"sha256": "AB" * 32, "sha512": "cd" * 64, "md5": "ef" * 16, "blake3": "x"}
    assert checked_hashes(good) == {"sha256": "ab" * 32, "sha512": "cd" * 64, "md5": "ef" * 16}
    assert checked_hashes({"sha256": "ab" * 32, "SHA256": "AB" * 32}) == {"sha256": "ab" * 32}  # same value
    assert checked_hashes({"sha256": "ab" * 32, "SHA256": "cd" * 32}) is None  # disagree
    assert checked_hashes({"sha3_256": "ab" * 32, "blake2b": "cd" * 64}) is not None
    for bad in ({}, None, {"md5": "ab" * 16}, {"sha1": "ab" * 20}, {"sha256": "ab" * 31},
                {"sha256": "ab" * 32, "sha224": "zz" * 28}, {"blake3": "ab" * 32}, {"shake_128": "ab" * 16}):
        assert checked_hashes(bad) is None, bad
