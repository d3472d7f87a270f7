"""The new parsers agree with the reference reading (pypi-simple) on valid pages.

Generated pages (tests/simple/pagegen.py), the pages the fake upstream of the test suite serves, and
the mirror's own rendered pages; the corpus of real pages is in test_parse_corpus.py. Agreement is
on the whole model: every file with every field, versions, serial, status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror.core.models import Format
from mirror.core.simple import parse_reference as reference
from mirror.core.simple.list_batch import unique
from mirror.core.simple.parse import parse_project_list, read_project_page
from mirror.core.simple.parse_html import raw_anchors
from mirror.core.simple.render import make_environment, render_index, render_project
from mirror.resources import templates_dir

from ..support.fake_upstream import JSON_TYPE, FakeUpstream
from . import pagegen

PAGE_URL = "https://index.example/simple/demo/"
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def agree(body: bytes, content_type: str, project: str, page_url: str = PAGE_URL) -> Any:
    """Parse with both; assert equal models and no warnings; return the new result."""
    new = read_project_page(body, content_type, project=project, page_url=page_url, header_serial="5")
    old = reference.parse_project_page(body, content_type, project=project, page_url=page_url, header_serial="5")
    assert new.warnings == ()
    assert new.detail == old
    return new


@SETTINGS
@given(pagegen.project_pages(), st.integers(0, 2), st.booleans())
def test_json_pages_agree(page: dict[str, Any], time_style: int, status_in_meta: bool) -> None:
    body = pagegen.json_page(page, time_style=time_style)
    new = agree(body, JSON_TYPE, page["name"])
    assert len(new.detail.files) == len(page["files"])
    if status_in_meta:  # pypi-simple only reads the top-level key; the new parser reads both
        moved = read_project_page(pagegen.json_page(page, status_in_meta=True), JSON_TYPE, project=page["name"],
                                  page_url=PAGE_URL, header_serial="5")
        assert moved.detail == new.detail


@SETTINGS
@given(pagegen.project_pages(), st.lists(st.sampled_from(pagegen.STYLES), min_size=1, max_size=4), st.booleans(),
       st.sampled_from([None, "https://mirror.example/base/", "../other/"]))
def test_html_pages_agree(page: dict[str, Any], styles: list[str], noise: bool, base: str | None) -> None:
    body = pagegen.html_page(page, styles, noise=noise, base=base)
    new = agree(body, "text/html; charset=utf-8", page["name"])
    assert len(new.detail.files) == len(page["files"])


@SETTINGS
@given(pagegen.project_pages())
def test_plain_html_pages_take_the_fast_path(page: dict[str, Any]) -> None:
    """Pages written the way indexes write them never need the tokenizer (the speed depends on it)."""
    text = pagegen.html_page(page, ["plain"]).decode()
    assert text.count("<a") == len(raw_anchors(text)) == len(page["files"])


@SETTINGS
@given(pagegen.project_lists(), st.booleans(), st.booleans())
def test_project_lists_agree(names: list[str], noise: bool, meta_last: bool) -> None:
    for body, ctype in [(pagegen.html_list(names, noise=noise), "text/html"),
                        (pagegen.json_list(names, [1, None, 3], meta_last=meta_last), JSON_TYPE)]:
        new = parse_project_list(body, ctype, header_serial="4")
        old = reference.parse_project_list(body, ctype, header_serial="4")
        # The reference keeps duplicates; the new parser keeps the first spelling of each project.
        expected = list(unique((p.name, p.last_serial) for p in old.projects))
        assert [p.name for p in new.projects] == [name for name, _ in expected]
        # (For a name written twice the reference gives every copy the serial of the last one.)
        once = {n for n in names if names.count(n) == 1}
        kept = {p.name for p in new.projects}
        assert [p for p in new.projects if p.name in once] == [
            p for p in old.projects if p.name in once and p.name in kept]
        assert new.last_serial == old.last_serial


async def test_pages_of_the_fake_upstream_agree(upstream: FakeUpstream, dists: Path) -> None:
    """Every kind of page the test suite's upstream serves, in both formats."""
    from datetime import UTC, datetime

    upstream.add_wheel("Demo.Pkg", "1.0", dists, requires_python=">=3.8, <4", provenance='{"x": 1}')
    upstream.add_sdist("Demo.Pkg", "1.0", dists, upload_time=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))
    upstream.add_wheel("Demo.Pkg", "1.1", dists, yanked="broken <build> & more")
    upstream.add_wheel("Demo.Pkg", "2.0", dists, with_metadata=False, yanked=True)
    upstream.add_wheel("other", "0.1", dists)
    upstream.set_status("other", "archived", "moved to \"new\"")
    upstream.add_wheel("gone", "0.1", dists)
    upstream.set_status("gone", "quarantined")
    async with aiohttp.ClientSession() as http:
        for accept in (JSON_TYPE, "text/html"):
            for project in ("demo-pkg", "other", "gone"):
                url = f"{upstream.url}{project}/"
                async with http.get(url, headers={"Accept": accept}) as r:
                    body, ctype = await r.read(), r.headers["Content-Type"]
                new = agree(body, ctype, project, url)
                assert new.detail.files or project == "gone"
            async with http.get(upstream.url, headers={"Accept": accept}) as r:
                body, ctype = await r.read(), r.headers["Content-Type"]
            assert parse_project_list(body, ctype) == reference.parse_project_list(body, ctype)


@SETTINGS
@given(pagegen.project_pages(max_files=6), st.sampled_from(list(Format)))
def test_the_mirrors_own_pages_agree(page: dict[str, Any], fmt: Format) -> None:
    """A page the mirror renders reads back the same with both parsers (mirrors of this mirror)."""
    detail = read_project_page(pagegen.json_page(page), JSON_TYPE, project=page["name"], page_url=PAGE_URL).detail
    body = render_project(detail, fmt, _env(), lambda f: f"../../files/{detail.name}/{f.filename}")
    new = agree(body, fmt.value, page["name"])
    assert [f.filename for f in new.detail.files] == [f.filename for f in detail.files]
    listing = render_index(parse_project_list(pagegen.json_list([page["name"], "Other"]), JSON_TYPE), fmt, _env())
    assert parse_project_list(listing, fmt.value) == reference.parse_project_list(listing, fmt.value)


_ENV: list[Any] = []


def _env() -> Any:
    if not _ENV:
        _ENV.append(make_environment(str(templates_dir())))
    return _ENV[0]


@pytest.mark.parametrize("api", ["1.0", "1.4"])
def test_an_empty_page_agrees(api: str) -> None:
    page: dict[str, Any] = {"name": "Empty", "files": [], "status": None, "api": api, "serial": None,
                            "versions": []}
    assert agree(pagegen.json_page(page), JSON_TYPE, "empty").detail.files == ()
    assert agree(pagegen.html_page(page, ["plain"]), "text/html", "empty").detail.files == ()
