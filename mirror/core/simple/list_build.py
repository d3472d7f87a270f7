"""The mirror's own project list, built from upstream's as it streams in.

The public index lists ~700,000 projects (~40 MB of HTML). :class:`ListBuilder` is fed upstream's body chunk
by chunk and turns each batch of entries the parser completes into a :class:`Piece` (made in
:mod:`.list_pieces`): the mirror's PEP 691 JSON objects of those entries, their normalized names, and the names
themselves from which their HTML ``<a>`` lines are made when first needed. No object per entry outlives its
batch: names are checked, normalized and rendered a batch at a time with a few operations on the batch's joined
names (a per-name path handles batches with unusual names, in both formats at once).

Once the list is complete, its normalized names are sorted into a
:class:`~mirror.core.simple.name_index.NameIndex` ("does upstream have this name?" in O(log n)): free for a list
already in that order, close to linear for one made of sorted runs. Two equal neighbours there mean a name that
normalizes like an earlier one: it is left out (the first one wins) by rendering again the pieces that hold it.
A list in another order keeps, for each name of the index, its position in the list (4 bytes a name) instead of
the pieces' normalized names.

The result, a :class:`BuiltList`, keeps the pieces and serves them as a :class:`Document` (a sequence of
buffers, never joined into one 40 MB string), and leaves entries out (blocked projects) by rendering again only
the pieces that hold them. A list served as HTML may hold its JSON packed (:meth:`BuiltList.pack_json`).
"""

from __future__ import annotations

import threading
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable

from packaging.utils import canonicalize_name

from mirror.core.errors import ParseError
from mirror.core.models import ProjectEntry
from mirror.core.simple.list_batch import Batch, decode_entries, plain_names
from mirror.core.simple.list_pieces import (
    Document,
    Piece,
    document,
    json_frame,
    keyed,
    piece_html,
    plain_html,
    render_batch,
    render_entries,
    without_names,
)
from mirror.core.simple.name_index import NameIndex
from mirror.core.simple.project_list import HtmlListParser, JsonListParser, project_list_parser
from mirror.core.simple.rules import HTML_TYPES, ParseWarning, looks_like_html, media_type
from mirror.core.simple.scan import index_keys, plain_forms

# The pieces' names are this module's too: callers import the list's whole vocabulary from here.
__all__ = ["BATCH_BYTES", "BuiltList", "Document", "ListBuilder", "Piece", "document", "json_frame", "keyed",
           "piece_html", "plain_html", "render_batch", "render_entries", "without_names"]

#: Input is handed to the parser in pieces of at least this size (fewer, bigger batches).
BATCH_BYTES = 256 * 1024
#: Pieces of JSON at least this big are packed (:meth:`BuiltList.pack_json`); smaller ones would hardly shrink.
_PACK_FROM = 4096


