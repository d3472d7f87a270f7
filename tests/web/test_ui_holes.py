"""The UI's holes: /ui/holes lists every hole of the curated tiers with the exact text ``mirror check`` prints and
the command that fills it (the same rows: one report, two renderings); the home and tier pages link to it with
the count; a dependent's project page shows its holes, a missing dependency's page shows who needs it."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from mirror.core.models import Tier
from mirror.web.state import SERVICES

from ..support import floorworld
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, review, vetted, wait_until
from ..support.webface import UiPage, web_config

ROW = re.compile(r'<td data-label="Hole">(.*?)</td>\s*<td data-label="Fill it">(?:<code>(.*?)</code>|.*?)</td>', re.S)


@pytest.fixture
async def holey(tmp_path: Path, upstream: FakeUpstream, dists: Path, policies: PolicyDir):
    """toolkit and gadget reviewed, helper (which both need) not; toolkit 2.0 and 2.1 vetted, helper not."""
    floorworld.publish(upstream, dists)
    files = {f.version: f for f in upstream._projects["toolkit"].files.values()}
    policies.write_project("toolkit", review(), vetted("2.0", {files["2.0"].filename: files["2.0"].sha256}),
                           vetted("2.1", {files["2.1"].filename: files["2.1"].sha256}))
    policies.write_project("gadget", review())
    config = web_config(tmp_path, upstream.url)
    server = MirrorServer(replace(config, dependencies=replace(config.dependencies, holes_delay=0)))
    await server.start()
    yield server
    await server.stop()


async def counted(http: aiohttp.ClientSession, server: MirrorServer) -> dict:
    version = server.app[SERVICES].policies.current.version

    async def probe() -> dict | None:
        async with http.get(server.base + "/healthz") as resp:
            found = (await resp.json())["holes"]
        return found if found["policy_version"] == version and found["counts"] is not None else None
    return await wait_until(probe, "holes counted")


async def text(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as resp:
        body = await resp.text()
        assert resp.status == 200, (url, body[:300])
    assert UiPage(body).problems() == [], url
    return body


def rows(page: str) -> list[tuple[str, str | None]]:
    return [(html.unescape(hole), html.unescape(fix) if fix else None) for hole, fix in ROW.findall(page)]


async def test_the_holes_page_shows_the_rows_check_prints(holey: MirrorServer, http: aiohttp.ClientSession,
                                                          tmp_path: Path, upstream: FakeUpstream,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    health = await counted(http, holey)
    assert health["counts"] == {"reviewed": 2, "vetted": 2}
    page = await text(http, holey.base + "/ui/holes")
    shown = rows(page)
    assert len(shown) == 4 and "4 holes" in page
    expected = (f"toolkit 2.1 needs {floorworld.NEEDS}: helper is not in 'reviewed': not reviewed: no [review] for "
                "this project", "mirror promote helper --by NAME --note TEXT")
    assert expected in shown
    # every vetted release is checked, each named
    for version in ("2.0", "2.1"):
        assert (f"toolkit {version} needs {floorworld.NEEDS}: helper is not in 'vetted': not reviewed: no [review] "
                "for this project", "mirror promote helper --by NAME --note TEXT") in shown

    # the same rows as `mirror check`, line for line (check prints "file:line: hole in 'TIER': TEXT; fill it: FIX")
    check = await cli("check", config=write_config(tmp_path, upstream))
    printed = [line.split(": ", 1)[1] for line in check.out.splitlines() if ": hole in '" in line]
    tiers = re.findall(r'<td data-label="Tier"><a href="/(\w+)/">', page)
    assert printed == [f"hole in '{t}': {hole}; fill it: {fix}" for t, (hole, fix) in zip(tiers, shown, strict=True)]
    # /healthz names them as check does
    assert health["holes"] == printed and health["more"] == 0

    # one tier only
    reviewed = rows(await text(http, holey.base + "/ui/holes?tier=reviewed"))
    assert len(reviewed) == 2 and all("'reviewed'" in hole for hole, _ in reviewed)
    # a bounded list: the rest counted
    monkeypatch.setattr("mirror.web.ui.HOLES_SHOWN", 3)
    capped = await text(http, holey.base + "/ui/holes")
    assert len(rows(capped)) == 3 and "… and 1 more: <code>mirror check</code> lists them all." in capped
    # home and tier pages: the count, linked
    home = await text(http, holey.base + "/")
    assert '<a href="/ui/holes?tier=reviewed"><strong>2</strong> holes</a>' in home
    assert '<a href="/ui/holes?tier=vetted"><strong>2</strong> holes</a>' in home
    assert '<a href="/ui/holes?tier=vetted">2 holes</a>' in await text(http, holey.base + "/vetted/")


async def test_project_pages_show_their_holes_and_who_needs_a_missing_project(
        holey: MirrorServer, http: aiohttp.ClientSession, policies: PolicyDir) -> None:
    await counted(http, holey)
    toolkit = html.unescape(await text(http, holey.base + "/ui/projects/toolkit"))
    assert f"toolkit 2.1 needs {floorworld.NEEDS}: helper is not in 'reviewed'" in toolkit
    assert f"toolkit 2.0 needs {floorworld.NEEDS}: helper is not in 'vetted'" in toolkit
    assert "fill it: <code>mirror promote helper --by NAME --note TEXT</code>" in toolkit
    assert "Needed where a curated tier does not serve it" not in toolkit
    helper = html.unescape(await text(http, holey.base + "/ui/projects/helper"))
    assert "Needed where a curated tier does not serve it" in helper
    for who in ('href="/ui/projects/toolkit/2.1">toolkit 2.1</a>', 'href="/ui/projects/toolkit/2.0">toolkit 2.0</a>',
                'href="/ui/projects/gadget/1.0">gadget 1.0</a>'):
        assert who in helper
    gadget = html.unescape(await text(http, holey.base + "/ui/projects/gadget"))
    assert "gadget 1.0 needs helper>=2: helper is not in 'reviewed'" in gadget
    assert "Needed where a curated tier does not serve it" not in gadget

    # filled: promoted, the holes go away once counted again
    policies.write_project("helper", review())
    await policies.applied(http, holey.base, "helper")
    health = await counted(http, holey)
    assert health["counts"] == {"reviewed": 0, "vetted": 2}  # vetted still needs a vetted helper
    page = await text(http, holey.base + "/ui/holes?tier=vetted")
    fill = "mirror vet helper VERSION --by NAME --note TEXT"
    assert rows(page) == [(f"toolkit {v} needs {floorworld.NEEDS}: helper is not in 'vetted': no release of this "
                           "project is vetted", fill) for v in ("2.1", "2.0")]
    assert "projects/toolkit.toml:8" in page and "projects/toolkit.toml:16" in page  # each at its own vetting
    assert "None: every dependency" in await text(http, holey.base + "/ui/holes?tier=reviewed")
    assert holey.app[SERVICES].ui.holes().count(Tier.REVIEWED) == 0


async def test_before_the_first_count_the_page_says_so(site: MirrorServer, http: aiohttp.ClientSession) -> None:
    page = await text(http, site.base + "/ui/holes")  # holes_delay is 60 s by default: not counted yet
    assert "Holes are not counted yet" in page and rows(page) == []
    assert "holes</a> not counted yet" in await text(http, site.base + "/")
