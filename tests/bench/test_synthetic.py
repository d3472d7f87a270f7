"""bench.synthetic: pages rendered once, valid for the mirror's own parser in both formats."""

from __future__ import annotations

from bench.synthetic import FILES_PER_VERSION, project_list, project_templates, synthetic_files, vetted_pins
from mirror.core.simple.parse import parse_project_list, parse_project_page

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def test_a_template_makes_distinct_valid_pages_that_agree_in_both_formats() -> None:
    count = 2 * FILES_PER_VERSION + 7
    html, js = project_templates(count, "http://up.example/files/")
    pages = {}
    for name in ("big1", "big22"):
        url = f"http://up.example/simple/{name}/"
        from_json = parse_project_page(js.render(name), JSON_TYPE, project=name, page_url=url)
        from_html = parse_project_page(html.render(name), "text/html", project=name, page_url=url)
        assert len(from_json.files) == len(from_html.files) == count
        assert [(f.filename, f.url, f.hashes) for f in from_json.files] == [
            (f.filename, f.url, f.hashes) for f in from_html.files]
        assert all(f.filename.startswith(f"{name}-") for f in from_json.files)
        assert all(f.requires_python == ">=3.8" for f in from_html.files)
        pages[name] = from_json
    assert pages["big1"].files[0].filename != pages["big22"].files[0].filename


def test_vetted_pins_are_the_newest_versions_with_the_pages_hashes() -> None:
    count = 3 * FILES_PER_VERSION
    pins = vetted_pins("big3", count, versions=2)
    assert list(pins) == ["1.1", "1.2"]
    assert all(len(files) == FILES_PER_VERSION for files in pins.values())
    _html, js = project_templates(count, "http://up.example/files/")
    page = parse_project_page(js.render("big3"), JSON_TYPE, project="big3", page_url="http://up.example/simple/big3/")
    on_page = {f.filename: f.hashes["sha256"] for f in page.files}
    assert all(on_page[name] == sha for files in pins.values() for name, sha in files.items())


def test_files_are_counted_exactly() -> None:
    assert len(synthetic_files(1)) == 1 and len(synthetic_files(FILES_PER_VERSION + 1)) == FILES_PER_VERSION + 1


def test_project_list_in_both_formats() -> None:
    body_html, body_json = project_list(1000)
    for body, ctype in ((body_html, "text/html"), (body_json, JSON_TYPE)):
        plist = parse_project_list(body, ctype)
        assert len(plist.projects) == 1000
