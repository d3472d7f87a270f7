"""The project list's native passes (``_scan*.c``) against their Python reference (``scan.py``).

Every native function must answer exactly as the reference does, for the lists indexes write and for anything a
hostile upstream could send: the same inputs, odd and random, go to both. Without the extension (no C compiler
when the package was installed) these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mirror.core.simple import scan
from mirror.core.simple.name_index import NameIndex

ROOT = Path(__file__).resolve().parents[2]
R = scan.REFERENCE


@pytest.fixture(scope="module")
def native() -> scan.Passes:
    if scan.NATIVE is None:
        message = ("the native list passes are not built: install the package with a C compiler and Python's "
                   "headers (`pip install .`, see hatch_build.py)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return scan.NATIVE


def test_the_native_passes_are_in_use_when_built(native: scan.Passes) -> None:
    assert scan.simple_anchors is native.simple_anchors and scan.plain_forms is native.plain_forms


# ------------------------------------------------------------------------------------------- anchors

ANCHORS = [
    b'<a href="/simple/a/">a</a>\n<a href="/simple/b-c/">B_c</a>\n',
    b'<a href="x">a</a>',
    b'  <a href="">a.b</a>\n  <a href="y">Z9</a>  <a href="q',  # an unfinished anchor after the last one
    b"no anchor at all",
    b"",
    b'<!DOCTYPE html><a href="x">a</a>',  # other markup
    b'<a href="x">a b</a>',  # not plain
    b'<a href="x"></a>',  # empty name
    b'<a href="x">a&amp;b</a>',
    b'<a href="x<y">a</a>',  # "<" in the href
    b'<a href="x" >a</a>',
    b'<A HREF="x">a</A>',
    b'<a href="x">a</a><a href="y">b</A>',
    b'<a href="x">a</a>text > with & anything<a href="y">b</a>',
    b'<a href="x">a</a><',
    b'<a href="x">a\n</a>',
    b'<a href="x">\xc3\xa9</a>',
    b'</a>',
    b'<a href="x">a</a></a>',
    b'<a href="">-</a><a href="">_</a><a href="">.</a>',
]

_pieces = st.sampled_from([b'<a href="', b'">', b"</a>", b"<", b">", b'"', b"\n", b" ", b"a", b"B", b"_", b".", b"-",
                           b"9", b"&amp;", b"\xc3\xa9", b"<a", b"</a", b'<a href="/simple/x/">x</a>'])


@pytest.mark.parametrize("data", ANCHORS)
def test_simple_anchors_agree_on_odd_input(native: scan.Passes, data: bytes) -> None:
    assert native.simple_anchors(data) == R.simple_anchors(data)


def test_simple_anchors_read_a_list_as_indexes_write_it(native: scan.Passes) -> None:
    data = b"".join(b'    <a href="/simple/%s/">%s</a>\n' % (n, n) for n in (b"a", b"B.c", b"d_e-9"))
    assert native.simple_anchors(data) == R.simple_anchors(data) == (len(data) - 1, b"a\nB.c\nd_e-9", 3)


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=40).map(b"".join))
@example(b'<a href="x">a</a>\n<a href="y">b</a>')
def test_simple_anchors_agree_on_random_input(native: scan.Passes, data: bytes) -> None:
    assert native.simple_anchors(data) == R.simple_anchors(data)


# ------------------------------------------------------------------------------------------- JSON

CANONICAL = [
    b'{"name":"a"},',
    b'{"name":"a","_last-serial":0},{"name":"B.c_d-9","_last-serial":123456789012345},',
    b'{"name":"a","_last-serial":1234567890123456},',  # 16 digits
    b'{"name":"a","_last-serial":01},',
    b'{"name":"a","_last-serial":-1},',
    b'{"name":"a","_last-serial":},',
    b'{"name":"a"}',  # no ","
    b'{"name":""},',
    b'{"name":"a b"},',
    b'{"name":"a\\"b"},',
    b'{"name": "a"},',
    b'{"name":"a"},{"name":"b"},x',
    b'{"name":"a","_last-serial":1,"x":2},',
    b'{"name":"\xc3\xa9"},',
    b"",
    b"{",
]

_json_pieces = st.sampled_from([b'{"name":"', b'"', b"},", b"}", b",", b'"_last-serial":', b"0", b"1", b"15", b"a",
                                b"_", b"-", b"\\", b" ", b'{"name":"a"},', b'{"name":"b","_last-serial":7},'])


@pytest.mark.parametrize("data", CANONICAL)
def test_canonical_entries_agree_on_odd_input(native: scan.Passes, data: bytes) -> None:
    for end in range(len(data) + 1):
        assert native.canonical_count(data, end) == R.canonical_count(data, end), end
    assert native.json_names(data) == R.json_names(data)


@settings(max_examples=400, deadline=None)
@given(st.lists(_json_pieces, max_size=40).map(b"".join))
def test_canonical_entries_agree_on_random_input(native: scan.Passes, data: bytes) -> None:
    assert native.canonical_count(data, len(data)) == R.canonical_count(data, len(data))
    assert native.json_names(data) == R.json_names(data)


def test_canonical_count_refuses_an_end_outside_the_data(native: scan.Passes) -> None:
    with pytest.raises(ValueError, match="end"):
        native.canonical_count(b"{}", 3)
    with pytest.raises(ValueError, match="end"):
        native.canonical_count(b"{}", -1)


# ------------------------------------------------------------------------------------------- a batch's forms

_plain = st.text("abcXYZ019._-", min_size=1, max_size=12).map(str.encode)


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain, min_size=1, max_size=50), st.booleans(), st.booleans())
@example([b"A__B..c-_-d", b"-", b"x.Y"], True, True)
def test_plain_forms_agree(native: scan.Passes, names: list[bytes], json: bool, html: bool) -> None:
    plain = b"\n".join(names)
    forms = native.plain_forms(plain, json, html)
    assert forms == R.plain_forms(plain, json, html)
    assert forms[3] is None or forms[3].count(b"\n") == len(names)
    assert forms[0] == len(names) and forms[1].split(b"\n") == [canonicalize_name(n.decode()).encode() for n in names]


# ------------------------------------------------------------------------------------------- name index

def _same_index(a: scan.KeyIndex | list[int], b: scan.KeyIndex | list[int]) -> None:
    if isinstance(a, list) or isinstance(b, list):
        assert isinstance(a, list) and isinstance(b, list) and sorted(a) == sorted(b)
        return
    assert (a.blob, list(a.starts), a.names) == (b.blob, list(b.starts), b.names)
    assert (None if a.order is None else list(a.order)) == (None if b.order is None else list(b.order))


_keys = st.text("ab-9é", min_size=1, max_size=6).map(lambda t: t.encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_keys, min_size=1, max_size=70), max_size=5))
@example([[b"a", b"b"], [b"c"]])  # in order: no order kept
@example([[b"b", b"a"]])
@example([[b"a", b"b", b"a"]])  # a repeat
@example([[b"a"] * 3, [b"a"]])
def test_index_keys_agree(native: scan.Passes, pieces: list[list[bytes]]) -> None:
    blobs = [b"\n".join(keys) for keys in pieces]
    _same_index(native.index_keys(blobs), R.index_keys(blobs))


def test_an_index_laid_out_natively_answers_as_one_built_from_names(native: scan.Passes) -> None:
    names = [f"p{i:05d}-{'x' * (i % 7)}" for i in range(3000)][::-1]
    blobs = [b"\n".join(n.encode() for n in names[at:at + 700]) for at in range(0, len(names), 700)]
    laid_out = native.index_keys(blobs)
    assert not isinstance(laid_out, list) and laid_out.order is not None
    index = NameIndex.from_key_index(laid_out)
    assert len(index) == len(names) and all(n in index for n in names[::97]) and "p99999" not in index
    assert [index.rank(n) for n in names[:5]] == [NameIndex(names).rank(n) for n in names[:5]]
    assert [names[p] for p in list(laid_out.order)[:3]] == sorted(names)[:3]


def test_index_keys_of_no_names(native: scan.Passes) -> None:
    _same_index(native.index_keys([]), R.index_keys([]))


# ------------------------------------------------------------------------------------------- the fallback

def test_the_list_tests_pass_with_the_python_versions() -> None:
    """With ``MIRROR_NO_EXTENSIONS=1`` (what an install without a compiler gets) the list is built by the Python
    versions, and the list's own tests pass on them too."""
    env = {**os.environ, "MIRROR_NO_EXTENSIONS": "1"}
    check = subprocess.run([sys.executable, "-c", "from mirror.core.simple import scan; print(scan.NATIVE)"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert check.stdout.strip() == "None"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                          "tests/simple/test_list_build.py", "tests/simple/test_project_list.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
