"""The project list's per-name passes over whole batches of bytes: native when the extension is built, else Python.

The public index lists ~700,000 projects. Each pass here reads or writes every name of a batch (a few hundred KB)
at once, never a Python object per name. In Python a pass costs 50-100 ms for the whole list and holds the GIL, so
the event loop that sends the list waits meanwhile; the native versions (``_scan.c`` and ``_scan_index.c``,
compiled when the package is installed, see ``hatch_build.py``) make each pass one loop over the bytes, run with the
GIL released.

The functions below are the reference: each native function must give the same answer for every input (the
tests feed both the same odd and random inputs). ``MIRROR_NO_EXTENSIONS=1`` in the environment, or an install
without a C compiler, selects these. Pure: no I/O.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Callable
from functools import partial
from itertools import accumulate
from typing import NamedTuple, cast

#: Bytes of plain names (ASCII letters, digits, ".", "_", "-"), with the separator "\n".
PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-\n"
#: Names per block of a name index (see :mod:`.name_index`).
BLOCK = 64
#: What follows each name in a name index's blob: a byte no UTF-8 text holds.
END = b"\xff"

# An anchor exactly as indexes write the list: nothing but a double-quoted href, a name that needs no decoding.
_SIMPLE_LINK = re.compile(rb'<a href="[^"]*+">([^<]*+)</a>')
#: Entries written as indexes write them (compact, plain names, serials below 2**53), each followed by ",".
_CANONICAL = re.compile(rb'(?:\{"name":"[A-Za-z0-9._-]++"(?:,"_last-serial":(?:0|[1-9][0-9]{0,14}))?\},)++')
#: The name of a canonical entry.
_JSON_NAME = re.compile(rb'\{"name":"([^"]++)')


class KeyIndex(NamedTuple):
    """Normalized names sorted (see :func:`index_keys`): each followed by :data:`END` in ``blob``; where every
    :data:`BLOCK`-th one starts, then the blob's length; the list position of each by its rank (None: the
    same); how many names there are."""

    blob: bytes
    starts: array[int]
    order: array[int] | None
    names: int


#: What the native ``index_keys`` answers: the blob, the starts and the order as bytes, the repeats, the count.
NativeIndex = tuple[bytes | None, bytes | None, bytes | None, list[int] | None, int]


def _py_simple_anchors(data: bytes) -> tuple[int, bytes, int] | None:
    """Where the part of ``data`` up to its last ``</a>`` ends, its names joined by "\\n" and how many, when that
    part holds nothing but anchors as indexes write them (``<a href="...">name</a>``, the href without ``"`` or
    ``<``) and text without ``<`` between them, and every name is plain (see :data:`PLAIN`) and not empty; else
    None.

    Each such anchor holds two ``<``: when the part holds twice as many ``<`` as anchors, it has no other markup
    at all (no comment, script, ``<meta>`` or other link), so nothing was skipped."""
    cut = data.rfind(b"</a>")
    if cut < 0:
        return None
    cut += 4
    names = _SIMPLE_LINK.findall(data, 0, cut)
    if not names or data.count(b"<", 0, cut) != 2 * len(names):
        return None
    joined = b"\n".join(names)
    if not joined or joined.translate(None, PLAIN) or joined.count(b"\n") != len(names) - 1 or b"\n\n" in joined \
            or joined.startswith(b"\n") or joined.endswith(b"\n"):
        return None  # an empty name, or one that is not plain
    return cut, joined, len(names)


def _py_canonical_count(data: bytes, end: int) -> int:
    """How many entries ``data[:end]`` holds when it is nothing but canonical entries, each followed by ","
    (``{"name":"<plain name>"}`` or ``{"name":"<plain name>","_last-serial":<0 to 15 digits>}``); else -1."""
    return data.count(b"{", 0, end) if end > 0 and _CANONICAL.fullmatch(data, 0, end) else -1


def _py_json_names(json: bytes) -> bytes:
    """The names of canonical JSON entries (each ``{"name":"`` and what follows up to the next ``"``), joined by
    "\\n"."""
    return b"\n".join(_JSON_NAME.findall(json))


def _py_html_lines(keys: bytes, names: bytes) -> bytes:
    """``<a href="<key>/"><name></a>`` lines of plain names and their normalized forms (each joined by "\\n");
    raises ValueError when they differ in number. (Joined as ``str``: joining a list of ``bytes`` goes through the
    buffer protocol for each item, five times slower.)"""
    split = keys.decode("latin-1").split("\n")
    lines = ['<a href="', "", '/">', "", "</a>\n"] * len(split)
    lines[1::5], lines[3::5] = split, names.decode("latin-1").split("\n")
    return "".join(lines).encode("latin-1")


_DASHES = re.compile(rb"--+")


def _py_plain_forms(names: bytes, json: bool = False, html: bool = False) -> tuple[int, bytes, bytes | None,
                                                                                   bytes | None]:
    """What the mirror serves of plain names joined by "\\n": how many there are, their normalized forms (PEP 503)
    joined by "\\n", and with ``json`` their PEP 691 entries (``{"name":"<name>"}``, each followed by ","), with
    ``html`` their ``<a>`` lines (see :func:`_py_html_lines`)."""
    keys = names.lower().replace(b"_", b"-").replace(b".", b"-")
    keys = _DASHES.sub(b"-", keys) if b"--" in keys else keys
    return (names.count(b"\n") + 1, keys,
            b'{"name":"' + names.replace(b"\n", b'"},{"name":"') + b'"},' if json else None,
            _py_html_lines(keys, names) if html else None)


def _py_index_keys(blobs: list[bytes]) -> KeyIndex | list[int]:
    """The normalized names of a list (UTF-8, joined by "\\n" in each of ``blobs``, in the list's order), sorted
    (as bytes); or, when some name comes again, the positions of those that come after an equal one (the first one
    is kept), in no particular order."""
    keys = [key for blob in blobs for key in blob.split(b"\n")]
    ranked = sorted(range(len(keys)), key=keys.__getitem__)
    repeats = [ranked[at] for at in range(1, len(ranked)) if keys[ranked[at]] == keys[ranked[at - 1]]]
    if repeats:
        return repeats
    order = None if ranked == list(range(len(ranked))) else array("I", ranked)
    return lay_out([keys[at] for at in ranked], order)


def lay_out(ordered: list[bytes] | list[str], order: array[int] | None = None) -> KeyIndex:
    """The :class:`KeyIndex` of normalized names already sorted and without repeats (not checked): UTF-8 bytes, or
    ASCII ``str`` (joined faster: a ``str`` join copies, a ``bytes`` join asks each item for its buffer). Joined a
    block at a time (another thread may take the GIL in between)."""
    if ordered and isinstance(ordered[0], str):
        text = ordered
        blocks = ["\xff".join(text[at:at + BLOCK]).encode("latin-1") for at in range(0, len(text), BLOCK)]
    else:
        raw = cast("list[bytes]", ordered)
        blocks = [END.join(raw[at:at + BLOCK]) for at in range(0, len(raw), BLOCK)]
    starts = array("Q", accumulate((len(b) + 1 for b in blocks), initial=0))
    return KeyIndex(END.join(blocks) + END if blocks else b"", starts, order, len(ordered))


def _laid_out(native: Callable[[list[bytes]], NativeIndex], blobs: list[bytes]) -> KeyIndex | list[int]:
    """:func:`_py_index_keys` by the native ``index_keys`` (see ``_scan_index.c``)."""
    blob, starts, order, repeats, count = native(blobs)
    if repeats is not None:
        return repeats
    assert blob is not None and starts is not None
    offsets = array("Q")
    offsets.frombytes(starts)
    positions = None
    if order is not None:
        positions = array("I")
        positions.frombytes(order)
    return KeyIndex(blob, offsets, positions, count)


class Passes(NamedTuple):
    """One implementation of the passes above."""

    simple_anchors: Callable[[bytes], tuple[int, bytes, int] | None]
    canonical_count: Callable[[bytes, int], int]
    json_names: Callable[[bytes], bytes]
    plain_forms: Callable[[bytes, bool, bool], tuple[int, bytes, bytes | None, bytes | None]]
    index_keys: Callable[[list[bytes]], KeyIndex | list[int]]


#: The Python versions (the reference).
REFERENCE = Passes(_py_simple_anchors, _py_canonical_count, _py_json_names, _py_plain_forms, _py_index_keys)



def _native() -> Passes | None:
    """The native versions, when the extension is built and ``MIRROR_NO_EXTENSIONS`` is not set."""
    if os.environ.get("MIRROR_NO_EXTENSIONS"):
        return None
    try:
        from mirror.core.simple import _scan
    except ImportError:
        return None
    return Passes(_scan.simple_anchors, _scan.canonical_count, _scan.json_names, _scan.plain_forms,
                  partial(_laid_out, _scan.index_keys))


#: The native versions, when the extension is built (and not turned off); else None.
NATIVE = _native()
_IN_USE = NATIVE or REFERENCE
simple_anchors = _IN_USE.simple_anchors
canonical_count = _IN_USE.canonical_count
json_names = _IN_USE.json_names
plain_forms = _IN_USE.plain_forms
index_keys = _IN_USE.index_keys
