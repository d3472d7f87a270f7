"""Sending stored files over HTTP, from each backend: HEAD, ranges, conditional requests, failures."""

from __future__ import annotations

import hashlib
import os

import pytest
from aiohttp import web

from mirror.core.errors import StorageError
from mirror.web.filesend import resolve_range, send_stored

from .test_contract import put


@pytest.mark.parametrize(("start", "stop", "size", "expected"), [
    (None, None, 10, (0, 10)),
    (2, 6, 10, (2, 6)),
    (2, None, 10, (2, 10)),
    (2, 100, 10, (2, 10)),       # an end past the file is cut at its end
    (-3, None, 10, (7, 10)),     # the last three bytes
    (-30, None, 10, (0, 10)),    # a suffix longer than the file is the file
    (10, None, 10, None),        # starts at the end: unsatisfiable
    (0, None, 0, None),          # nothing to select in an empty file
    (-1, None, 0, None),
])
def test_resolve_range(start, stop, size, expected):
    assert resolve_range(start, stop, size) == expected


@pytest.fixture
async def served(store, aiohttp_client):
    """(client, data, stored): an app that sends one stored file at /f."""
    data = os.urandom(5000)
    stored = await put(store, data)

    async def handler(request: web.Request) -> web.StreamResponse:
        found = await store.find(stored.sha256)
        if found is None:
            raise web.HTTPNotFound()
        try:
            return await send_stored(request, store, found, {"Accept-Ranges": "bytes"})
        except StorageError:
            return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/f", handler)
    return await aiohttp_client(app), data, stored


async def test_get_and_head(served):
    client, data, _ = served
    resp = await client.get("/f")
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["ETag"] and resp.headers["Last-Modified"] and resp.headers["Accept-Ranges"] == "bytes"
    head = await client.head("/f")
    assert head.status == 200 and int(head.headers["Content-Length"]) == len(data) and await head.read() == b""
    assert head.headers["ETag"] == resp.headers["ETag"]


@pytest.mark.parametrize(("header", "start", "end"), [("bytes=2-5", 2, 6), ("bytes=-10", 4990, 5000),
                                                      ("bytes=4000-", 4000, 5000), ("bytes=0-0", 0, 1)])
async def test_ranges(served, header, start, end):
    client, data, _ = served
    resp = await client.get("/f", headers={"Range": header})
    assert resp.status == 206 and await resp.read() == data[start:end]
    assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(data)}"


@pytest.mark.parametrize("header", ["bytes=6000-", "bytes=0-1,5-6", "bytes=5-2", "lines=1-2"])
async def test_unsatisfiable_or_malformed_ranges_are_416(served, header):
    client, _, _ = served
    resp = await client.get("/f", headers={"Range": header})
    assert resp.status == 416


async def test_conditional_requests(served, backend):
    client, data, _ = served
    first = await client.get("/f")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert (await client.get("/f", headers={"If-None-Match": etag})).status == 304
    assert (await client.get("/f", headers={"If-None-Match": '"other"'})).status == 200
    assert (await client.get("/f", headers={"If-Modified-Since": modified})).status == 304
    # If-Range: the range only while the client's copy is this very version, else the whole file.
    same = await client.get("/f", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status == 206 and await same.read() == data[:10]
    if backend == "s3":  # aiohttp's FileResponse (sendfile) reads dates in If-Range, not entity tags
        other = await client.get("/f", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert other.status == 200 and await other.read() == data
    old = await client.get("/f", headers={"Range": "bytes=0-9", "If-Range": "Tue, 01 Jan 2019 00:00:00 GMT"})
    assert old.status == 200 and await old.read() == data


async def test_a_file_gone_from_the_store_is_not_a_500(served, store):
    client, _, stored = served
    await store.delete(stored.sha256)
    resp = await client.get("/f")
    assert resp.status in (404, 503)


async def test_sha256_etag_of_streamed_files(served, backend):
    client, data, _ = served
    resp = await client.get("/f")
    if backend == "s3":  # streamed from the bucket: the content's own name
        assert resp.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
