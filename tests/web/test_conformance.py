"""Checklist sections A-H, black-box against the running mirror in front of the fake upstream.

Item numbers refer to ../shared/docs/simple-api-checklist.md.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from yarl import URL

from ..simple.htmlparse import PageReader
from ..support.mirror_server import MirrorServer, make_config

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
EPOCH = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def project(upstream, dists):
    """demo-app: two wheels (one yanked with a reason, one with requires-python), an sdist without metadata."""
    upstream.add_wheel("demo-app", "1.0", dists, upload_time=EPOCH)
    upstream.add_wheel("demo-app", "2.0", dists, requires_python=">=2.7, !=3.0.*, <4", yanked="broken <build>")
    upstream.add_sdist("demo-app", "2.0", dists)
    upstream.add_wheel("other", "0.1", dists)
    return upstream


async def get(http, url, accept=None, **headers):
    if accept:
        headers["Accept"] = accept
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        return resp, await resp.read()


# --- A. URLs, names and status codes --------------------------------------------------------------

async def test_a1_index_lists_projects(mirror, project, http):
    resp, body = await get(http, mirror.index(), JSON)
    assert resp.status == 200
    data = json.loads(body)
    assert data["meta"]["api-version"] == "1.4"
    assert {p["name"] for p in data["projects"]} == {"demo-app", "other"}
    resp, body = await get(http, mirror.index(), "text/html")
    page = PageReader(body.decode())
    assert sorted(a["href"] for a, _ in page.anchors) == ["demo-app/", "other/"]


async def test_a2_a3_normalized_and_redirects(mirror, project, http):
    resp, _ = await get(http, mirror.index() + "demo-app/")
    assert resp.status == 200
    for name in ("Demo_App", "demo.app", "DEMO-APP"):
        resp, _ = await get(http, f"{mirror.index()}{name}/?x=1")
        assert resp.status == 301
        assert resp.headers["Location"] == "/all/simple/demo-app/?x=1"


async def test_a4_missing_slash_redirects(mirror, project, http):
    resp, _ = await get(http, mirror.index() + "demo-app")
    assert resp.status in (301, 308) and resp.headers["Location"] == "/all/simple/demo-app/"
    resp, _ = await get(http, mirror.base + "/all/simple")
    assert resp.status in (301, 308) and resp.headers["Location"] == "/all/simple/"


@pytest.mark.parametrize("path", ["/all/simple/no-such-project/", "/all/simple/bad%20name/",
                                  "/nosuchtier/simple/demo-app/", "/all/files/demo-app/nope-1.0.tar.gz",
                                  "/all/files/no-such-project/x-1.0.tar.gz"])
async def test_a5_not_here_is_404(mirror, project, http, path):
    resp, _ = await get(http, mirror.base + path)
    assert resp.status == 404


async def test_a5_reviewed_and_vetted_without_policy_are_404_not_403(mirror, project, http):
    for tier in ("reviewed", "vetted"):
        resp, body = await get(http, mirror.index(tier) + "demo-app/", JSON)
        assert resp.status == 404 and b"demo-app" in body


async def test_a6_head_everywhere(any_mirror, project, http):
    mirror = any_mirror
    for url in (mirror.index(), mirror.index() + "demo-app/", mirror.base + "/healthz",
                mirror.base + "/all/files/demo-app/demo_app-1.0-py3-none-any.whl"):
        async with http.head(url) as resp:
            assert resp.status == 200, url
    async with http.head(mirror.base + "/all/files/demo-app/demo_app-1.0-py3-none-any.whl") as resp:
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert int(resp.headers["Content-Length"]) > 0


# --- B. HTML detail page --------------------------------------------------------------------------

async def test_b_html_detail(mirror, project, http):
    resp, body = await get(http, mirror.index() + "demo-app/", "text/html")
    assert resp.headers["Content-Type"].startswith("text/html")
    text = body.decode()
    page = PageReader(text)
    assert page.doctype.lower() == "doctype html"                         # 7
    assert page.meta["pypi:repository-version"] == "1.4"
    assert page.meta["pypi:project-status"] == "active"                   # 13
    anchors = {t: a for a, t in page.anchors}
    assert set(anchors) == {"demo_app-1.0-py3-none-any.whl", "demo_app-2.0-py3-none-any.whl", "demo_app-2.0.tar.gz"}
    for name, a in anchors.items():                                       # 8
        url, _, frag = a["href"].partition("#")
        assert url.rsplit("/", 1)[1] == name and frag.startswith("sha256=") and len(frag) == 7 + 64
        assert not url.startswith("http")  # never a link to upstream
    w1, w2, sd = (anchors[n] for n in sorted(anchors))
    assert "data-requires-python" not in w1                               # 9
    assert w2["data-requires-python"] == ">=2.7, !=3.0.*, <4"
    assert "&gt;=2.7, !=3.0.*, &lt;4" in text
    assert "data-yanked" not in w1 and w2["data-yanked"] == "broken <build>"   # 10
    assert w1["data-core-metadata"] == w1["data-dist-info-metadata"]       # 11
    assert w1["data-core-metadata"].startswith("sha256=")
    assert "data-core-metadata" not in sd and "data-dist-info-metadata" not in sd
    resp, _ = await get(http, mirror.index() + "demo-app/", "application/vnd.pypi.simple.v1+html")
    assert resp.headers["Content-Type"] == "application/vnd.pypi.simple.v1+html"   # 14


# --- C. JSON detail page --------------------------------------------------------------------------

async def test_c_json_detail(mirror, project, http):
    resp, body = await get(http, mirror.index() + "demo-app/", PIP_ACCEPT)
    assert resp.headers["Content-Type"] == JSON
    data = json.loads(body)
    assert data["meta"]["api-version"] == "1.4" and isinstance(data["meta"]["_last-serial"], int)   # 15
    assert data["name"] == "demo-app" and data["project-status"] == {"status": "active"}
    assert data["versions"] == ["1.0", "2.0"]                             # 17
    files = {f["filename"]: f for f in data["files"]}
    for f in files.values():                                              # 16
        assert set(f) >= {"filename", "url", "hashes", "requires-python", "size", "upload-time", "yanked",
                          "core-metadata", "data-dist-info-metadata", "provenance"}
        assert isinstance(f["size"], int) and f["upload-time"].endswith("Z")
        assert len(f["hashes"]["sha256"]) == 64
        assert f["url"].endswith("/" + f["filename"]) and not f["url"].startswith("http")
    w1 = files["demo_app-1.0-py3-none-any.whl"]
    assert w1["upload-time"] == "2024-05-06T07:08:09.123456Z"             # 35: passed through exactly
    assert w1["yanked"] is False and w1["requires-python"] is None
    assert w1["core-metadata"] == w1["data-dist-info-metadata"] and "sha256" in w1["core-metadata"]
    w2 = files["demo_app-2.0-py3-none-any.whl"]
    assert w2["yanked"] == "broken <build>" and w2["requires-python"] == ">=2.7, !=3.0.*, <4"
    assert files["demo_app-2.0.tar.gz"]["core-metadata"] is False


async def test_c_hashes_passed_through_unchanged(mirror, project, http):
    _, body = await get(http, mirror.index() + "demo-app/", JSON)
    ours = {f["filename"]: f["hashes"] for f in json.loads(body)["files"]}
    async with http.get(project.url + "demo-app/", headers={"Accept": JSON}) as resp:
        theirs = {f["filename"]: f["hashes"] for f in (await resp.json(content_type=None))["files"]}
    assert ours == theirs


# --- D. negotiation through HTTP (the full matrix is in tests/simple/test_negotiate.py) --------------

@pytest.mark.parametrize(("accept", "ctype", "status"), [
    (None, "text/html; charset=utf-8", 200),
    ("application/vnd.pypi.simple.latest+json", JSON, 200),
    ("application/vnd.pypi.simple.v2+json", None, 406),
])
async def test_d_negotiation(mirror, project, http, accept, ctype, status):
    resp, _ = await get(http, mirror.index() + "demo-app/", accept)
    assert resp.status == status
    if ctype:
        assert resp.headers["Content-Type"] == ctype


async def test_d_format_query_overrides_accept(mirror, project, http):
    resp, _ = await get(http, mirror.index() + f"demo-app/?format={JSON}", "text/html")
    assert resp.headers["Content-Type"] == JSON
    resp, _ = await get(http, mirror.index() + "demo-app/?format=application/json")
    assert resp.status == 406


# --- E. HTTP caching ------------------------------------------------------------------------------

async def test_e24_strong_etag_per_representation_and_304(mirror, project, http):
    url = mirror.index() + "demo-app/"
    r_json, _ = await get(http, url, JSON)
    r_html, _ = await get(http, url, "text/html")
    assert r_json.headers["ETag"] != r_html.headers["ETag"]
    assert not r_json.headers["ETag"].startswith("W/")
    for resp, accept in ((r_json, JSON), (r_html, "text/html")):
        again, body = await get(http, url, accept, **{"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304 and body == b""
        assert again.headers["ETag"] == resp.headers["ETag"]
        assert "Accept" in again.headers["Vary"]                          # 23
        assert again.headers["Cache-Control"] == resp.headers["Cache-Control"]


async def test_e23_e25_e26_e27_headers(mirror, project, http):
    resp, body = await get(http, mirror.index() + "demo-app/", JSON)
    assert "Accept" in resp.headers["Vary"]
    assert resp.headers["Cache-Control"] == "max-age=600, public"
    assert resp.headers["X-PyPI-Last-Serial"] == str(json.loads(body)["meta"]["_last-serial"])
    assert "Access-Control-Allow-Origin" not in resp.headers  # 27 is optional: off unless configured


async def test_e27_cors_as_pypi_sends_it_when_configured(tmp_path, upstream, project, http):
    config = make_config(tmp_path, upstream.url)
    server = MirrorServer(replace(config, server=replace(config.server, cors_origins=("*",))))
    await server.start()
    try:
        for url in (server.index(), server.index() + "demo-app/", server.index() + "Demo_App/"):
            resp, _ = await get(http, url, JSON, Origin="https://tools.example")
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert resp.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
            assert resp.headers["Access-Control-Max-Age"] == "86400"
            assert resp.headers["Access-Control-Expose-Headers"] == "X-PyPI-Last-Serial"
    finally:
        await server.stop()


async def test_gzip_when_accepted(mirror, project, http):
    async with http.get(mirror.index() + "demo-app/", headers={"Accept": JSON, "Accept-Encoding": "gzip"},
                        auto_decompress=False) as resp:
        raw = await resp.read()
        assert resp.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in resp.headers["Vary"]
    plain, body = await get(http, mirror.index() + "demo-app/", JSON, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(raw) == body
    assert plain.headers["ETag"] != resp.headers["ETag"]


# --- F. files and .metadata -----------------------------------------------------------------------

async def _files(mirror, http):
    _, body = await get(http, mirror.index() + "demo-app/", JSON)
    return {f["filename"]: f for f in json.loads(body)["files"]}


async def test_f29_f31_bytes_and_metadata_match_advertised_hashes(mirror, project, http):
    page_url = mirror.index() + "demo-app/"
    for name, f in (await _files(mirror, http)).items():
        url = str(URL(page_url).join(URL(f["url"])))
        for attempt in ("cold", "warm"):
            resp, body = await get(http, url)
            assert resp.status == 200, (name, attempt)
            assert hashlib.sha256(body).hexdigest() == f["hashes"]["sha256"]
            assert int(resp.headers["Content-Length"]) == f["size"] == len(body)
            assert "Content-Encoding" not in resp.headers
        if f["core-metadata"]:
            resp, body = await get(http, url + ".metadata")
            assert resp.status == 200 and hashlib.sha256(body).hexdigest() == f["core-metadata"]["sha256"]
        else:
            resp, _ = await get(http, url + ".metadata")
            assert resp.status == 404


async def test_f30_ranges(any_mirror, project, http):
    mirror = any_mirror
    url = mirror.base + "/all/files/demo-app/demo_app-1.0-py3-none-any.whl"
    _, whole = await get(http, url)
    resp, tail = await get(http, url, Range="bytes=-10")
    assert resp.status == 206 and tail == whole[-10:]
    assert resp.headers["Content-Range"] == f"bytes {len(whole) - 10}-{len(whole) - 1}/{len(whole)}"
    resp, part = await get(http, url, Range="bytes=2-5")
    assert resp.status == 206 and part == whole[2:6]
    resp, _ = await get(http, url, Range=f"bytes={len(whole) + 10}-")
    assert resp.status == 416


async def test_f30_range_on_uncached_file(any_mirror, project, http):
    mirror = any_mirror
    url = mirror.base + "/all/files/demo-app/demo_app-2.0-py3-none-any.whl"
    resp, part = await get(http, url, Range="bytes=0-3")
    assert resp.status == 206 and part == b"PK\x03\x04"


async def test_f32_conditional_get_on_files(any_mirror, project, http):
    mirror = any_mirror
    url = mirror.base + "/all/files/demo-app/demo_app-1.0-py3-none-any.whl"
    await get(http, url)
    resp, _ = await get(http, url)
    again, body = await get(http, url, **{"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304 and body == b""
    await get(http, url + ".metadata")  # cold: streamed while verified, no ETag yet
    meta, _ = await get(http, url + ".metadata")
    again, _ = await get(http, url + ".metadata", **{"If-None-Match": meta.headers["ETag"]})
    assert again.status == 304


# --- G/H: yank, requires-python and PEP 700 fields are covered above and end to end --------------

async def test_j_project_status_passed_through(mirror, project, http):
    project.set_status("other", "archived", "moved elsewhere")
    _, body = await get(http, mirror.index() + "other/", JSON)
    assert json.loads(body)["project-status"] == {"status": "archived", "reason": "moved elsewhere"}


async def test_provenance_url_passed_through(mirror, upstream, dists, http):
    upstream.add_wheel("signed", "1.0", dists, provenance='{"version": 1, "attestation_bundles": []}')
    _, body = await get(http, mirror.index() + "signed/", JSON)
    (f,) = json.loads(body)["files"]
    async with http.get(upstream.url + "signed/", headers={"Accept": JSON}) as resp:
        (theirs,) = (await resp.json(content_type=None))["files"]
    assert f["provenance"] == theirs["provenance"] and f["provenance"]


async def test_files_not_on_the_page_are_never_fetched(mirror, project, http):
    project.reset_log()
    for path in ("/all/files/demo-app/evil-1.0.tar.gz", "/all/files/demo-app/..%2F..%2Fetc%2Fpasswd",
                 "/all/files/demo-app/%2e%2e", "/all/files/other/demo_app-1.0-py3-none-any.whl"):
        resp, _ = await get(http, mirror.base + path)
        assert resp.status == 404, path
    assert project.count("/files") == 0
