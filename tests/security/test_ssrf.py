"""Issue 9, point 5: no SSRF. File downloads and provenance fetches follow redirects by hand, only to the same
origin or to an `[upstream] file_hosts` host, never to another scheme, never to an internal address (checked on
the resolved address) unless that host is the upstream's or listed; client error bodies leak nothing of what an
internal host answered. A canary server on another loopback port stands for the internal service."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ..support.fake_upstream import FakeFile
from .conftest import Canary, get

SECRET = b"internal secret: do not leak\n"


@pytest.fixture
def wheel(upstream, tmp_path: Path) -> FakeFile:
    return upstream.add_wheel("app", "1.0", tmp_path / "d", with_metadata=False)


def leaks(body: bytes, canary: Canary) -> list[str]:
    text = body.decode("latin-1")
    return [s for s in (str(canary.port), "127.0.0.1", "localhost", "secret", "X-Internal", "HTTP 5", "file://",
                        "gopher") if s in text]


async def refused(http, mirror, canary: Canary, path: str, caplog) -> None:
    for method in ("GET", "HEAD"):
        async with http.request(method, mirror.base + path, allow_redirects=False) as resp:
            body = await resp.read()
            assert resp.status == 502, (method, resp.status, body)
            assert SECRET not in body and not leaks(body, canary), body
            assert method == "HEAD" or b"failed" in body, body
    assert canary.requests == [], "the internal service was reached"
    assert any("refused" in r.getMessage() for r in caplog.records)


async def test_a_page_url_to_an_internal_host_is_not_fetched(upstream, start_mirror, http, wheel, caplog):
    caplog.set_level(logging.INFO)
    canary = await Canary(SECRET).start()
    try:
        upstream.add_file("app", FakeFile(wheel.filename, wheel.content, url=canary.url("/" + wheel.filename)))
        upstream.add_file("app", FakeFile("app-2.0.tar.gz", b"x", url=canary.url("/sdist", host="localhost")))
        mirror = await start_mirror()
        await refused(http, mirror, canary, f"/all/files/app/{wheel.filename}", caplog)
        # a host *name* that resolves to an internal address is refused when the connection is made
        await refused(http, mirror, canary, "/all/files/app/app-2.0.tar.gz", caplog)
        assert mirror.cached_files() == []
    finally:
        await canary.stop()


@pytest.mark.parametrize("target", ["canary", "canary-by-name", "file:///etc/passwd", "gopher://127.0.0.1:{port}/x",
                                    "ftp://127.0.0.1:{port}/x"])
async def test_redirects_off_origin_or_to_other_schemes_are_not_followed(upstream, start_mirror, http, wheel,
                                                                        target, caplog):
    caplog.set_level(logging.INFO)
    canary = await Canary(SECRET).start()
    try:
        location = {"canary": canary.url(), "canary-by-name": canary.url(host="localhost")}.get(
            target, target.format(port=canary.port))
        upstream.redirects[wheel.filename] = location
        mirror = await start_mirror()
        await refused(http, mirror, canary, f"/all/files/app/{wheel.filename}", caplog)
        assert mirror.cached_files() == []
    finally:
        await canary.stop()


async def test_a_redirect_within_the_origin_is_followed(upstream, start_mirror, http, wheel):
    upstream.add_file("app", FakeFile("moved.whl", wheel.content))  # served at /files/<sha256>/moved.whl
    upstream.redirects[wheel.filename] = f"/files/{wheel.sha256}/moved.whl"
    mirror = await start_mirror()
    status, body, error = await get(http, f"{mirror.base}/all/files/app/{wheel.filename}")
    assert (status, error, body) == (200, None, wheel.content)


async def test_a_redirect_to_a_file_hosts_host_is_followed(upstream, start_mirror, http, wheel):
    canary = await Canary(wheel.content).start()  # here: a legitimate file host on an internal address
    try:
        upstream.redirects[wheel.filename] = canary.url("/cdn/" + wheel.filename)
        mirror = await start_mirror(file_hosts=(f"127.0.0.1:{canary.port}",))
        status, body, error = await get(http, f"{mirror.base}/all/files/app/{wheel.filename}")
        assert (status, error, body) == (200, None, wheel.content)
        assert canary.requests == [f"/cdn/{wheel.filename}"]
    finally:
        await canary.stop()


async def test_provenance_urls_obey_the_same_rules(upstream, start_mirror, http, wheel, caplog):
    caplog.set_level(logging.INFO)
    canary = await Canary(SECRET).start()
    try:
        # An https URL passes the page parser (a plain-http one on another origin is already dropped
        # there: the second file), so the first is the fetch rule refusing an internal address.
        internal = canary.url("/provenance").replace("http://", "https://", 1)
        upstream.add_file("app", FakeFile(wheel.filename, wheel.content, provenance="{}", provenance_url=internal))
        other = wheel.filename.replace("1.0", "1.1")
        upstream.add_file("app", FakeFile(other, wheel.content, provenance="{}",
                                          provenance_url=canary.url("/provenance")))
        mirror = await start_mirror()
        status, body, _ = await get(http, f"{mirror.base}/all/integrity/app/1.0/{wheel.filename}/provenance")
        assert status == 502 and not leaks(body, canary), body
        assert json.loads(body)["message"].startswith("provenance fetch from upstream failed")
        assert canary.requests == []
        assert any("refused" in r.getMessage() for r in caplog.records)
        status, body, _ = await get(http, f"{mirror.base}/all/integrity/app/1.1/{other}/provenance")
        assert status == 404 and not leaks(body, canary) and canary.requests == [], body
        assert any("field=provenance" in r.getMessage() and other in r.getMessage() for r in caplog.records)
    finally:
        await canary.stop()


async def test_error_bodies_never_echo_what_upstream_answered(upstream, start_mirror, http, wheel):
    mirror = await start_mirror()
    await get(http, f"{mirror.base}/all/simple/app/")
    upstream.faults_apply_to = "files"
    upstream.fail_status = 503
    status, body, _ = await get(http, f"{mirror.base}/all/files/app/{wheel.filename}")
    assert status == 502 and body == b"download from upstream failed and nothing is cached\n"
    upstream.fail_status = None
    upstream.wrong_bytes = True  # same length, other bytes: refused before the last byte, connection cut
    status, body, error = await get(http, f"{mirror.base}/all/files/app/{wheel.filename}")
    assert error is not None and len(body) < len(wheel.content)
    assert wheel.sha256.encode() not in body and str(upstream.port).encode() not in body
