"""Cache behaviour against the fake upstream: hits, restarts, stale-if-error, verification, single flight; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import aiohttp
import pytest

# Every test here runs once on SQLite and once on PostgreSQL: these fixtures replace `mirror`, `revalidating` and
# `any_mirror` (whose tests run on each storage backend and each database).
from ..support.databases import (  # noqa: F401
    any_mirror_on_each_database,
    mirror_on_each_database,
    revalidating_on_each_database,
)
from ..support.dists import read_wheel_metadata
from ..support.fake_upstream import FakeFile
from ..support.mirror_server import MirrorServer, make_config
from ..support.stores import stored_names, temp_files

JSON = "application/vnd.pypi.simple.v1+json"
WHEEL = "demo_app-1.0-py3-none-any.whl"


@pytest.fixture
def wheel(upstream, dists):
    return upstream.add_wheel("demo-app", "1.0", dists)


@pytest.fixture
def project(upstream, wheel):
    return upstream


def cached_files(mirror):
    return sorted(stored_names(mirror.config.storage))


async def fetch(http, url, **headers):
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        return resp, await resp.read()


def page(mirror, name="demo-app"):
    return mirror.index() + f"{name}/"


def file_url(mirror, name=WHEEL):
    return f"{mirror.base}/all/files/demo-app/{name}"


async def test_second_request_is_served_without_upstream(any_mirror, project, http):
    mirror = any_mirror
    r1, b1 = await fetch(http, page(mirror), Accept=JSON)
    await fetch(http, file_url(mirror))
    project.reset_log()
    r2, b2 = await fetch(http, page(mirror), Accept=JSON)
    resp, body = await fetch(http, file_url(mirror))
    assert b1 == b2 and resp.status == 200
    assert project.requests == []


async def test_restart_keeps_pages_and_files(any_mirror, project, http):
    mirror = any_mirror
    _, before = await fetch(http, page(mirror), Accept=JSON)
    _, wheel = await fetch(http, file_url(mirror))
    await mirror.restart()
    await project.down()
    resp, after = await fetch(http, page(mirror), Accept=JSON)
    assert resp.status == 200 and after == before and "X-Mirror-Stale" not in resp.headers
    resp, body = await fetch(http, file_url(mirror))
    assert resp.status == 200 and body == wheel


@pytest.mark.parametrize("fault", ["down", "500", "timeout", "garbage"])
async def test_stale_page_served_when_upstream_fails(revalidating, project, http, fault, caplog):
    _, good = await fetch(http, page(revalidating), Accept=JSON)
    if fault == "down":
        await project.down()
    elif fault == "500":
        project.fail_status = 500
    elif fault == "timeout":
        project.delay = 6  # longer than the page timeout of the test config
    else:
        project.garbage = True
    caplog.set_level(logging.WARNING, logger="mirror.cache")
    resp, body = await fetch(http, page(revalidating), Accept=JSON)
    assert resp.status == 200 and body == good
    assert resp.headers["X-Mirror-Stale"] == "1" and "Warning" in resp.headers
    assert any("serving stale" in r.getMessage() for r in caplog.records)
    project.delay = 0


@pytest.mark.parametrize(("fault", "status"), [("down", 502), ("500", 502), ("timeout", 504), ("garbage", 502)])
async def test_uncached_page_fails_cleanly_when_upstream_fails(mirror, project, http, fault, status):
    if fault == "down":
        await project.down()
    elif fault == "500":
        project.fail_status = 500
    elif fault == "timeout":
        project.delay = 6
    else:
        project.garbage = True
    resp, body = await fetch(http, page(mirror), Accept=JSON)
    assert resp.status == status and b"upstream" in body
    project.delay = 0


async def test_etag_revalidation_keeps_prepared_page(revalidating, project, http, caplog):
    caplog.set_level(logging.INFO, logger="mirror.cache")
    r1, _ = await fetch(http, page(revalidating), Accept=JSON)
    r2, _ = await fetch(http, page(revalidating), Accept=JSON)
    assert r1.headers["ETag"] == r2.headers["ETag"]
    assert any("upstream 304" in r.getMessage() for r in caplog.records)


async def test_upstream_change_is_picked_up_after_ttl(revalidating, project, http, dists):
    _, b1 = await fetch(http, page(revalidating), Accept=JSON)
    project.add_wheel("demo-app", "2.0", dists)
    _, b2 = await fetch(http, page(revalidating), Accept=JSON)
    assert json.loads(b1)["versions"] == ["1.0"] and json.loads(b2)["versions"] == ["1.0", "2.0"]


async def test_project_removed_upstream_becomes_404(revalidating, project, http):
    await fetch(http, page(revalidating), Accept=JSON)
    project.remove_project("demo-app")
    resp, _ = await fetch(http, page(revalidating), Accept=JSON)
    assert resp.status == 404


@pytest.mark.parametrize("fault", ["wrong_bytes", "truncate", "reset_mid_file"])
async def test_bad_file_bytes_are_refused_and_not_cached(any_mirror, project, wheel, http, fault, caplog):
    mirror = any_mirror
    caplog.set_level(logging.INFO, logger="mirror.files")
    await fetch(http, page(mirror), Accept=JSON)
    setattr(project, fault, True)
    with pytest.raises(aiohttp.ClientError):
        await fetch(http, file_url(mirror))
    assert cached_files(mirror) == []
    assert temp_files(mirror.config.storage) == []
    if fault == "wrong_bytes":
        assert any("refused" in r.getMessage() for r in caplog.records)
    setattr(project, fault, False)
    resp, body = await fetch(http, file_url(mirror))
    assert resp.status == 200
    assert hashlib.sha256(body).hexdigest() == wheel.sha256
    # the verified wheel, and the METADATA the mirror extracted from it
    assert set(cached_files(mirror)) == {wheel.sha256, hashlib.sha256(wheel.metadata).hexdigest()}


async def test_lying_page_hash_means_no_file(any_mirror, upstream, dists, http):
    mirror = any_mirror
    upstream.add_wheel("liar", "1.0", dists, advertised_sha256="0" * 64)
    await fetch(http, page(mirror, "liar"), Accept=JSON)
    with pytest.raises(aiohttp.ClientError):
        await fetch(http, f"{mirror.base}/all/files/liar/liar-1.0-py3-none-any.whl")
    assert cached_files(mirror) == []


async def test_concurrent_cold_requests_share_one_upstream_fetch(any_mirror, project, wheel, http):
    mirror = any_mirror
    project.delay = 0.3
    pages = await asyncio.gather(*(fetch(http, page(mirror), Accept=JSON) for _ in range(20)))
    assert {r.status for r, _ in pages} == {200} and len({b for _, b in pages}) == 1
    assert project.count("/simple/demo-app/") == 1
    files = await asyncio.gather(*(fetch(http, file_url(mirror)) for _ in range(20)))
    assert {r.status for r, _ in files} == {200}
    assert {hashlib.sha256(b).hexdigest() for _, b in files} == {wheel.sha256}
    assert project.count(f"/files/{wheel.sha256}/{WHEEL}", "GET") == 1
    project.delay = 0


async def test_big_file_streams_to_concurrent_clients(any_mirror, upstream, dists, http):
    mirror = any_mirror
    blob = bytes(range(256)) * 40000  # ~10 MB, many chunks
    upstream.add_file("big", FakeFile("big-1.0.tar.gz", blob))
    await fetch(http, page(mirror, "big"), Accept=JSON)
    url = f"{mirror.base}/all/files/big/big-1.0.tar.gz"
    results = await asyncio.gather(*(fetch(http, url) for _ in range(5)))
    assert all(body == blob for _, body in results)
    assert upstream.count("/files/", "GET") == 1


async def test_missing_project_cached_briefly(mirror, project, http):
    for _ in range(3):
        resp, _ = await fetch(http, page(mirror, "nope"), Accept=JSON)
        assert resp.status == 404
    assert project.count("/simple/nope/") == 1


async def test_html_only_upstream(tmp_path, upstream, dists, http):
    upstream.add_wheel("demo-app", "1.0", dists, requires_python=">=3.8")
    upstream.html_only = True
    server = MirrorServer(make_config(tmp_path, upstream.url))
    await server.start()
    try:
        _, body = await fetch(http, page(server), Accept=JSON)
        (f,) = json.loads(body)["files"]
        assert f["requires-python"] == ">=3.8" and f["core-metadata"]
        resp, wheel = await fetch(http, file_url(server))
        assert resp.status == 200 and hashlib.sha256(wheel).hexdigest() == f["hashes"]["sha256"]
    finally:
        await server.stop()


async def test_metadata_extracted_from_cached_wheel_when_upstream_has_none(any_mirror, upstream, dists, http,
                                                                          caplog):
    mirror = any_mirror
    caplog.set_level(logging.INFO)
    f = upstream.add_wheel("nometa", "1.0", dists, with_metadata=False)
    _, body = await fetch(http, page(mirror, "nometa"), Accept=JSON)
    (entry,) = json.loads(body)["files"]
    assert entry["core-metadata"] is False  # nothing advertised that cannot be served
    resp, _ = await fetch(http, f"{mirror.base}/all/files/nometa/{f.filename}.metadata")
    assert resp.status == 404
    await fetch(http, f"{mirror.base}/all/files/nometa/{f.filename}")
    _, body = await fetch(http, page(mirror, "nometa"), Accept=JSON)
    (entry,) = json.loads(body)["files"]
    resp, meta = await fetch(http, f"{mirror.base}/all/files/nometa/{f.filename}.metadata")
    assert resp.status == 200
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta).hexdigest()}
    assert meta == read_wheel_metadata(dists / f.filename)  # byte for byte
    assert upstream.count(f"/files/{f.sha256}/{f.filename}.metadata") == 0
    # Pages and extracted metadata were stored without a database error.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
