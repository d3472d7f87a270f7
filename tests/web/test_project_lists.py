"""The tiers' project lists through the running mirror, against the fake upstream (issue 19; issue 17 point 10).

Every tier's list carries ``X-PyPI-Last-Serial``, ``meta._last-serial`` and display names (checklist A1, E26);
``reviewed`` and ``vetted`` never wait for upstream's list; ``all`` is streamed to the clients that wait for its
first fetch, revalidated in the background afterwards (nobody waits again), keeps its last good copy when a
refresh fails, leaves blocked projects out, survives a restart, and answers "does upstream have this name?".
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path

import aiohttp
import pytest

from mirror.web.state import SERVICES

from ..simple.htmlparse import PageReader
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, block, review, vetted

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"


async def get(http: aiohttp.ClientSession, url: str, accept: str = JSON, **headers: str
              ) -> tuple[aiohttp.ClientResponse, bytes]:
    async with http.get(url, headers={"Accept": accept, **headers}, allow_redirects=False) as resp:
        return resp, await resp.read()


async def first_list(http: aiohttp.ClientSession, server: MirrorServer) -> None:
    """Ask for ``all``'s list the first time (its answer is streamed as it is built) and wait until it is built:
    the next answers are prepared ones."""
    await get(http, server.index())
    await server.app[SERVICES].pages.project_list()


def listed(body: bytes, accept: str) -> list[tuple[str, int | None]] | list[tuple[str, str]]:
    """(name, serial) of a JSON list, (href, name) of an HTML one."""
    if accept == JSON:
        return [(p["name"], p.get("_last-serial")) for p in json.loads(body)["projects"]]
    return [(a["href"], text) for a, text in PageReader(body.decode()).anchors]


def serial_of(resp: aiohttp.ClientResponse, body: bytes, accept: str) -> int:
    """The list's serial, checked to be the same in the header and in the body (E26)."""
    header = int(resp.headers["X-PyPI-Last-Serial"])
    if accept == JSON:
        assert json.loads(body)["meta"]["_last-serial"] == header
    else:
        assert body.rstrip().endswith(f"<!--SERIAL {header}-->".encode())
    return header


@pytest.fixture
def projects(upstream: FakeUpstream, dists: Path) -> FakeUpstream:
    """Three projects whose display names are not their normalized names."""
    upstream.add_wheel("Demo_App", "1.0", dists)
    upstream.add_wheel("Other.Lib", "0.1", dists)
    upstream.add_wheel("Other.Lib", "0.2", dists)
    upstream.add_wheel("plain", "3.0", dists)
    return upstream


@pytest.fixture
def policies(mirror: MirrorServer) -> PolicyDir:
    return PolicyDir(mirror.config.policies.path)


async def test_every_tier_lists_display_names_and_serials(mirror, projects, policies, http):
    wheel = next(f for f in projects._projects["other-lib"].files.values() if "0.2" in f.filename)
    policies.write_project("demo-app", review())
    policies.write_project("other-lib", review(), "\n" + vetted("0.2", {wheel.filename: wheel.sha256}))
    await policies.applied(http, mirror.base, "other-lib")
    serials = {name: projects.project_serial(name) for name in ("demo-app", "other-lib", "plain")}
    tiers = {"all": ["demo-app", "other-lib", "plain"], "reviewed": ["demo-app", "other-lib"],
             "vetted": ["other-lib"]}
    display = {"demo-app": "Demo_App", "other-lib": "Other.Lib", "plain": "plain"}
    await first_list(http, mirror)  # upstream's list in memory: curated lists take names from it
    for tier, names in tiers.items():
        for accept in (JSON, HTML):
            resp, body = await get(http, mirror.index(tier), accept)
            assert resp.status == 200, (tier, body)
            serial = serial_of(resp, body, accept)
            if accept == JSON:
                assert listed(body, accept) == [(display[n], serials[n]) for n in names]
                assert serial == (projects.serial if tier == "all" else max(serials[n] for n in names))
            else:
                assert listed(body, accept) == [(f"{n}/", display[n]) for n in names]
            assert "Accept" in resp.headers["Vary"] and resp.headers["ETag"]


