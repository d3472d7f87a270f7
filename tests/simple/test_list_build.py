"""The streaming path of the project list (mirror.core.simple.list_build), with plain values.

Upstream's list, fed in any chunks, becomes the mirror's HTML and JSON lists: read back with pypi-simple they
hold what pypi-simple reads in upstream's list (a name that normalizes like an earlier one once, the first),
on a 50,000-name slice of the real list and on odd lists (names needing normalization, repeats, entities, an
empty list). Memory stays bounded while a big list streams in.
"""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mirror.core.errors import ParseError
from mirror.core.models import Format, ProjectEntry, ProjectList
from mirror.core.simple import parse_reference as reference
from mirror.core.simple.list_batch import unique
from mirror.core.simple.list_build import (
    BATCH_BYTES,
    BuiltList,
    ListBuilder,
    document,
    render_batch,
    render_entries,
    without_names,
)
from mirror.core.simple.render import index_frame, make_environment, render_index
from mirror.core.simple.rules import JSON_TYPE
from mirror.resources import templates_dir

from . import pagegen
from .htmlparse import PageReader

ENV = make_environment(str(templates_dir()))
CORPUS = Path(__file__).resolve().parent.parent / "data" / "pages"
REAL_LIST = gzip.decompress((CORPUS / "project-list-sample.html.gz").read_bytes())


def build(body: bytes, content_type: str, cuts: Iterable[int] = (), header_serial: int | None = None) -> BuiltList:
    """``body`` fed cut at ``cuts`` (positions), as the upstream client hands it over."""
    builder = ListBuilder(content_type, header_serial)
    at = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        builder.feed(body[at:max(at, cut)])
        at = max(at, cut)
    builder.feed(body[at:])
    return builder.close()


def served(built: BuiltList, fmt: Format, exclude: Iterable[str] = ()) -> bytes:
    """The list as the mirror serves it in ``fmt`` (the frame and the pieces, joined)."""
    head, tail = index_frame(fmt, built.last_serial, ENV)
    return bytes(document(head, built.pieces(exclude, json=fmt is Format.JSON), tail, json=fmt is Format.JSON))


def expected(body: bytes, content_type: str) -> list[tuple[str, int | None]]:
    """What pypi-simple reads in upstream's list, each normalized name once (the first), with the serial of that
    entry (pypi-simple keeps one serial per spelling: the last one's)."""
    names = [n for n, _ in unique((p.name, None) for p in reference.parse_project_list(body, content_type).projects)]
    if content_type != JSON_TYPE:
        return [(n, None) for n in names]
    first: dict[str, int | None] = {}
    for p in json.loads(body)["projects"]:
        first.setdefault(p["name"], p.get("_last-serial"))
    return [(n, first[n]) for n in names]


def read_back(built: BuiltList) -> tuple[list[tuple[str, int | None]], int | None]:
    """The mirror's lists, read with pypi-simple: the entries (from JSON; HTML must agree) and the serial."""
    json_body = served(built, Format.JSON)
    data = json.loads(json_body)
    entries = [(p["name"], p.get("_last-serial")) for p in data["projects"]]
    assert [(p.name, p.last_serial) for p in reference.parse_project_list(json_body, JSON_TYPE).projects] == entries
    html_body = served(built, Format.TEXT_HTML)
    page = PageReader(html_body.decode())
    assert [(a["href"], text) for a, text in page.anchors] == [(quote(canonicalize_name(n), safe="") + "/", n)
                                                           for n, _ in entries]
    assert [p.name for p in reference.parse_project_list(html_body, "text/html").projects] == [n for n, _ in entries]
    serial = data["meta"].get("_last-serial")
    assert (f"<!--SERIAL {serial}-->".encode() in html_body) == (serial is not None)
    return entries, serial


def test_a_slice_of_the_real_list_in_any_chunks() -> None:
    want = expected(REAL_LIST, "text/html")
    rng = random.Random(19)
    cuts = list(range(0, len(REAL_LIST), 1))[:: 40_000] + [rng.randrange(len(REAL_LIST)) for _ in range(30)]
    built = build(REAL_LIST, "text/html", cuts, header_serial=77)
    assert read_back(built) == (want, 77) and len(want) == 50_000
    assert built._order is not None  # the public index sorts by its database's collation, not by normalized name


def test_the_real_names_as_a_json_list() -> None:
    names = [n for n, _ in expected(REAL_LIST, "text/html")]
    body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": 5},
                       "projects": [{"name": n, "_last-serial": i} for i, n in enumerate(names)]}).encode()
    built = build(body, JSON_TYPE, range(0, len(body), 300_000))
    assert read_back(built) == (expected(body, JSON_TYPE), 5)


