"""The incremental project-list parsers, the name index, and the URL resolver (plain values)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mirror.core.errors import ParseError
from mirror.core.simple import parse_reference as reference
from mirror.core.simple.list_batch import MAX_PENDING, Batch, unique
from mirror.core.simple.name_index import NameIndex
from mirror.core.simple.parse import parse_project_list
from mirror.core.simple.project_list import HtmlListParser, JsonListParser, project_list_parser
from mirror.core.simple.rules import JSON_TYPE, UrlResolver

from . import pagegen


def stream(parser: HtmlListParser | JsonListParser, body: bytes, cuts: list[int]) -> list[Any]:
    """Feed ``body`` cut at ``cuts``; every entry, in order."""
    out: list[Any] = []
    at = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        out += parser.feed(body[at:max(at, cut)])
        at = max(at, cut)
    out += parser.feed(body[at:])
    out += parser.close()
    return out


@settings(max_examples=150, deadline=None)
@given(pagegen.project_lists(), st.lists(st.integers(0, 10**6), max_size=12), st.booleans())
def test_any_chunking_gives_the_same_entries(names: list[str], cuts: list[int], noise: bool) -> None:
    html_body = pagegen.html_list(names, noise=noise)
    whole = list(HtmlListParser().close(html_body))
    assert stream(HtmlListParser(), html_body, cuts) == whole == [(n, None) for n in names]
    for meta_last, compact in ((False, False), (True, False), (False, True), (True, True)):
        json_body = pagegen.json_list(names, [5, None], meta_last=meta_last, compact=compact)
        parser = JsonListParser()
        assert stream(parser, json_body, cuts) == [(n, 5 if i % 2 == 0 else None) for i, n in enumerate(names)]
        assert parser.last_serial == 99


def test_a_chunk_boundary_inside_a_comment_script_or_anchor() -> None:
    body = (b'<html><body><a href="a/">A</a><!-- <a href="h/">hidden</a> --><a href="b/">B &amp; C</a>'
            b'<script>x = "<a href=\'s/\'>s</a>";</script><a href="c/"><b>c</b></a></body></html>')
    expected = [("A", None), ("B & C", None), ("c", None)]
    for cut in range(len(body) + 1):
        parser = HtmlListParser()
        assert list(parser.feed(body[:cut])) + list(parser.feed(body[cut:])) + list(parser.close()) == expected


def test_entities_normalization_duplicates_and_order() -> None:
    body = pagegen.html_list(["Django", "zope.interface", "DJANGO", "a&b", "Flask_SQLAlchemy", "django"])
    plist = parse_project_list(body, "text/html")
    assert [(p.name, p.normalized) for p in plist.projects] == [
        ("Django", "django"), ("zope.interface", "zope-interface"), ("a&b", "a&b"),
        ("Flask_SQLAlchemy", "flask-sqlalchemy")]
    assert list(unique([("A.b", 1), ("a_B", 2), ("c", None)])) == [("A.b", 1), ("c", None)]


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<!DOCTYPE html><html><body></body></html>", "text/html"),
    (b'{"meta": {"api-version": "1.0"}, "projects": []}', JSON_TYPE),
    (b'{"projects": [], "meta": {"api-version": "1.0", "_last-serial": 4}}', JSON_TYPE),
])  # fmt: skip
def test_an_empty_list(body: bytes, ctype: str) -> None:
    assert parse_project_list(body, ctype).projects == reference.parse_project_list(body, ctype).projects == ()


def test_json_list_details() -> None:
    # "projects" inside meta (not the list), a serial as text, unknown keys, an entry without a name
    body = json.dumps({"meta": {"api-version": "1.1", "note": '"projects": [', "_last-serial": "12"},
                       "projects": [{"name": "a", "_last-serial": "3", "x": {"y": "}"}}, {"nom": "b"}, {"name": ""},
                                    {"name": "c}", "_last-serial": 4}]}).encode()
    warnings: list[Any] = []
    plist = parse_project_list(body, JSON_TYPE, warnings=warnings)
    assert [(p.name, p.last_serial) for p in plist.projects] == [("a", 3), ("c}", 4)]
    assert plist.last_serial == 12 and [w.field for w in warnings] == ["projects", "projects"]
    for size in (1, 3, 17):
        parser = JsonListParser()
        assert stream(parser, body, list(range(0, len(body), size)))[:1] == [("a", 3)]


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"not a page", "text/html", "body is not HTML"),
    (b"   ", "text/html", "body is not HTML"),
    (b"", JSON_TYPE, "invalid JSON"),
    (b"[1]", JSON_TYPE, "page is not a JSON object"),
    (b'{"meta": {"api-version": "1.0"}}', JSON_TYPE, "page has no projects list"),
    (b'{"projects": [{"name": "a"}]}', JSON_TYPE, "page has no meta object"),
    (b'{"meta": {"api-version": "2.0"}, "projects": []}', JSON_TYPE, "unsupported repository version"),
    (b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}, {"name": ', JSON_TYPE, "invalid JSON"),
    (b'<html><meta name="pypi:repository-version" content="3.0"><a href="a/">a</a>', "text/html",
     "unsupported repository version"),
    (b'{}', "application/json", "unsupported content type"),
])  # fmt: skip
def test_lists_that_are_not_lists_raise(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(ParseError, match=f"^{message}$"):
        parse_project_list(body, ctype)
    with pytest.raises(ParseError, match=f"^{message}$"):
        parser = project_list_parser(ctype)
        parser.feed(body)
        parser.close()


def test_unfinished_input_is_bounded() -> None:
    parser = HtmlListParser()
    parser.feed(b"<html><!-- ")
    with pytest.raises(ParseError):
        for _ in range(MAX_PENDING // 65536 + 2):
            parser.feed(b"x" * 65536)
    json_parser = JsonListParser()
    json_parser.feed(b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "')
    with pytest.raises(ParseError):
        for _ in range(MAX_PENDING // 65536 + 2):
            json_parser.feed(b"x" * 65536)


def test_a_batch_is_columns_not_objects() -> None:
    batch = JsonListParser().close(pagegen.json_list(["a", "b"], [1]))
    assert isinstance(batch, Batch) and batch.names == ["a", "b"] and batch.serials == [1, 1]
    parser = JsonListParser()
    verbatim = parser.feed(pagegen.json_list(["a", "B_c", "d"], [1, None], compact=True))
    assert verbatim.json == b'{"name":"a","_last-serial":1},{"name":"B_c"},' and len(verbatim) == 2
    assert verbatim.names == ["a", "B_c"] and verbatim.serials == [1, None]
    assert list(parser.close()) == [("d", 1)]
    html_batch = HtmlListParser().close(pagegen.html_list(["a"]))
    assert html_batch.serials is None and list(html_batch) == [("a", None)] and len(html_batch) == 1


# ------------------------------------------------------------------------------------------ name index

@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True) | st.text(max_size=6)),
       st.lists(st.text(max_size=8), max_size=20))
def test_name_index_answers_as_a_set_of_normalized_names_would(names: list[str], probes: list[str]) -> None:
    index = NameIndex(names)
    truth = {canonicalize_name(n) for n in names}
    assert len(index) == len(truth)
    for probe in names + probes:
        assert (probe in index) == (canonicalize_name(probe) in truth)


def test_name_index_basics() -> None:
    index = NameIndex(["Django", "zope.interface", "django", "Flask_SQLAlchemy"])
    assert "DJANGO" in index and "Zope_Interface" in index and "flask-sqlalchemy" in index
    assert "flask" not in index and "" not in index and 3 not in index
    assert len(NameIndex()) == 0 and "x" not in NameIndex()
    assert index.nbytes == len("djangoflask-sqlalchemyzope-interface") + 3 + 2 * 4  # names, their ends, 1 block


def test_name_index_ranks_across_blocks() -> None:
    """Names beyond one block of the index (64): each one's rank is its place in sorted order, in any block, for
    ASCII names given as ``str`` and for other names given as UTF-8."""
    ascii_keys = sorted(canonicalize_name(f"p{i}") for i in range(1000))
    other_keys = sorted({canonicalize_name(n).encode() for n in ["caf\u00e9", "\u00e9t\u00e9", *ascii_keys]})
    for keys in (ascii_keys, other_keys):
        index = NameIndex.from_sorted(keys)
        assert len(index) == len(keys)
        for at, key in enumerate(keys):
            name = key if isinstance(key, str) else key.decode()
            assert index.rank(name) == at and name.upper() in index
        for absent in ("p1000", "p-1", "", "a", "zzz", "p5-0", "p99-"):
            assert index.rank(absent) is None and absent not in index


# --------------------------------------------------------------------------------------------- URLs

_BASES = st.sampled_from(["https://index.example/simple/demo/", "https://index.example/simple/demo",
                          "http://i.example:8080/a/b/c/?q=1#f", "https://i.example", "https://i.example/",
                          "https://i.example/a//b/c", "https://i.example/a/./b/../c/"])
_REFS = st.lists(st.sampled_from(["..", ".", "a", "b.whl", "", "x y", "%20", "?q", "#f", ";p", "c:d", "//h", "[v6"]),
                 max_size=5).map("/".join) | st.text(max_size=12)


@settings(max_examples=500, deadline=None)
@given(_BASES, _REFS, st.sampled_from(["", "/", "./", "../", "../../", "/../", "./../"]))
def test_url_resolver_resolves_as_urljoin(base: str, ref: str, lead: str) -> None:
    def joined(ref: str) -> str:
        try:
            return urljoin(base, ref)
        except ValueError:  # "//[v6": the resolver hands such a reference back, which no file URL check passes
            return ref

    resolver = UrlResolver(base)
    for candidate in (lead + ref, ref, lead + ref):  # the second time from its cache
        assert resolver.resolve(candidate) == joined(candidate)


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_a_consumer_writes_its_output_as_the_list_streams_in(fmt: str) -> None:
    """Entries come out chunk by chunk (not all at close), so output can be written as they arrive."""
    names = [f"Project_{i % 700}.x" for i in range(1000)]  # 300 duplicates by normalized name
    body = pagegen.html_list(names) if fmt == "html" else pagegen.json_list(names, [7])
    parser = project_list_parser("text/html" if fmt == "html" else JSON_TYPE)
    seen: set[str] = set()
    rows: list[str] = []
    before_close = 0
    for at in range(0, len(body), 4096):
        for name, _serial in unique(parser.feed(body[at:at + 4096]), seen):
            rows.append(f'<a href="{canonicalize_name(name)}/">{name}</a>')
        before_close = len(rows)
    rows += [f'<a href="{canonicalize_name(n)}/">{n}</a>' for n, _ in unique(parser.close(), seen)]
    assert before_close > 600 and len(rows) == 700
    expected = parse_project_list(body, "text/html" if fmt == "html" else JSON_TYPE)
    assert rows == [f'<a href="{p.normalized}/">{p.name}</a>' for p in expected.projects]
    assert "project-699-x" in NameIndex(n for n, _ in unique((name, None) for name in names))