async def test_curated_lists_never_wait_for_upstreams_list(tmp_path, projects, http):
    projects.fault_filter = lambda path: path == "/simple/"
    projects.delay = 1.2  # upstream's list is slow (within the test timeouts); its pages are not
    server = await MirrorServer(make_config(tmp_path, projects.url)).start()
    try:
        policies = PolicyDir(server.config.policies.path)
        policies.write_project("demo-app", review())
        await policies.applied(http, server.base, "not-there")
        started = time.monotonic()
        resp, body = await get(http, server.index("reviewed"))
        assert time.monotonic() - started < 0.8 and resp.status == 200
        assert listed(body, JSON) == [("demo-app", None)]  # nothing cached of it yet: its normalized name
        assert "X-PyPI-Last-Serial" not in resp.headers and "_last-serial" not in json.loads(body)["meta"]
        await get(http, server.index("reviewed") + "demo-app/")  # its page is in memory now
        policies.write_project("plain", review())  # a policy change: the list is made again
        await policies.applied(http, server.base, "not-there")
        started = time.monotonic()
        resp, body = await get(http, server.index("reviewed"))
        assert time.monotonic() - started < 0.8
        demo = projects.project_serial("demo-app")
        assert listed(body, JSON) == [("demo-app", demo), ("plain", None)]  # the page's name and serial
        assert serial_of(resp, body, JSON) == demo
        await get(http, server.index())  # upstream's list, at last (slow): its display names win
        policies.write_project("plain")
        await policies.applied(http, server.base, "not-there")
        resp, body = await get(http, server.index("reviewed"))
        assert listed(body, JSON) == [("Demo_App", demo)]
    finally:
        await server.stop()


def big_list(count: int) -> tuple[bytes, bytes]:
    names = [f"Project_{i}" for i in range(count)]
    html = ("<!DOCTYPE html><html><body>\n" + "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
            + "</body></html>\n").encode()
    data = {"meta": {"api-version": "1.1", "_last-serial": 4242},
            "projects": [{"name": n, "_last-serial": i} for i, n in enumerate(names)]}
    return html, json.dumps(data).encode()


@pytest.mark.parametrize("accept", [JSON, HTML])
async def test_the_first_clients_get_the_list_as_it_is_built(mirror, upstream, http, accept):
    upstream.list_bodies = big_list(60_000)
    upstream.list_pace = (256 * 1024, 0.05)  # ~3 MB over ~0.6 s
    requests = [asyncio.ensure_future(_timed_read(http, mirror.index(), accept)) for _ in range(3)]
    done = await asyncio.gather(*requests)
    for headers, _, first_byte, total in done:
        assert first_byte < total - 0.2  # bytes came while upstream was still sending
        assert "Content-Length" not in headers and "ETag" not in headers  # sent before the bytes were known
        assert headers["X-PyPI-Last-Serial"] == "4242"
    await mirror.app[SERVICES].pages.project_list()
    # identity: the gzip form may or may not be made by now
    resp, prepared = await get(http, mirror.index(), accept, **{"Accept-Encoding": "identity"})
    assert resp.headers["ETag"] and int(resp.headers["Content-Length"]) == len(prepared)
    assert all(body == prepared for _, body, _, _ in done)  # the same bytes as the prepared list
    assert len(listed(prepared, accept)) == 60_000 and serial_of(resp, prepared, accept) == 4242
    assert upstream.count("/simple/", "GET") == 1


async def test_a_list_served_as_html_holds_its_json_packed_until_a_json_client_asks(mirror, upstream, http):
    upstream.list_bodies = big_list(60_000)
    await get(http, mirror.index(), HTML)  # the first client: streamed, the HTML made as the list is built
    built = (await mirror.app[SERVICES].pages.project_list()).value
    unpacked = built.nbytes
    json_size = sum(map(len, built.json_pieces()))
    resp, html = await get(http, mirror.index(), HTML)  # prepared as HTML: the JSON is packed once it is served
    assert resp.status == 200 and len(listed(html, HTML)) == 60_000
    for _ in range(200):
        if built.nbytes < unpacked - json_size // 2:
            break
        await asyncio.sleep(0.05)
    assert built.nbytes < unpacked - json_size // 2, (built.nbytes, unpacked, json_size)
    resp, body = await get(http, mirror.index(), JSON)  # inflated for the JSON client, the same entries
    assert listed(body, JSON) == [(f"Project_{i}", i) for i in range(60_000)]
    assert serial_of(resp, body, JSON) == 4242