class ListBuilder:
    """Feed upstream's project list (``feed``, then ``close``) to get a :class:`BuiltList`.

    ``content_type`` is upstream's Content-Type; ``header_serial`` its ``X-PyPI-Last-Serial`` (the list's
    serial when the body carries none). Raises ParseError, as the list parsers do, for a body that is not a
    project list. Every call is blocking CPU work: run big ones off the event loop.
    """

    def __init__(self, content_type: str | None, header_serial: int | None = None) -> None:
        mtype, charset = media_type(content_type)
        self._parser: HtmlListParser | JsonListParser = project_list_parser(mtype, charset)
        self._check_html = mtype in HTML_TYPES
        self._header_serial = header_serial
        self._input: list[bytes] = []
        self._input_bytes = 0
        self.received = 0
        self._pieces: list[Piece] = []
        #: Render the HTML of each batch at once (someone waits for it), instead of when first needed.
        self.eager_html = False

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body."""
        self.received += len(chunk)
        self._input.append(chunk)
        self._input_bytes += len(chunk)
        if self._input_bytes >= BATCH_BYTES:
            self._add(self._parser.feed(self._take_input()))

    @property
    def pieces(self) -> list[Piece]:
        """The pieces made so far (the list grows as the body is fed)."""
        return self._pieces

    @property
    def last_serial(self) -> int | None:
        """The list's serial, once known (JSON: when its ``meta`` was read)."""
        return self._parser.last_serial or self._header_serial

    def close(self) -> BuiltList:
        """The list; raises ParseError when the body was not a complete project list."""
        self.end_input()
        return self.result()

    def end_input(self) -> None:
        """The body is complete: read its rest (the last pieces); raises ParseError as :meth:`close` does."""
        self._add(self._parser.close(self._take_input()))

    def result(self) -> BuiltList:
        """The list, once :meth:`end_input` was called: repeats are left out and the name index made here.

        The normalized names are sorted once (:func:`~mirror.core.simple.scan.index_keys`: natively, with the GIL
        released, 40-220 ms for 700,000-930,000 names); repeats are equal neighbours once sorted, left out where
        they are (rare). A list that is not in name order (the public index's: its database's collation) keeps
        where each name of the index is in the list (4 bytes a name), instead of the pieces' normalized names (a
        quarter of the list's size)."""
        pieces = self._pieces = [keyed(p) for p in self._pieces]  # names read from upstream's JSON pieces now
        indexed = index_keys(_keys_of(pieces))
        if isinstance(indexed, list):  # rare: leave the repeats out where they are, then sort again
            pieces = _without_positions(pieces, frozenset(indexed))
            indexed = index_keys(_keys_of(pieces))
            assert not isinstance(indexed, list)
        return BuiltList(pieces, NameIndex.from_key_index(indexed), indexed.order, self.last_serial,
                         self._parser.warnings.result(), self.received)

    def __len__(self) -> int:
        return sum(p.entries for p in self._pieces)

    def _take_input(self) -> bytes:
        data = b"".join(self._input)
        self._input, self._input_bytes = [], 0
        if self._check_html:  # an HTML parser reads anything: a body must start as an index page does
            self._check_html = False
            if not looks_like_html(data):
                raise ParseError("body is not HTML")
        return data

    def _add(self, batch: Batch) -> None:
        if not len(batch):
            return
        if batch.json is not None:  # upstream's own bytes: names read from them only when needed
            piece = Piece(batch.json, None, None, None, len(batch))
            self._pieces.append(keyed(piece, html=True) if self.eager_html else piece)
        elif batch.plain is not None:
            self._pieces.append(render_batch(None, plain=batch.plain, html=self.eager_html))
        else:
            serials = None if batch.entries is not None else batch.serials
            self._pieces.append(render_batch(batch.names, serials, html=self.eager_html, entries=batch.entries))


def _keys_of(pieces: list[Piece]) -> list[bytes]:
    """The normalized names of every entry of ``pieces`` (keyed), joined by "\\n" a piece at a time."""
    return [p.keys or b"" for p in pieces if p.entries]


def _without_positions(pieces: list[Piece], positions: frozenset[int]) -> list[Piece]:
    """``pieces`` without the entries at ``positions`` (in the list's order); the others are kept as they are."""
    out = []
    start = 0
    for piece in pieces:
        drop = {p - start for p in positions if start <= p < start + piece.entries}
        start += piece.entries
        if drop:
            kept = [e for at, e in enumerate(decode_entries(piece.json)) if at not in drop]
            piece = render_batch([e.name for e in kept], [e.last_serial for e in kept])
        out.append(piece)
    return out


