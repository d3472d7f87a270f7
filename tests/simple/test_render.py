"""Checklist sections B, C, G, H on the pure renderer: one PEP 691 object, two renderings."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.core.models import (
    DistFile,
    Format,
    ProjectDetail,
    ProjectEntry,
    ProjectList,
    ProjectStatus,
)
from mirror.core.simple.parse import parse_project_page
from mirror.core.simple.render import make_environment, render_index, render_project
from mirror.resources import templates_dir

from .htmlparse import PageReader

ENV = make_environment(str(templates_dir()))
SHA = "a" * 64
META_SHA = "b" * 64


def href(f: DistFile) -> str:
    return f"../../files/demo/{f.filename}"


def sample() -> ProjectDetail:
    return ProjectDetail(
        name="demo",
        files=(
            DistFile("demo-1.0.tar.gz", "https://up.example/demo-1.0.tar.gz", {"sha256": SHA},
                     requires_python=">=2.7, !=3.0.*, <4", size=10,
                     upload_time=datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)),
            DistFile("demo-2.0-py3-none-any.whl", "https://up.example/demo-2.0-py3-none-any.whl",
                     {"sha256": SHA}, size=20, upload_time=datetime(2024, 2, 1, tzinfo=UTC),
                     yanked="broken \"quotes\" & <tags>", core_metadata={"sha256": META_SHA},
                     provenance="https://up.example/integrity/demo/2.0/demo-2.0-py3-none-any.whl/provenance"),
            DistFile("demo-3.0-py3-none-any.whl", "https://up.example/demo-3.0-py3-none-any.whl",
                     {"sha256": SHA}, size=30, upload_time=datetime(2024, 3, 1, tzinfo=UTC), yanked=True),
        ),
        versions=("1.0", "2.0", "3.0", "4.0"),
        last_serial=42,
    )


def test_json_detail_page_fields():
    data = json.loads(render_project(sample(), Format.JSON, ENV, href))
    assert data["meta"] == {"api-version": "1.4", "_last-serial": 42}
    assert data["name"] == "demo"
    assert data["project-status"] == {"status": "active"}
    # versions come from the files present (4.0 has none), item 17
    assert data["versions"] == ["1.0", "2.0", "3.0"]
    first, second, third = data["files"]
    assert first == {
        "filename": "demo-1.0.tar.gz", "url": "../../files/demo/demo-1.0.tar.gz", "hashes": {"sha256": SHA},
        "requires-python": ">=2.7, !=3.0.*, <4", "size": 10, "upload-time": "2024-01-02T03:04:05.678900Z",
        "yanked": False, "core-metadata": False, "data-dist-info-metadata": False, "provenance": None,
    }
    assert second["yanked"] == 'broken "quotes" & <tags>'
    assert second["core-metadata"] == second["data-dist-info-metadata"] == {"sha256": META_SHA}
    assert second["provenance"].startswith("https://")
    assert second["upload-time"] == "2024-02-01T00:00:00Z"
    assert third["yanked"] is True


def test_html_detail_page_attributes_round_trip():
    page = PageReader(render_project(sample(), Format.HTML, ENV, href).decode())
    assert page.doctype.lower() == "doctype html"
    assert page.meta["pypi:repository-version"] == "1.4"
    assert page.meta["pypi:project-status"] == "active"
    (a1, t1), (a2, t2), (a3, t3) = page.anchors
    assert t1 == "demo-1.0.tar.gz" and a1["href"] == f"../../files/demo/demo-1.0.tar.gz#sha256={SHA}"
    assert a1["data-requires-python"] == ">=2.7, !=3.0.*, <4"  # item 9: escaped, round-trips
    assert "data-yanked" not in a1 and "data-core-metadata" not in a1 and "data-provenance" not in a1
    assert a2["data-yanked"] == 'broken "quotes" & <tags>'
    assert a2["data-core-metadata"] == a2["data-dist-info-metadata"] == f"sha256={META_SHA}"
    assert a2["data-provenance"].startswith("https://")
    assert "data-requires-python" not in a2
    assert a3["data-yanked"] == ""  # item 10: yanked without reason


def test_html_escapes_requires_python_in_source():
    body = render_project(sample(), Format.HTML, ENV, href).decode()
    assert 'data-requires-python="&gt;=2.7, !=3.0.*, &lt;4"' in body
    assert "<!--SERIAL 42-->" in body


def test_status_and_reason_rendered():
    detail = ProjectDetail(name="old", status=ProjectStatus("archived", "no longer maintained"))
    data = json.loads(render_project(detail, Format.JSON, ENV, href))
    assert data["project-status"] == {"status": "archived", "reason": "no longer maintained"}
    page = PageReader(render_project(detail, Format.HTML, ENV, href).decode())
    assert page.meta["pypi:project-status"] == "archived"
    assert page.meta["pypi:project-status-reason"] == "no longer maintained"


def test_index_page_both_formats():
    plist = ProjectList((ProjectEntry("Django", 5), ProjectEntry("zope.interface")), last_serial=9)
    data = json.loads(render_index(plist, Format.JSON, ENV))
    assert data == {"meta": {"api-version": "1.4", "_last-serial": 9},
                    "projects": [{"name": "Django", "_last-serial": 5}, {"name": "zope.interface"}]}
    page = PageReader(render_index(plist, Format.TEXT_HTML, ENV).decode())
    assert page.meta["pypi:repository-version"] == "1.4"
    assert [(a["href"], t) for a, t in page.anchors] == [("django/", "Django"), ("zope-interface/", "zope.interface")]


# Both renderings, parsed back with the same parser used for upstream pages, describe the same files.
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
_files = st.builds(
    lambda i, rp, yanked, meta, size: DistFile(
        f"demo-{i}.0.tar.gz", f"https://up.example/demo-{i}.0.tar.gz", {"sha256": f"{i:064x}"},
        requires_python=rp, size=size, yanked=yanked, core_metadata={"sha256": META_SHA} if meta else None,
        upload_time=datetime(2020, 1, 1, tzinfo=UTC)),
    st.integers(0, 10**6), st.none() | _text, st.booleans() | _text.filter(lambda s: s.strip() == s),
    st.booleans(), st.integers(0, 2**40))


@settings(max_examples=30, deadline=None)
@given(st.lists(_files, max_size=5, unique_by=lambda f: f.filename))
@pytest.mark.parametrize("fmt", [Format.JSON, Format.HTML])
def test_render_then_parse_round_trips(fmt, files):
    detail = ProjectDetail(name="demo", files=tuple(files), last_serial=7)
    body = render_project(detail, fmt, ENV, lambda f: f.url)
    parsed = parse_project_page(body, fmt.value, project="demo", page_url="https://up.example/simple/demo/")
    assert [f.filename for f in parsed.files] == [f.filename for f in files]
    for got, want in zip(parsed.files, files):
        assert got.sha256 == want.sha256
        assert got.requires_python == want.requires_python
        assert got.is_yanked == want.is_yanked
        assert (got.yanked_reason or None) == (want.yanked_reason or None)
        assert got.metadata_hash() == want.metadata_hash()
        if fmt is Format.JSON:
            assert got.size == want.size and got.upload_time == want.upload_time
