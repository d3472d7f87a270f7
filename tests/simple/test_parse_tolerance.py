"""Odd upstream pages: one bad field is dropped with a warning, never the page (issue 17 point 9).

A missing or unusable filename/url drops that file; only a body that is not a page of the declared
type raises ParseError, with a short generic message (it may reach a client).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mirror.core.errors import ParseError
from mirror.core.simple.parse import parse_project_page, read_project_page
from mirror.core.simple.rules import MAX_WARNINGS, ParsedPage

JSON = "application/vnd.pypi.simple.v1+json"
PAGE = "https://index.example/simple/demo/"
SHA = "ab" * 32
GOOD = {"filename": "demo-1.0.tar.gz", "url": "https://files.example/demo-1.0.tar.gz", "hashes": {"sha256": SHA},
        "requires-python": ">=3.8", "size": 10, "upload-time": "2024-01-02T03:04:05Z", "yanked": False,
        "core-metadata": False, "provenance": None}
#: Every ParseError message the parsers may raise: short, fixed texts (no upstream or library text).
GENERIC = {"invalid JSON", "page is not a JSON object", "page has no meta object", "page has no files list",
           "missing or invalid repository version", "invalid repository version",
           "unsupported repository version", "body is not HTML", "unsupported content type"}


def page(*files: Any, **top: Any) -> bytes:
    data: dict[str, Any] = {"meta": {"api-version": "1.1", "_last-serial": 3}, "name": "demo", "files": list(files)}
    data.update(top)
    return json.dumps(data).encode()


def read(body: bytes, content_type: str = JSON, project: str = "demo") -> ParsedPage:
    return read_project_page(body, content_type, project=project, page_url=PAGE)


def one(body: bytes, content_type: str = JSON) -> tuple[Any, list[tuple[str | None, str]]]:
    parsed = read(body, content_type)
    (f,) = parsed.detail.files
    return f, [(w.filename, w.field) for w in parsed.warnings]


def test_a_good_file_needs_no_repair() -> None:
    f, warnings = one(page(GOOD))
    assert warnings == [] and f.upload_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC) and f.size == 10


@pytest.mark.parametrize("provenance", ["/integrity/demo/1.0/demo-1.0.tar.gz/provenance", "provenance",
                                        "http://elsewhere.example/p", "ftp://files.example/p", "https://", 7])
def test_a_bad_provenance_is_dropped_not_the_page(provenance: Any) -> None:
    f, warnings = one(page(GOOD | {"provenance": provenance}))
    assert f.provenance is None and f.filename == "demo-1.0.tar.gz" and f.hashes == {"sha256": SHA}
    assert warnings == [("demo-1.0.tar.gz", "provenance")]


def test_provenance_over_http_is_kept_only_on_the_pages_own_origin() -> None:
    body = page(GOOD | {"provenance": "http://127.0.0.1:8080/integrity/p"})
    parsed = read_project_page(body, JSON, project="demo", page_url="http://127.0.0.1:8080/simple/demo/")
    assert parsed.detail.files[0].provenance == "http://127.0.0.1:8080/integrity/p" and parsed.warnings == ()
    assert one(body)[0].provenance is None  # the page itself came over https from elsewhere


@pytest.mark.parametrize(("field", "value"), [
    ("upload-time", "yesterday"), ("upload-time", "2024-13-45T00:00:00Z"), ("upload-time", 1700000000),
    ("size", "10"), ("size", 1.5), ("size", -1), ("size", True), ("requires-python", 3),
    ("yanked", 0), ("yanked", None), ("core-metadata", "sha256=ab"), ("core-metadata", [1]),
])  # fmt: skip
def test_a_malformed_optional_field_is_dropped_with_a_warning(field: str, value: Any) -> None:
    f, warnings = one(page(GOOD | {field: value}))
    assert f.filename == "demo-1.0.tar.gz" and f.url == GOOD["url"] and f.verifiable_hash() == ("sha256", SHA)
    assert warnings == [("demo-1.0.tar.gz", field)]


def test_only_the_bad_file_loses_its_field() -> None:
    other = GOOD | {"filename": "demo-2.0.tar.gz", "url": "https://files.example/demo-2.0.tar.gz"}
    parsed = read(page(GOOD | {"size": "big"}, other))
    assert [f.size for f in parsed.detail.files] == [None, 10]


@pytest.mark.parametrize("hashes", [None, "ab", ["sha256", SHA]])
def test_unusable_hashes_leave_the_file_unverifiable(hashes: Any) -> None:
    f, warnings = one(page(GOOD | {"hashes": hashes}))
    assert f.hashes == {} and f.verifiable_hash() is None and warnings == [("demo-1.0.tar.gz", "hashes")]


def test_missing_hashes_and_bad_entries() -> None:
    no_hashes = {k: v for k, v in GOOD.items() if k != "hashes"}
    f, warnings = one(page(no_hashes))
    assert f.hashes == {} and warnings == [("demo-1.0.tar.gz", "hashes")]
    f, warnings = one(page(GOOD | {"hashes": {"sha256": SHA, "blake2b": 5}}))
    assert f.hashes == {"sha256": SHA} and warnings == [("demo-1.0.tar.gz", "hashes")]


@pytest.mark.parametrize("change", [{"filename": None}, {"filename": ""}, {"filename": 5}, {"url": None},
                                    {"url": ["x"]}, {"url": "javascript:alert(1)"}, {"url": "file:///etc/passwd"},
                                    {"url": "https:///no-host"}, {"url": "//[oops/x.tar.gz"},
                                    {"url": "https://a]b/x.tar.gz"}, {"url": "https://h.example:99999/x"}])
def test_a_file_without_a_usable_filename_or_url_is_dropped(change: dict[str, Any]) -> None:
    bad = {k: v for k, v in (GOOD | change).items() if v is not None}
    other = GOOD | {"filename": "demo-2.0.tar.gz"}
    parsed = read(page(bad, other))
    assert [f.filename for f in parsed.detail.files] == ["demo-2.0.tar.gz"]
    assert len(parsed.warnings) == 1 and parsed.warnings[0].field in ("filename", "url")


def test_entries_that_are_not_objects_are_dropped() -> None:
    parsed = read(page("demo-0.1.tar.gz", 7, GOOD))
    assert len(parsed.detail.files) == 1 and [w.field for w in parsed.warnings] == ["files[0]", "files[1]"]


def test_relative_urls_resolve_against_the_page_and_absolute_ones_stay() -> None:
    rel = GOOD | {"url": "../../packages/ab/demo-1.0.tar.gz"}
    odd_absolute = GOOD | {"filename": "demo-2.0.tar.gz", "url": "https://files.example/a/../b/demo-2.0.tar.gz"}
    parsed = read(page(rel, odd_absolute))
    assert [f.url for f in parsed.detail.files] == ["https://index.example/packages/ab/demo-1.0.tar.gz",
                                                    "https://files.example/a/../b/demo-2.0.tar.gz"]


def test_field_values_read_as_the_specs_say() -> None:
    naive = GOOD | {"upload-time": "2024-01-02T03:04:05", "yanked": "", "core-metadata": True}
    f, warnings = one(page(naive))
    assert f.upload_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC) and f.upload_time.tzinfo is not None
    assert f.yanked is True and f.core_metadata == {} and warnings == []
    offset = GOOD | {"upload-time": "2024-01-02T05:04:05+02:00", "requires-python": ""}
    f, _ = one(page(offset))
    assert f.upload_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # the same instant
    assert f.upload_time.utcoffset() == timedelta(hours=2)
    assert f.requires_python is None


@pytest.mark.parametrize("key", ["data-dist-info-metadata", "dist-info-metadata"])
def test_older_names_of_core_metadata_are_read_when_it_is_absent(key: str) -> None:
    entry = {k: v for k, v in GOOD.items() if k != "core-metadata"} | {key: {"sha256": SHA}}
    assert one(page(entry))[0].core_metadata == {"sha256": SHA}
    entry = GOOD | {key: {"sha256": SHA}}  # core-metadata: false wins
    assert one(page(entry))[0].core_metadata is None


def test_the_name_is_always_the_requested_one() -> None:
    parsed = read(page(GOOD, name="something-else"), project="Demo")
    assert parsed.detail.name == "demo" and parsed.detail.upstream_name == "something-else"
    assert [(w.field, "something-else" in w.problem) for w in parsed.warnings] == [("name", True)]
    same = read(page(GOOD, name="DEMO"), project="demo")
    assert same.warnings == () and same.detail.upstream_name == "DEMO"
    nameless = read(json.dumps({"meta": {"api-version": "1.0"}, "files": []}).encode(), project="Demo_X")
    assert nameless.detail.name == "demo-x" and nameless.detail.upstream_name is None
    html = read(b'<!DOCTYPE html><title>Links for other</title><a href="x-1.0.tar.gz">x-1.0.tar.gz</a>',
                "text/html", project="My.Project")
    assert html.detail.name == "my-project"


def test_page_level_fields() -> None:
    status = {"status": "deprecated", "reason": "use new"}
    parsed = read(page(GOOD, versions=["1.0", "2.0"], **{"project-status": status}))
    assert parsed.detail.versions == ("1.0", "2.0") and parsed.detail.last_serial == 3
    assert (parsed.detail.status.status, parsed.detail.status.reason) == ("deprecated", "use new")
    odd = read(page(GOOD, versions=["1.0", 2], **{"project-status": {"status": "unknown"}}))
    assert odd.detail.versions == () and odd.detail.status.status == "active"
    assert sorted(w.field for w in odd.warnings) == ["project-status", "versions"]
    text_serial = json.dumps({"meta": {"api-version": "1.1", "_last-serial": "42"}, "files": []}).encode()
    assert read(text_serial).detail.last_serial == 42
    header = parse_project_page(json.dumps({"meta": {"api-version": "1.0"}, "files": []}).encode(), JSON,
                                project="demo", page_url=PAGE, header_serial="17")
    assert header.last_serial == 17


def test_a_newer_minor_version_is_read_with_a_warning() -> None:
    parsed = read(json.dumps({"meta": {"api-version": "1.9"}, "files": [GOOD]}).encode())
    assert len(parsed.detail.files) == 1 and [w.field for w in parsed.warnings] == ["api-version"]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "invalid JSON"), (b"{nope", "invalid JSON"), (b"\xff\xfe{}", "invalid JSON"),
    (b"[1, 2]", "page is not a JSON object"), (b'"text"', "page is not a JSON object"),
    (b'{"files": []}', "page has no meta object"), (b'{"meta": 1, "files": []}', "page has no meta object"),
    (b'{"meta": {}, "files": []}', "missing or invalid repository version"),
    (b'{"meta": {"api-version": 1}, "files": []}', "missing or invalid repository version"),
    (b'{"meta": {"api-version": "one"}, "files": []}', "invalid repository version"),
    (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported repository version"),
    (b'{"meta": {"api-version": "1.0"}}', "page has no files list"),
    (b'{"meta": {"api-version": "1.0"}, "files": {"a": 1}}', "page has no files list"),
])  # fmt: skip
def test_a_body_that_is_no_page_raises_a_short_generic_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        read(body)
    assert str(caught.value) == message and message in GENERIC
    if message == "invalid JSON":  # what the decoder said is kept for the logs, out of the message
        assert caught.value.detail


def test_warnings_are_bounded() -> None:
    bad = [GOOD | {"filename": f"demo-{i}.tar.gz", "size": "x"} for i in range(MAX_WARNINGS * 3)]
    parsed = read(page(*bad))
    assert len(parsed.detail.files) == MAX_WARNINGS * 3
    assert len(parsed.warnings) == MAX_WARNINGS + 1 and "200 more" in parsed.warnings[-1].problem


def test_warnings_reach_the_caller_of_parse_project_page() -> None:
    found: list[Any] = []
    detail = parse_project_page(page(GOOD | {"provenance": "relative"}), JSON, project="demo", page_url=PAGE,
                                warnings=found)
    assert detail.files[0].provenance is None and [w.field for w in found] == ["provenance"]


# ---------------------------------------------------------------------------------------------- HTML

def html(*anchors: str, head: str = "") -> bytes:
    return ("<!DOCTYPE html><html><head>" + head + "</head><body>\n" + "\n".join(anchors)
            + "\n</body></html>").encode()


A = f'<a href="https://files.example/demo-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>'


def test_html_fields() -> None:
    f, warnings = one(html(A), "text/html")
    assert (f.url, f.hashes, f.requires_python, f.yanked, f.core_metadata) == (
        "https://files.example/demo-1.0.tar.gz", {"sha256": SHA}, ">=3.8", False, None)
    assert warnings == []


@pytest.mark.parametrize(("anchor", "field", "value"), [
    ('<a href="x-1.tar.gz" data-yanked>x-1.tar.gz</a>', "yanked", True),
    ('<a href="x-1.tar.gz" data-yanked="">x-1.tar.gz</a>', "yanked", True),
    ('<a href="x-1.tar.gz" data-yanked="bad &amp; old">x-1.tar.gz</a>', "yanked", "bad & old"),
    ('<a href="x-1.tar.gz" data-core-metadata="true">x-1.tar.gz</a>', "core_metadata", {}),
    ('<a href="x-1.tar.gz" data-dist-info-metadata="sha256=ab12">x-1.tar.gz</a>', "core_metadata", {"sha256": "ab12"}),
    ('<a href="x-1.tar.gz#md5=0123">x-1.tar.gz</a>', "hashes", {"md5": "0123"}),
    ('<a href="x-1.tar.gz#egg=x">x-1.tar.gz</a>', "hashes", {"egg": "x"}),
    ("<A HREF='x-1.tar.gz' DATA-REQUIRES-PYTHON='&lt;4'>x-1.tar.gz</A>", "requires_python", "<4"),
    ("<a href=x-1.tar.gz data-requires-python=&gt;=3>x-1.tar.gz</a>", "requires_python", ">=3"),
    ('<a href="x-1.tar.gz"><b>x-1</b>.tar.gz</a>', "filename", "x-1.tar.gz"),
    ('<a href="x-1.tar.gz">\n  x&#45;1.tar.gz \n</a>', "filename", "x-1.tar.gz"),
    ('<a href="?a=1&amp;b=2#sha256=ab">x-1.tar.gz</a>', "url", "https://index.example/simple/demo/?a=1&b=2"),
    ('<a href="x-1.tar.gz" data-requires-python="">x-1.tar.gz</a>', "requires_python", None),
])  # fmt: skip
def test_html_attribute_spellings(anchor: str, field: str, value: Any) -> None:
    f, warnings = one(html(anchor), "text/html")
    assert getattr(f, field) == value and warnings == []


def test_html_base_and_relative_urls() -> None:
    body = html('<a href="../../packages/x-1.tar.gz">x-1.tar.gz</a>', head='<base href="https://b.example/s/t/">')
    assert one(body, "text/html")[0].url == "https://b.example/packages/x-1.tar.gz"
    assert one(html('<a href="/p/x-1.tar.gz">x-1.tar.gz</a>'), "text/html")[0].url == "https://index.example/p/x-1.tar.gz"


def test_html_unreadable_base_or_href_drops_only_those_files() -> None:
    body = html('<a href="x-1.tar.gz">x-1.tar.gz</a>', '<a href="https://[::1]:8080/y-1.tar.gz">y-1.tar.gz</a>',
                head='<base href="//[broken/">')
    parsed = read(body, "text/html")
    assert [f.url for f in parsed.detail.files] == ["https://[::1]:8080/y-1.tar.gz"]
    assert [w.field for w in parsed.warnings] == ["url"]


def test_html_anchors_in_comments_and_scripts_are_no_links() -> None:
    body = html("<!-- <a href='evil-1.tar.gz'>evil-1.tar.gz</a> -->", A,
                '<script>document.write("<a href=evil-2.tar.gz>evil-2.tar.gz</a>")</script>',
                "<style>a::after { content: '<a href=z>z</a>' }</style>", "<!-- unterminated <a href=e>e</a>")
    parsed = read(body, "text/html")
    assert [f.filename for f in parsed.detail.files] == ["demo-1.0.tar.gz"]


def test_html_odd_anchors() -> None:
    body = html('<a name="top">top</a>', '<a href="">  </a>', '<a href="x-1.tar.gz"/>',
                '<a href="y-1.tar.gz">y-1.tar.gz', '<a href="z-1.tar.gz">z-1.tar.gz')
    parsed = read(body, "text/html")
    assert [f.filename for f in parsed.detail.files] == ["y-1.tar.gz", "z-1.tar.gz"]  # open anchors end at the next
    assert [w.field for w in parsed.warnings] == ["filename"]  # <a href="x"/> has no text


def test_html_bad_fields_are_dropped() -> None:
    body = html('<a href="x-1.tar.gz" data-provenance="../prov" data-core-metadata="sha256=zz!">x-1.tar.gz</a>',
                '<a href="javascript:go()">y-1.tar.gz</a>')
    parsed = read(body, "text/html")
    (f,) = parsed.detail.files
    assert f.provenance is None and f.core_metadata is None
    assert sorted(w.field for w in parsed.warnings) == ["data-core-metadata", "provenance", "url"]


def test_html_page_meta() -> None:
    head = ('<meta name="pypi:repository-version" content="1.4"><meta name="pypi:project-status" content="archived">'
            '<meta name="pypi:project-status-reason" content="caf&eacute; closed">')
    parsed = read(html(A, head=head), "text/html")
    assert (parsed.detail.status.status, parsed.detail.status.reason) == ("archived", "café closed")
    odd = read(html(A, head='<meta name="pypi:project-status" content="sleeping">'), "text/html")
    assert odd.detail.status.status == "active" and [w.field for w in odd.warnings] == ["project-status"]
    with pytest.raises(ParseError, match="^unsupported repository version$"):
        read(html(A, head='<meta name="pypi:repository-version" content="2.0">'), "text/html")
    newer = read(html(A, head='<meta name="pypi:repository-version" content="1.7">'), "text/html")
    assert len(newer.detail.files) == 1 and [w.field for w in newer.warnings] == ["api-version"]


def test_html_charsets() -> None:
    latin = html('<a href="x-1.tar.gz" data-yanked="caf\xe9">x-1.tar.gz</a>'.encode("latin-1").decode("latin-1"))
    body = latin.decode().encode("latin-1")
    assert one(body, "text/html; charset=iso-8859-1")[0].yanked == "café"
    f, warnings = one(body, "text/html")  # no charset: UTF-8, bad bytes replaced with a warning
    assert f.yanked == "caf\ufffd" and warnings == [(None, "charset")]
    assert one(b"\xef\xbb\xbf" + html(A), "text/html; charset=nonsense")[1] == [(None, "charset")]


@pytest.mark.parametrize("body", [b"", b"plain text", b"\x89PNG\r\n\x1a\n<a href=x>x</a>", b'{"files": []}'])
def test_a_body_that_is_not_html_raises(body: bytes) -> None:
    with pytest.raises(ParseError, match="^body is not HTML$"):
        read(body, "text/html")


def test_an_unsupported_content_type_raises() -> None:
    with pytest.raises(ParseError, match="^unsupported content type$"):
        read(page(GOOD), "application/json; secret=<script>")
