"""The HTTP edge's one header policy: normalizing redirects carry the page's Vary (and CORS, when configured),
a 406 says it depended on Accept, errors of the server's own making are never cached (checklist A3, D, E23;
issue "security, part two" point 10)."""

from __future__ import annotations

from dataclasses import replace

from ..support.mirror_server import MirrorServer, make_config
from .test_conformance import JSON, get
from .test_conformance import project as _conformance_project

project = _conformance_project  # the conformance suite's demo-app fixture


async def test_normalizing_and_slash_redirects_carry_vary_and_cache_control(mirror, project, http):
    for url in (mirror.index() + "Demo_App/", mirror.index() + "demo-app", mirror.base + "/all/simple"):
        resp, _ = await get(http, url, JSON)
        assert resp.status == 301, url
        assert resp.headers["Vary"] == "Accept, Accept-Encoding", url
        assert resp.headers["Cache-Control"] == "max-age=600, public", url


async def test_a_doubled_slash_before_the_project_redirects_to_the_page(mirror, project, http):
    """A base URL ending in a slash joined with "/name/" (as pipenv builds it): 301 to the page, not 404."""
    for path, target in (("/all/simple//demo-app/", "/all/simple/demo-app/"),
                         ("/reviewed/simple//Demo_App/", "/reviewed/simple/demo-app/"),
                         ("/all/simple///demo-app", "/all/simple/demo-app/"),
                         ("/all/simple//demo-app/?format=json", "/all/simple/demo-app/?format=json")):
        resp, _ = await get(http, mirror.base + path, JSON)
        assert resp.status == 301, path
        assert resp.headers["Location"] == target, path
        assert resp.headers["Vary"] == "Accept, Accept-Encoding" and resp.headers["Cache-Control"] == \
            "max-age=600, public", path
    for path in ("/all/simple//demo-app/extra/", "/all/simple//", "/nosuch/simple//demo-app/"):
        resp, _ = await get(http, mirror.base + path, JSON)
        assert resp.status == 404, path
    async with http.get(mirror.base + "/all/simple//demo-app/", headers={"Accept": JSON}) as resp:
        assert resp.status == 200 and str(resp.url).endswith("/all/simple/demo-app/")


async def test_redirects_carry_cors_when_configured(tmp_path, upstream, project, http):
    config = make_config(tmp_path, upstream.url)
    server = MirrorServer(replace(config, server=replace(config.server, cors_origins=("*",))))
    await server.start()
    try:
        resp, _ = await get(http, server.index() + "Demo_App/", JSON, Origin="https://tools.example")
        assert resp.status == 301 and resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Accept" in resp.headers["Vary"]
    finally:
        await server.stop()


async def test_a_406_varies_on_accept(mirror, project, http):
    resp, body = await get(http, mirror.index() + "demo-app/", "application/vnd.pypi.simple.v2+json")
    assert resp.status == 406 and resp.headers["Vary"] == "Accept"
    assert b"application/vnd.pypi.simple.v1+json" in body
    resp, _ = await get(http, mirror.index(), "application/vnd.pypi.simple.v2+json")
    assert resp.status == 406 and resp.headers["Vary"] == "Accept"


async def test_upstream_failures_are_never_cached(mirror, upstream, http):
    await upstream.down()
    resp, body = await get(http, mirror.index() + "never-seen/", JSON)
    assert resp.status in (502, 504) and resp.headers["Cache-Control"] == "no-store"
    assert b"127.0.0.1" not in body  # what failed, never where
