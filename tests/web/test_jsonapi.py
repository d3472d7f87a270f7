"""The JSON API tools expect, through the running mirror in front of the fake upstream: compared with upstream's
own documents, filtered by each tier exactly as its Simple API pages, cached and served stale."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mirror.web.state import SERVICES

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, block, review, vetted, wait_until

OLD = datetime.now(UTC) - timedelta(days=30)
YESTERDAY = datetime.now(UTC) - timedelta(days=1)
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
VULN = {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-1"], "details": "bad", "fixed_in": ["2.0"],
        "link": "https://osv.example/PYSEC-2026-1", "source": "osv", "summary": None, "withdrawn": None}


async def get_json(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any, Mapping[str, str]]:
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        body = await resp.read()
        try:
            data = json.loads(body)
        except ValueError:
            data = body.decode(errors="replace")
        return resp.status, data, resp.headers.copy()


@pytest.fixture
async def demo(upstream: FakeUpstream, dists: Path, policies: PolicyDir, site: MirrorServer,
               http: aiohttp.ClientSession) -> FakeUpstream:
    """demo-pkg: 1.0 (wheel + sdist) and 1.1 old enough for `reviewed`, 2.0 inside the cooldown; reviewed."""
    upstream.add_wheel("Demo.Pkg", "1.0", dists, upload_time=OLD, requires_python=">=3.8")
    upstream.add_sdist("Demo.Pkg", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("Demo.Pkg", "1.1", dists, upload_time=OLD, yanked="broken build")
    upstream.add_wheel("Demo.Pkg", "2.0", dists, upload_time=YESTERDAY)
    upstream.set_owners("demo-pkg", ["alice"])
    upstream.json_info["demo-pkg"] = {"summary": "A demo", "home_page": "https://demo.example",
                                      "requires_dist": ["dep>=2"], "license": "MIT"}
    upstream.vulnerabilities["demo-pkg"] = [VULN]
    policies.write_project("demo-pkg", review())
    await policies.applied(http, site.base, "demo-pkg")
    return upstream


async def test_a_reviewed_projects_document_compared_with_upstreams(site: MirrorServer, demo: FakeUpstream,
                                                                    http: aiohttp.ClientSession) -> None:
    _, theirs, _ = await get_json(http, f"{demo.base}/pypi/demo-pkg/json")
    status, ours, headers = await get_json(http, f"{site.base}/reviewed/pypi/demo-pkg/json")
    assert status == 200, ours
    assert headers["Content-Type"].startswith("application/json")
    assert set(ours) >= {"info", "releases", "urls", "vulnerabilities", "last_serial", "ownership"}
    assert set(theirs) <= set(ours)
    # The tier's releases only: 2.0 is inside the cooldown, so the latest the tier serves is 1.1 (yanked)...
    assert sorted(theirs["releases"]) == ["1.0", "1.1", "2.0"] and sorted(ours["releases"]) == ["1.0", "1.1"]
    # ...and a yanked release comes after one that is not: info describes 1.0.
    assert ours["info"]["version"] == "1.0" and theirs["info"]["version"] == "2.0"
    assert ours["info"]["name"] == "Demo.Pkg" and ours["info"]["summary"] == "A demo"
    assert ours["info"]["requires_dist"] is None  # 2.0's metadata is not passed off as 1.0's
    assert ours["info"]["requires_python"] == ">=3.8"
    assert ours["vulnerabilities"] == [] and ours["_mirror"]["vulnerabilities"] == "unknown"
    assert ours["ownership"] == theirs["ownership"]
    # Each file as upstream describes it, except the URL, which is this mirror's.
    for version, files in ours["releases"].items():
        upstream_files = {f["filename"]: f for f in theirs["releases"][version]}
        assert [f["filename"] for f in files] == list(upstream_files)
        for f in files:
            mine = {k: v for k, v in f.items() if k not in ("url", "core-metadata")}
            assert mine == {k: v for k, v in upstream_files[f["filename"]].items() if k != "url"}
            assert f["url"] == f"{site.base}/reviewed/files/demo-pkg/{f['filename']}"
    assert [f["filename"] for f in ours["urls"]] == [f["filename"] for f in ours["releases"]["1.0"]]
    # The URLs work: the bytes are upstream's, through the tier.
    wheel = ours["releases"]["1.0"][0]
    async with http.get(wheel["url"]) as resp:
        assert resp.status == 200 and hashlib.sha256(await resp.read()).hexdigest() == wheel["digests"]["sha256"]


async def test_tiers_filter_exactly_as_their_simple_pages(site: MirrorServer, demo: FakeUpstream,
                                                          http: aiohttp.ClientSession, policies: PolicyDir) -> None:
    for tier in ("all", "reviewed"):
        status, page, _ = await get_json(http, f"{site.index(tier)}demo-pkg/", Accept=SIMPLE_JSON)
        assert status == 200
        _, doc, _ = await get_json(http, f"{site.base}/{tier}/pypi/demo-pkg/json")
        served = sorted(f["filename"] for files in doc["releases"].values() for f in files)
        assert served == sorted(f["filename"] for f in page["files"]), tier
        assert sorted(doc["releases"]) == sorted(page["versions"]), tier
    # The whole project: 404 where the tier keeps it out (never 401/403).
    status, body, _ = await get_json(http, f"{site.base}/vetted/pypi/demo-pkg/json")
    assert status == 404 and "no release of this project is vetted" in body
    status, _, _ = await get_json(http, f"{site.base}/reviewed/pypi/not-reviewed-here/json")
    assert status == 404
    policies.write_project("demo-pkg", review(), block(reason="malware"))
    await policies.applied(http, site.base, "demo-pkg")
    for tier in ("all", "reviewed", "vetted"):
        status, _, _ = await get_json(http, f"{site.base}/{tier}/pypi/demo-pkg/json")
        assert status == 404, tier


async def test_release_documents(site: MirrorServer, demo: FakeUpstream, http: aiohttp.ClientSession,
                                 policies: PolicyDir, dists: Path) -> None:
    status, doc, _ = await get_json(http, f"{site.base}/all/pypi/demo-pkg/2.0/json")
    assert status == 200 and "releases" not in doc
    assert doc["info"]["version"] == "2.0" and doc["info"]["requires_dist"] == ["dep>=2"]  # upstream described 2.0
    assert doc["vulnerabilities"] == [VULN]
    status, doc, _ = await get_json(http, f"{site.base}/all/pypi/demo-pkg/1.0.0/json")  # canonical match
    assert status == 200 and doc["info"]["version"] == "1.0" and len(doc["urls"]) == 2
    assert doc["_mirror"]["info"] == "derived"
    assert (await get_json(http, f"{site.base}/reviewed/pypi/demo-pkg/2.0/json"))[0] == 404  # cooldown
    assert (await get_json(http, f"{site.base}/all/pypi/demo-pkg/9.9/json"))[0] == 404
    status, _, headers = await get_json(http, f"{site.base}/all/pypi/Demo_Pkg/1.0/json")
    assert status == 301 and headers["Location"] == "/all/pypi/demo-pkg/1.0/json"
    assert (await get_json(http, f"{site.base}/all/pypi/demo-pkg/json/"))[0] == 200
    # Vetted: the pinned files of the vetted release only.
    wheel = next(f for f in demo._projects["demo-pkg"].files.values() if f.filename.endswith("1.0-py3-none-any.whl"))
    policies.write_project("demo-pkg", review(), vetted("1.0", {wheel.filename: wheel.sha256}))
    await policies.applied(http, site.base, "demo-pkg")
    status, doc, _ = await get_json(http, f"{site.base}/vetted/pypi/demo-pkg/1.0/json")
    assert status == 200 and [f["filename"] for f in doc["urls"]] == [wheel.filename]


async def test_upstreams_per_release_documents_are_used_when_it_has_them(site: MirrorServer, demo: FakeUpstream,
                                                                          http: aiohttp.ClientSession) -> None:
    demo.json_api_releases = True
    demo.release_vulnerabilities[("demo-pkg", "1.0")] = [{**VULN, "id": "PYSEC-2026-2", "fixed_in": ["1.1"]}]
    demo.json_info["demo-pkg"]["requires_dist"] = None
    status, doc, _ = await get_json(http, f"{site.base}/reviewed/pypi/demo-pkg/json")
    assert status == 200 and doc["info"]["version"] == "1.0"
    assert [v["id"] for v in doc["vulnerabilities"]] == ["PYSEC-2026-2"]
    assert doc["_mirror"] == {"tier": "reviewed", "info": "upstream", "vulnerabilities": "upstream"}
    assert demo.count("/pypi/demo-pkg/1.0/json") == 1


async def test_without_per_release_documents_upstream_is_not_asked_again(site: MirrorServer, demo: FakeUpstream,
                                                                         http: aiohttp.ClientSession) -> None:
    for version in ("1.0", "1.1", "1.0"):
        assert (await get_json(http, f"{site.base}/all/pypi/demo-pkg/{version}/json"))[0] == 200
    assert demo.count("/pypi/demo-pkg/1.0/json") + demo.count("/pypi/demo-pkg/1.1/json") == 1


async def test_cached_revalidated_and_stale_when_upstream_fails(site: MirrorServer, demo: FakeUpstream,
                                                                http: aiohttp.ClientSession) -> None:
    server = site
    try:
        url = f"{server.base}/all/pypi/demo-pkg/json"
        status, first, headers = await get_json(http, url)
        assert status == 200 and "X-Mirror-Stale" not in headers
        assert headers["X-PyPI-Last-Serial"] == str(first["last_serial"])
        etag = headers["ETag"]
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        fetched = demo.count("/pypi/demo-pkg/json")
        assert (await get_json(http, url))[0] == 200
        assert demo.count("/pypi/demo-pkg/json") == fetched  # fresh: not asked again
        # Expire everything, then take upstream down: the last good document, marked stale.
        services = server.app[SERVICES]
        for cache in (services.json_documents.cache, services.pages.projects):
            cache.policy = dataclasses.replace(cache.policy, ttl=0)
        await demo.down()
        status, stale, headers = await get_json(http, url)
        assert status == 200 and headers.get("X-Mirror-Stale") == "1"
        assert stale["releases"] == first["releases"]
    finally:
        await demo.up()


async def test_chunked_big_documents_and_gzip(site: MirrorServer, demo: FakeUpstream, dists: Path,
                                              http: aiohttp.ClientSession) -> None:
    # A project nothing fetched yet (demo-pkg's document is cached since the fixture's page request).
    demo.add_wheel("Big.Doc", "1.0", dists, upload_time=OLD)
    demo.json_api_padding, demo.json_api_chunk = 300_000, 16 * 1024
    async with http.get(f"{site.base}/all/pypi/big-doc/json", headers={"Accept-Encoding": "gzip"},
                        auto_decompress=False) as resp:
        assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
        doc = json.loads(gzip.decompress(await resp.read()))
        assert resp.headers["ETag"].endswith('-gz"')
    assert len(doc["info"]["description"]) == 300_000


async def test_without_a_json_api_upstream_the_simple_page_still_answers(site: MirrorServer, demo: FakeUpstream,
                                                                         dists: Path,
                                                                         http: aiohttp.ClientSession) -> None:
    demo.json_api = False
    for version in ("1.0", "1.1", "2.0"):
        demo.add_wheel("No.Json", version, dists, upload_time=OLD)
    status, doc, _ = await get_json(http, f"{site.base}/all/pypi/no-json/json")
    assert status == 200 and doc["info"]["version"] == "2.0" and doc["info"]["name"] == "no-json"
    assert doc["_mirror"]["info"] == "simple-api" and doc["ownership"] is None
    assert sorted(doc["releases"]) == ["1.0", "1.1", "2.0"]


async def test_one_cold_request_for_the_json_api_and_the_pages_fetches_upstreams_document_once(
        site: MirrorServer, upstream: FakeUpstream, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    # A project nothing fetched before, reviewed; the curated tiers hold a vulnerable release by default, so its
    # pages need the advisories read from the very document its JSON API describes itself with.
    upstream.add_wheel("One.Doc", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("One.Doc", "2.0", dists, upload_time=OLD)
    upstream.set_owners("one-doc", ["carol"])
    upstream.set_vulnerabilities("one-doc", [{**VULN, "id": "PYSEC-2026-7", "fixed_in": ["2.1"]}])
    policies.write_project("one-doc", review())
    await policies.applied(http, site.base)
    assert upstream.count("/pypi/one-doc/") == 0 and upstream.count("/simple/one-doc/") == 0
    (_, reviewed, _), (_, everything, _), (_, page, _), (ui_status, ui, _) = await asyncio.gather(
        get_json(http, f"{site.base}/reviewed/pypi/one-doc/json"),
        get_json(http, f"{site.base}/all/pypi/one-doc/json"),
        get_json(http, f"{site.index('reviewed')}one-doc/", Accept=SIMPLE_JSON),
        get_json(http, f"{site.base}/ui/projects/one-doc"))
    assert upstream.count("/pypi/one-doc/json") == 1
    services = site.app[SERVICES]  # one cache of upstream's documents, whoever reads them
    assert services.jsonapi.documents is services.json_documents
    assert services.advisories is not None and services.advisories.documents is services.json_documents
    # ...and every reader used it: the advisory holds 2.0 from `reviewed`, `all` describes 2.0 with it, the UI
    # names upstream's maintainers.
    assert page["versions"] == ["1.0"] and sorted(reviewed["releases"]) == ["1.0"]
    assert everything["info"]["version"] == "2.0" and [v["id"] for v in everything["vulnerabilities"]] == [
        "PYSEC-2026-7"]
    assert ui_status == 200 and "carol" in ui and "PYSEC-2026-7" in ui
    # Warm: nobody asks upstream again.
    await get_json(http, f"{site.base}/reviewed/pypi/one-doc/json")
    await get_json(http, f"{site.base}/ui/projects/one-doc")
    assert upstream.count("/pypi/one-doc/json") == 1


async def test_a_new_revision_fetched_for_the_json_api_re_decides_the_advisories(
        site: MirrorServer, upstream: FakeUpstream, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("Late.Vuln", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("Late.Vuln", "2.0", dists, upload_time=OLD)
    policies.write_project("late-vuln", review())
    await policies.applied(http, site.base)
    _, page, _ = await get_json(http, f"{site.index('reviewed')}late-vuln/", Accept=SIMPLE_JSON)
    assert page["versions"] == ["1.0", "2.0"] and upstream.count("/pypi/late-vuln/json") == 1
    # Upstream learns of a vulnerability in 2.0; the JSON API is the one to revalidate the document...
    upstream.set_vulnerabilities("late-vuln", [{**VULN, "id": "PYSEC-2026-8", "fixed_in": ["2.1"]}])
    cache = site.app[SERVICES].json_documents.cache
    ttl = cache.policy.ttl
    cache.policy = dataclasses.replace(cache.policy, ttl=0)
    status, doc, _ = await get_json(http, f"{site.base}/all/pypi/late-vuln/json")
    cache.policy = dataclasses.replace(cache.policy, ttl=ttl)
    assert status == 200 and [v["id"] for v in doc["vulnerabilities"]] == ["PYSEC-2026-8"]
    assert upstream.count("/pypi/late-vuln/json") == 2

    # ...and the advisories derived from that very revision hold 2.0 from `reviewed`, without another fetch.
    async def held() -> bool:
        _, page, _ = await get_json(http, f"{site.index('reviewed')}late-vuln/", Accept=SIMPLE_JSON)
        return bool(page["versions"] == ["1.0"])

    await wait_until(held, "2.0 held from reviewed by the advisory upstream's new document states")
    assert upstream.count("/pypi/late-vuln/json") == 2
