"""A thundering herd: 200 clients asking, at the same instant, for one cold page or one cold file.

tests/web/test_cache.py checks single flight with 20 clients; here 200 connections are open at once (the
client's connector allows 250), the file is several read chunks long and nothing is cached beforehand, not
even the page the file is listed on. Exactly one upstream request per resource, and every client gets the
right bytes. The last test reproduces deterministically the race the file herd runs into.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import aiofiles
import aiohttp
import pytest
from aiofiles.base import AiofilesContextManager

from ..support.fake_upstream import HTML_TYPE, JSON_TYPE, FakeFile
from .conftest import STATS

CLIENTS = 200


@pytest.fixture
async def mirror(start_mirror):
    """Generous timeouts here: 200 clients, the mirror and the fake upstream share one event loop."""
    return await start_mirror(read_timeout=10, page_timeout=20)


@pytest.fixture
async def herd(mirror):
    """A client session with 200 connections to the mirror already open, so the herd arrives at once."""
    connector = aiohttp.TCPConnector(limit=CLIENTS + 50, limit_per_host=CLIENTS + 50)
    timeout = aiohttp.ClientTimeout(total=20, sock_read=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        assert {r[0] for r in await asyncio.gather(*(fetch(session, mirror.base + "/healthz")
                                                     for _ in range(CLIENTS)))} == {200}
        yield session


async def fetch(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, str, bytes] | str:
    """(status, content type, body), or a description of how the request failed."""
    status = None
    try:
        async with session.get(url, headers=headers) as resp:
            status = resp.status
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        return f"status {status}, then {type(exc).__name__}"


def assert_all_answered(results: list) -> None:
    failed = [r for r in results if isinstance(r, str)]
    assert failed == [], f"{len(failed)} of {len(results)} clients failed: {sorted(set(failed))}"


async def test_200_cold_requests_for_one_page(mirror, upstream, dists, herd):
    upstream.add_wheel("herd-page", "1.0", dists)
    upstream.add_wheel("herd-page", "2.0", dists)
    upstream.delay = 0.3  # the upstream answer arrives after every request is in
    url = mirror.index() + "herd-page/"
    accepts = [JSON_TYPE if i % 2 else HTML_TYPE for i in range(CLIENTS)]
    results = await asyncio.gather(*(fetch(herd, url, Accept=a) for a in accepts))
    STATS["concurrent cold requests"] += CLIENTS
    assert_all_answered(results)
    assert upstream.count("/simple/herd-page/") == 1
    bodies: dict[str, set[bytes]] = {}
    for (status, ctype, body), accept in zip(results, accepts):
        assert status == 200
        bodies.setdefault(ctype, set()).add(body)
        assert ctype.startswith(accept)
    assert set(bodies) == {JSON_TYPE, "text/html; charset=utf-8"}
    assert all(len(v) == 1 for v in bodies.values())  # every client of a format got the same bytes
    (page,) = bodies[JSON_TYPE]
    assert [f["filename"] for f in json.loads(page)["files"]] == [
        "herd_page-1.0-py3-none-any.whl", "herd_page-2.0-py3-none-any.whl"]


@pytest.mark.parametrize("round_", range(2))  # the race below shows in some rounds, not all
async def test_200_cold_requests_for_one_file(mirror, upstream, herd, round_):
    blob = bytes(range(256)) * 2400 + bytes([round_])  # 600 KiB: three of the mirror's 256 KiB read chunks
    f = upstream.add_file("herd-file", FakeFile("herd_file-1.0.tar.gz", blob))
    upstream.delay = 0.3  # page and file both answer late: every client is waiting on the same fetch
    url = f"{mirror.base}/all/files/herd-file/{f.filename}"
    results = await asyncio.gather(*(fetch(herd, url) for _ in range(CLIENTS)))
    STATS["concurrent cold requests"] += CLIENTS
    assert upstream.count("/simple/herd-file/") == 1
    assert upstream.count(f"/files/{f.sha256}/{f.filename}", "GET") == 1
    assert_all_answered(results)
    assert {status for status, _, _ in results} == {200}
    assert {hashlib.sha256(body).hexdigest() for _, _, body in results} == {f.sha256}
    assert [p.name for p in mirror.cached_files()] == [f.sha256] and mirror.temp_files() == []


async def test_200_cold_requests_for_one_metadata_file(mirror, upstream, dists, herd):
    w = upstream.add_wheel("herd-meta", "1.0", dists)
    upstream.delay = 0.3
    url = f"{mirror.base}/all/files/herd-meta/{w.filename}.metadata"
    results = await asyncio.gather(*(fetch(herd, url) for _ in range(CLIENTS)))
    STATS["concurrent cold requests"] += CLIENTS
    assert upstream.count("/simple/herd-meta/") == 1
    assert upstream.count(f"/files/{w.sha256}/{w.filename}.metadata", "GET") == 1
    assert_all_answered(results)
    assert {(status, body) for status, _, body in results} == {(200, w.metadata)}


async def test_client_whose_temp_file_open_is_late_still_gets_the_file(mirror, upstream, http, monkeypatch):
    """The race behind the herd failures, made deterministic.

    A client joining a running download opens the download's temp file through aiofiles, i.e. on the
    default thread pool (6 threads on 2 cores). Under a herd that open can run after the download was
    verified and renamed into ``files/``. Here every such open is held until the rename happened, as a
    busy pool does; the client must still get the file (from its final path), not a hang.
    """
    blob = bytes(range(256)) * 2400
    f = upstream.add_file("late-open", FakeFile("late_open-1.0.tar.gz", blob))
    await fetch(http, mirror.index() + "late-open/")
    real_open = aiofiles.open

    def late_open(path, mode="r", *args, **kwargs):
        if mode == "rb" and str(path).endswith(".part"):
            async def after_commit():
                for _ in range(300):  # at most 3 s
                    if not await asyncio.to_thread(os.path.exists, path):
                        break
                    await asyncio.sleep(0.01)
                return await real_open(path, mode, *args, **kwargs)
            return AiofilesContextManager(after_commit())
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(aiofiles, "open", late_open)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, sock_read=3)) as session:
        result = await fetch(session, f"{mirror.base}/all/files/late-open/{f.filename}")
    assert not isinstance(result, str), result
    status, _, body = result
    assert status == 200 and hashlib.sha256(body).hexdigest() == f.sha256