class BuiltList:
    """The mirror's project list from one upstream answer: its entries in upstream's order, as pieces (see the
    module docstring), and the index of their normalized names. Immutable as a list; the HTML lines are made on
    first use (blocking, thread-safe)."""

    def __init__(self, pieces: list[Piece], index: NameIndex, order: array[int] | None, last_serial: int | None,
                 warnings: tuple[ParseWarning, ...] = (), upstream_bytes: int = 0) -> None:
        pieces = [keyed(p) for p in pieces]
        self._json: list[bytes | None] = [p.json for p in pieces]  # None: packed (see :meth:`pack_json`)
        self._packed: list[bytes | None] = [None] * len(pieces)
        self._html = [p.html for p in pieces]
        self._names = [p.names for p in pieces]
        counts = [0]
        for p in pieces:
            counts.append(counts[-1] + p.entries)
        self._counts = array("Q", counts)  # entries before each piece, then the total
        self._index = index
        self._order = order  # a name's position in the list by its rank in the index (None: the same)
        self.last_serial = last_serial
        self.warnings = warnings
        self.upstream_bytes = upstream_bytes
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._counts[-1]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def nbytes(self) -> int:
        """Memory held by the entries' bytes, their names and the name index."""
        held = sum(len(p) for p in self._json if p is not None) + sum(len(p) for p in self._packed if p is not None)
        held += sum(len(p) for p in self._html if p is not None)
        held += sum(len(p) for p in self._names if p is not None) + self._index.nbytes
        held += self._order.itemsize * len(self._order) if self._order is not None else 0
        return held + self._counts.itemsize * len(self._counts)

    def name_index(self) -> NameIndex:
        """The normalized names, searchable in O(log n)."""
        return self._index

    def json_pieces(self) -> list[bytes]:
        """The JSON objects of every piece (inflated when packed: ~0.05 s for 700,000 names; blocking)."""
        return [self._json_of(i) for i in range(len(self._json))]

    def pack_json(self) -> None:
        """Hold the entries' JSON compressed (about a tenth of its size), for a list served as HTML: a piece is
        inflated when asked for (the JSON list, an entry's serial). Blocking (~0.1 s for 700,000 names; zlib
        releases the GIL meanwhile)."""
        with self._lock:
            for i, json in enumerate(self._json):
                if json is not None and len(json) >= _PACK_FROM:
                    self._packed[i] = zlib.compress(json, 1)
                    self._json[i] = None  # once the packed form is there: a reader always finds one or the other

    def _json_of(self, piece: int) -> bytes:
        json = self._json[piece]
        if json is not None:
            return json
        packed = self._packed[piece]
        assert packed is not None
        return zlib.decompress(packed)

    def html_pieces(self) -> list[bytes]:
        """The HTML lines of every piece (made on the first call: ~0.05 s for 700,000 names; blocking)."""
        with self._lock:
            for i, html in enumerate(self._html):
                if html is None:
                    names = self._names[i]
                    plain = names if names is not None else plain_names(self._json_of(i))
                    self._html[i] = plain_forms(plain, False, True)[3]  # plain names: rendered as a batch
                    self._names[i] = None
            return [p or b"" for p in self._html]

    def entries(self, names: Iterable[str]) -> dict[str, ProjectEntry]:
        """normalized name → the entry as upstream lists it (display name, serial), for those of ``names`` it
        lists. Decodes only the pieces that hold them. Blocking."""
        found: dict[str, ProjectEntry] = {}
        for piece, items in self._locate(names).items():
            decoded = decode_entries(self._json_of(piece))
            for at, key in items:
                found[key] = ProjectEntry(decoded[at].name, decoded[at].last_serial)
        return found

    def pieces(self, exclude: Iterable[str] = (), *, json: bool) -> list[bytes]:
        """The JSON (or HTML) pieces of the entries, without those of the names in ``exclude`` (normalized); a
        piece that holds none of them is the same object (only the others are rendered again). Blocking."""
        pieces = self.json_pieces() if json else self.html_pieces()
        for piece, items in self._locate(exclude).items():
            drop = {at for at, _ in items}
            kept = [e for i, e in enumerate(decode_entries(self._json_of(piece))) if i not in drop]
            html, json_body = render_entries([e.name for e in kept], [e.last_serial for e in kept])
            pieces[piece] = json_body if json else html
        return pieces

    def _locate(self, names: Iterable[str]) -> dict[int, list[tuple[int, str]]]:
        """piece → [(entry within the piece, normalized name)] of those of ``names`` the list holds, from their
        rank in the index."""
        found: dict[int, list[tuple[int, str]]] = {}
        for name in {canonicalize_name(n) for n in names if n in self._index}:
            rank = self._index.rank(name)
            assert rank is not None
            position = rank if self._order is None else self._order[rank]
            piece = bisect_right(self._counts, position) - 1
            found.setdefault(piece, []).append((position - self._counts[piece], name))
        return found