async def _timed_read(http: aiohttp.ClientSession, url: str, accept: str) -> tuple[dict[str, str], bytes, float,
                                                                                  float]:
    started = time.monotonic()
    first_byte = None
    chunks = []
    async with http.get(url, headers={"Accept": accept}) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            first_byte = first_byte or time.monotonic() - started
            chunks.append(chunk)
        return dict(resp.headers), b"".join(chunks), first_byte or 0.0, time.monotonic() - started


async def test_warm_requests_are_served_while_a_list_is_built(mirror, projects, http):
    """The list is parsed and rendered in the CPU lane: the event loop never stalls, warm pages keep coming."""
    await get(http, mirror.index() + "plain/")  # a warm page
    projects.list_bodies = big_list(400_000)  # ~16 MB of JSON, a few hundred ms of work
    lags: list[float] = []
    warm: list[float] = []
    cold = asyncio.ensure_future(get(http, mirror.index(), HTML))
    while not cold.done():
        started = time.monotonic()
        await asyncio.sleep(0.005)
        lags.append(time.monotonic() - started - 0.005)
        started = time.monotonic()
        resp, _ = await get(http, mirror.index() + "plain/")
        warm.append(time.monotonic() - started)
        assert resp.status == 200
    resp, body = await cold
    assert resp.status == 200 and len(listed(body, HTML)) == 400_000
    assert len(warm) >= 10, warm  # the list took a while, and warm pages were answered all along
    assert max(lags) < 0.25 and sorted(warm)[len(warm) // 2] < 0.05, (max(lags), sorted(warm)[-5:])


async def test_a_list_cut_midway_never_looks_complete(mirror, upstream, http):
    upstream.list_bodies = big_list(200_000)
    upstream.list_cut = True
    upstream.list_pace = (256 * 1024, 0.02)  # the mirror starts sending before the cut
    with pytest.raises(aiohttp.ClientPayloadError):  # an incomplete answer, never a short list that looks whole
        await get(http, mirror.index())
    upstream.list_bodies = big_list(3_000)
    upstream.list_pace = None  # cut before the mirror had anything to send: a clean error answer
    resp, body = await get(http, mirror.index())
    assert resp.status == 502 and b"upstream" in body
    upstream.list_cut = False
    resp, body = await get(http, mirror.index())
    assert resp.status == 200 and len(listed(body, JSON)) == 3_000


@pytest.mark.parametrize("fault", ["500", "garbage", "cut", "down"])
async def test_a_failed_refresh_keeps_the_last_good_copy(revalidating, projects, dists, http, fault):
    await first_list(http, revalidating)
    plain = {"Accept-Encoding": "identity"}  # one ETag (the gzip form is made in the background)
    resp, good = await get(http, revalidating.index(), **plain)
    etag = resp.headers["ETag"]
    projects.add_wheel("newer", "1.0", dists)
    if fault == "500":
        projects.fail_status = 500
    elif fault == "garbage":
        projects.garbage = True
    elif fault == "cut":
        projects.list_cut = True
    else:
        await projects.down()
    for _ in range(50):  # the refresh runs in the background: nobody waits for it
        started = time.monotonic()
        resp, body = await get(http, revalidating.index(), **plain)
        assert time.monotonic() - started < 0.8
        assert resp.status == 200 and body == good and resp.headers["ETag"] == etag
        if resp.headers.get("X-Mirror-Stale") == "1":
            break
        await asyncio.sleep(0.05)
    assert resp.headers["X-Mirror-Stale"] == "1" and "110" in resp.headers["Warning"]


async def test_nobody_waits_for_a_refresh(revalidating, projects, dists, http):
    await first_list(http, revalidating)
    _, old = await get(http, revalidating.index())
    projects.add_wheel("newer", "1.0", dists)
    projects.fault_filter = lambda path: path == "/simple/"
    projects.delay = 1.5
    for _ in range(5):
        started = time.monotonic()
        resp, body = await get(http, revalidating.index())
        assert time.monotonic() - started < 0.5 and body == old
    projects.delay = 0
    lists = revalidating.app[SERVICES].pages.lists
    for _ in range(3):  # a refresh started before the change may end after it: the next one has it
        await lists.settle()
        _, new = await get(http, revalidating.index())
        if ("newer", projects.project_serial("newer")) in listed(new, JSON):
            break
    assert ("newer", projects.project_serial("newer")) in listed(new, JSON)


async def test_a_refreshed_list_replaces_the_last_one_once_prepared(revalidating, upstream, http):
    upstream.list_bodies = big_list(100_000)
    await first_list(http, revalidating)
    _, old = await get(http, revalidating.index(), HTML)
    lists = revalidating.app[SERVICES].pages.lists
    html, data = big_list(100_001)  # upstream moved on: one more project
    upstream.list_bodies = (html, data)
    seen = set()
    for _ in range(100):
        started = time.monotonic()
        resp, body = await get(http, revalidating.index(), HTML)
        assert time.monotonic() - started < 0.5 and resp.status == 200  # the last list until the new one is ready
        assert body == old or len(listed(body, HTML)) == 100_001
        seen.add(body == old)
        if body != old:
            break
        await lists.settle()
    assert seen == {True, False}


async def test_blocked_projects_leave_the_list_of_all(mirror, projects, policies, http):
    policies.write_project("other-lib", block())
    await policies.applied(http, mirror.base, "other-lib")
    for accept in (JSON, HTML):  # the first answer streams as the list is built: blocked ones are left out too
        resp, body = await get(http, mirror.index(), accept)
        names = [e[0 if accept == JSON else 1] for e in listed(body, accept)]
        assert names == ["Demo_App", "plain"]
    await mirror.app[SERVICES].pages.project_list()
    resp, before = await get(http, mirror.index())
    policies.write_project("other-lib", review())
    await policies.applied(http, mirror.base, "other-lib")
    again, after = await get(http, mirror.index())
    assert [n for n, _ in listed(after, JSON)] == ["Demo_App", "Other.Lib", "plain"]
    assert again.headers["ETag"] != resp.headers["ETag"]


async def test_upstream_has_answers_from_the_list(mirror, projects, http):
    pages = mirror.app[SERVICES].pages
    assert pages.name_index() is None
    await first_list(http, mirror)
    projects.reset_log()
    assert await pages.upstream_has("demo.app") is True
    assert await pages.upstream_has("no-such-project") is False
    assert projects.requests == []  # answered from the list in memory: no page fetched
    index = pages.name_index()
    assert index is not None and "OTHER_LIB" in index and len(index) == 3


async def test_the_list_survives_a_restart(mirror, projects, http):
    await first_list(http, mirror)
    # identity both times: whether the gzip form is made yet is not the point here
    plain = {"Accept-Encoding": "identity"}
    resp, body = await get(http, mirror.index(), **plain)
    await mirror.app[SERVICES].pages.lists.settle()  # stored once served
    await mirror.restart()
    await projects.down()
    again, after = await get(http, mirror.index(), **plain)
    assert again.status == 200 and after == body and again.headers["ETag"] == resp.headers["ETag"]
    _, html = await get(http, mirror.index(), HTML)
    assert [t for _, t in listed(html, HTML)] == ["Demo_App", "Other.Lib", "plain"]


async def test_the_gzip_form_is_made_once_and_never_waited_for(mirror, upstream, http):
    upstream.list_bodies = big_list(100_000)
    await first_list(http, mirror)
    resp, body = await get(http, mirror.index(), **{"Accept-Encoding": "identity"})
    for _ in range(100):
        async with http.get(mirror.index(), headers={"Accept": JSON, "Accept-Encoding": "gzip"},
                            auto_decompress=False) as zipped:
            raw = await zipped.read()
            if zipped.headers.get("Content-Encoding") == "gzip":
                break
            assert raw == body and zipped.headers["ETag"] == resp.headers["ETag"]  # not ready: identity, at once
        await asyncio.sleep(0.05)
    assert gzip.decompress(raw) == body and zipped.headers["ETag"] != resp.headers["ETag"]
    assert len(raw) < len(body) / 5