@settings(max_examples=60, deadline=None)
@given(pagegen.project_lists(), st.lists(st.integers(0, 10**5), max_size=8), st.booleans(),
       st.sampled_from([None, [3], [None, 4]]))
def test_odd_lists_agree_with_pypi_simple(names: list[str], cuts: list[int], noise: bool,
                                          serials: list[int | None] | None) -> None:
    html_body = pagegen.html_list(names, noise=noise)
    assert read_back(build(html_body, "text/html", cuts))[0] == expected(html_body, "text/html")
    for compact in (False, True):
        json_body = pagegen.json_list(names, serials, compact=compact)
        assert read_back(build(json_body, JSON_TYPE, cuts)) == (expected(json_body, JSON_TYPE), 99)


def test_normalization_repeats_and_entities() -> None:
    names = ["Django", "zope.interface", "DJANGO", "a&b", "Flask_SQLAlchemy", "x<y", "django", "Zope-Interface",
             "caf\u00e9", "a--b..c"]
    body = pagegen.html_list(names)
    entries, _ = read_back(build(body, "text/html"))
    assert entries == [("Django", None), ("zope.interface", None), ("a&b", None), ("Flask_SQLAlchemy", None),
                       ("x<y", None), ("caf\u00e9", None), ("a--b..c", None)]
    html_body = served(build(body, "text/html"), Format.HTML)
    assert b'<a href="a%26b/">a&amp;b</a>' in html_body and b'<a href="x%3Cy/">x&lt;y</a>' in html_body
    assert b'<a href="a-b-c/">a--b..c</a>' in html_body


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<!DOCTYPE html><html><body></body></html>", "text/html"),
    (b'{"meta": {"api-version": "1.0"}, "projects": []}', JSON_TYPE),
    (b'{"projects": [], "meta": {"api-version": "1.0", "_last-serial": 4}}', JSON_TYPE),
])  # fmt: skip
def test_an_empty_list(body: bytes, ctype: str) -> None:
    built = build(body, ctype)
    assert len(built) == 0 and "x" not in built and built.entries(["x"]) == {}
    assert read_back(built)[0] == expected(body, ctype) == []
    assert json.loads(served(built, Format.JSON))["projects"] == []


@pytest.mark.parametrize(("body", "ctype"), [
    (b"", "text/html"), (b"not a page", "text/html"), (b"[1]", JSON_TYPE), (b'{"projects": [{"name": ', JSON_TYPE),
    (b"<html></html>", "application/json"),
])  # fmt: skip
def test_what_is_not_a_list_raises(body: bytes, ctype: str) -> None:
    with pytest.raises(ParseError):
        build(body, ctype)


def test_repeats_in_an_unsorted_list_are_left_out_where_they_stand() -> None:
    names = [f"p{i}" for i in range(20_000)]  # numeric order: a few sorted runs, not sorted by name
    rng = random.Random(3)
    with_repeats = list(names)
    for at in sorted(rng.sample(range(1, 20_000), 40), reverse=True):
        with_repeats.insert(at, with_repeats[rng.randrange(at)].upper())  # a repeat of an earlier name
    body = pagegen.json_list(with_repeats, [1, None])
    built = build(body, JSON_TYPE, range(0, len(body), 50_000))
    assert built._order is not None
    assert read_back(built)[0] == expected(body, JSON_TYPE)
    assert [n for n, _ in read_back(built)[0]] == names
    shuffled = list(names)
    rng.shuffle(shuffled)  # no sorted runs at all: repeats are looked for with a set
    shuffled_body = pagegen.json_list([*shuffled, shuffled[7]])
    assert [n for n, _ in read_back(build(shuffled_body, JSON_TYPE))[0]] == shuffled


def test_lookups_display_names_and_serials() -> None:
    names = [f"Proj_{i}" for i in range(5000, 0, -1)]  # reverse order: positions differ from sorted ranks
    body = pagegen.json_list(names, [10, 20, None])
    built = build(body, JSON_TYPE, range(0, len(body), 70_000))
    assert "proj-17" in built and "PROJ.17" in built and "proj-5001" not in built
    found = built.entries(["proj-17", "Proj.4000", "nope"])
    assert found == {"proj-17": ProjectEntry("Proj_17", [10, 20, None][(5000 - 17) % 3]),
                     "proj-4000": ProjectEntry("Proj_4000", [10, 20, None][1000 % 3])}
    index = built.name_index()
    assert len(index) == 5000 and index.rank("proj_1") == 0 and index.rank("PROJ-999") == 4999


def test_blocked_names_are_left_out_by_rendering_only_their_pieces() -> None:
    names = [f"proj-{i:05d}" for i in range(60_000)]
    body = pagegen.json_list(names, [7])
    built = build(body, JSON_TYPE, range(0, len(body), BATCH_BYTES // 3))
    html, json_pieces = built.html_pieces(), built.json_pieces()
    assert len(json_pieces) > 4
    blocked = ["proj-00000", "proj-32345", "proj-59999", "not-listed"]
    for fmt in (Format.JSON, Format.HTML):
        entries, _ = read_back_excluding(built, fmt, blocked)
        assert entries == [n for n in names if n not in blocked]
    new_json = built.pieces(blocked, json=True)
    new_html = built.pieces(blocked, json=False)
    changed = {i for i, (a, b) in enumerate(zip(json_pieces, new_json, strict=True)) if a is not b}
    assert changed == {i for i, (a, b) in enumerate(zip(html, new_html, strict=True)) if a is not b}
    assert len(changed) == 3  # the first, the last and one in the middle: the others are the same objects
    everything = built.pieces(names, json=True)
    assert json.loads(bytes(document(b"[", everything, b"]", json=True))) == []


def test_a_packed_list_serves_the_same_bytes_and_answers_the_same_lookups() -> None:
    names = [f"Proj_{i}" for i in range(30_000, 0, -1)]  # reverse order: found through the rank → position array
    body = pagegen.json_list(names, [3, None])
    built, same = (build(body, JSON_TYPE, range(0, len(body), BATCH_BYTES // 2)) for _ in range(2))
    json_before = built.json_pieces()
    size = built.nbytes
    built.pack_json()  # before the HTML is made: its names are read from the packed JSON
    assert built.nbytes < size - sum(map(len, json_before)) // 2
    assert built.json_pieces() == json_before and built.html_pieces() == same.html_pieces()
    lookups = ["proj-17", "PROJ.29999", "nope"]
    assert built.entries(lookups) == same.entries(lookups) and len(built.entries(lookups)) == 2
    for fmt in (Format.JSON, Format.HTML):
        assert served(built, fmt, lookups) == served(same, fmt, lookups)


def read_back_excluding(built: BuiltList, fmt: Format, exclude: list[str]) -> tuple[list[str], bytes]:
    body = served(built, fmt, exclude)
    if fmt is Format.JSON:
        return [p["name"] for p in json.loads(body)["projects"]], body
    return [text for _, text in PageReader(body.decode()).anchors], body


def test_compact_json_is_passed_on_as_it_came_and_read_when_needed() -> None:
    """Upstream's entries written as indexes write them are passed on byte for byte, in any chunks (cut inside a
    name, a key, a serial): their names are read only when needed (the HTML, the name index, a blocked name), and
    read the same way as from any other JSON: names needing normalization, repeats (the first one wins), entries
    with and without serials."""
    names = [f"Proj_{i}.x" for i in range(30_000)] + ["zope.Interface", "PROJ-7-X", "a--b..c", "proj-29999.x"]
    body = pagegen.json_list(names, [5, None, 12345678901234], compact=True)
    start = body.index(b'"projects":[') + len(b'"projects":[')
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(len(body)), 60))
    for eager in (False, True):
        builder = ListBuilder(JSON_TYPE)
        builder.eager_html = eager
        at = 0
        for cut in [*cuts, len(body)]:
            builder.feed(body[at:cut])
            at = cut
        builder.end_input()
        verbatim = [p for p in builder.pieces if p.keys is None]
        assert bool(verbatim) != eager  # names are read at once only when the HTML is wanted at once
        assert all(p.json in body for p in verbatim)
        built = builder.result()
        assert read_back(built) == (expected(body, JSON_TYPE), 99)
        assert "proj-7-x" in built and "zope-interface" in built and "a-b-c" in built and "proj-30000-x" not in built
        assert built.entries(["PROJ_8_X"]) == {"proj-8-x": ProjectEntry("Proj_8.x", 12345678901234)}
    unique_body = pagegen.json_list(names[:30_000], [3], compact=True)
    built = build(unique_body, JSON_TYPE, range(0, len(unique_body), BATCH_BYTES // 2))
    assert b"".join(built.json_pieces()) == unique_body[start:-2] + b","  # upstream's own bytes
    blocked = served(built, Format.JSON, ["proj-17-x"])
    assert b'"Proj_17.x"' not in blocked and json.loads(blocked)["projects"][17]["name"] == "Proj_18.x"


@pytest.mark.parametrize("entries", [
    b'{"name":"a b"},', b'{"name":"a","x":1},', b'{"name":"a\\u0041"},',
    b'{"_last-serial":1,"name":"a"},', b'{"name":"a","_last-serial":1.5},', b'{"name":"a","_last-serial":-1},',
    b'{"name":"a","_last-serial":12345678901234567},',
])  # fmt: skip
def test_other_json_entries_are_decoded_not_passed_on(entries: bytes) -> None:
    body = b'{"meta":{"api-version":"1.1"},"projects":[' + entries * 40_000 + b'{"name":"z"}]}'
    builder = ListBuilder(JSON_TYPE)
    for at in range(0, len(body), 100_000):
        builder.feed(body[at:at + 100_000])
    builder.end_input()
    assert all(p.keys is not None for p in builder.pieces)  # read entry by entry: written again by the mirror
    assert all(json.loads(b"[" + p.json[:-1] + b"]") for p in builder.pieces if p.entries)


def test_json_that_only_looks_canonical_is_not_passed_on() -> None:
    body = b'{"meta":{"api-version":"1.1"},"projects":[' + b'{"name":"a","_last-serial":01},' * 40_000 + b"]}"
    with pytest.raises(ParseError):  # a leading zero: not JSON
        build(body, JSON_TYPE, range(0, len(body), 100_000))


def test_a_piece_without_some_names() -> None:
    piece = render_batch(["A", "b.c", "D"], [1, 2, 3])
    out = without_names(piece, ["b-c"])
    assert out.entries == 2 and out.keys == b"a\nd"
    assert out.json == b'{"name":"A","_last-serial":1},{"name":"D","_last-serial":3},'
    assert out.html == b'<a href="a/">A</a>\n<a href="d/">D</a>\n'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12).filter(str.strip), min_size=1, max_size=20),
       st.lists(st.none() | st.integers(0, 10**9), min_size=1, max_size=3))
def test_any_names_render_as_one_line_and_one_object_each(names: list[str], serials: list[int | None]) -> None:
    numbers = [serials[i % len(serials)] for i in range(len(names))]
    html, json_body = render_entries(names, numbers)
    assert html.count(b"\n") == len(names)
    safe = [n.encode("utf-8", "replace").decode() for n in names]
    decoded = json.loads(b"[" + json_body[:-1] + b"]")
    assert [(d["name"], d.get("_last-serial")) for d in decoded] == list(zip(safe, numbers, strict=True))
    anchors = PageReader("<html><body>" + html.decode() + "</body></html>").anchors
    assert [text for _, text in anchors] == safe
    assert [attrs["href"] for attrs, _ in anchors] == [quote(canonicalize_name(n), safe="") + "/" for n in safe]


def test_small_lists_render_the_same_way() -> None:
    plist = ProjectList((ProjectEntry("Django", 5), ProjectEntry("zope.interface")), last_serial=9)
    html = render_index(plist, Format.HTML, ENV)
    assert b'<a href="django/">Django</a>\n<a href="zope-interface/">zope.interface</a>\n' in html
    assert json.loads(render_index(plist, Format.JSON, ENV))["projects"] == [
        {"name": "Django", "_last-serial": 5}, {"name": "zope.interface"}]


def test_memory_stays_bounded_while_a_big_list_streams_in() -> None:
    """200,000 names fed a chunk at a time: while they stream in, nothing is held but the pieces made so far and a
    few batches in flight (never the whole body, nor an object per name); at the end, the names are sorted once
    (for the name index and to find repeats), then only the list's bytes and its index stay."""
    names = [f"project-{i}" for i in range(200_000)]  # numeric order: sorted runs, not sorted by name
    body = pagegen.json_list(names, [12345])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        builder = ListBuilder(JSON_TYPE)
        for at in range(0, len(body), 64 * 1024):
            builder.feed(body[at:at + 64 * 1024])
        builder.end_input()
        streamed_peak = tracemalloc.get_traced_memory()[1] - before
        pieces = sum(len(p.json) + len(p.names or b"") + len(p.keys or b"") for p in builder.pieces)
        tracemalloc.reset_peak()
        built = builder.result()
        del builder
        built.html_pieces()
        kept, peak = (m - before for m in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert streamed_peak <= pieces + 8 * BATCH_BYTES, (streamed_peak, pieces)
    assert kept <= 1.1 * built.nbytes and built.nbytes <= 2.5 * len(body), (kept, built.nbytes, len(body))
    assert peak <= built.nbytes + 128 * len(names), (peak, built.nbytes)
