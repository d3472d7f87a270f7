"""The pieces of the mirror's project list: a batch of entries as the mirror serves it, in both formats.

A :class:`Piece` holds a batch's PEP 691 JSON objects, its HTML ``<a>`` lines (made when first needed), its
normalized names and how many entries it has; :class:`Document` serves a list as a sequence of such buffers,
never joined into one 40 MB string. Names made only of ASCII letters, digits, ``.``, ``_`` and ``-`` (every name
on the public index) are checked, normalized and rendered a batch at a time with a few operations on the batch's
joined names; other batches are rendered name by name (see :func:`render_batch`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import quote as url_quote

import msgspec
from markupsafe import escape
from packaging.utils import canonicalize_name

from mirror.core.models import API_VERSION
from mirror.core.simple.list_batch import decode_entries, plain_names
from mirror.core.simple.scan import PLAIN, plain_forms


class Document:
    """A response body as a sequence of buffers (bytes or memoryviews), written one after another."""

    __slots__ = ("parts", "size")

    def __init__(self, parts: Iterable[bytes | memoryview]) -> None:
        self.parts = tuple(p for p in parts if len(p))
        self.size = sum(map(len, self.parts))

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)


class Piece(NamedTuple):
    """A batch of entries as the mirror serves them: JSON objects (each followed by ","), HTML ``<a>`` lines
    (None until needed, then made from ``names``), the normalized names, and how many entries there are.

    A piece of upstream's JSON passed on as it came (see :class:`~mirror.core.simple.project_list.Batch`) has
    neither names nor normalized names until they are needed (:func:`keyed`): they are read from its JSON."""

    json: bytes
    html: bytes | None
    names: bytes | None  # plain names, ASCII, joined by "\n": kept until ``html`` is made
    keys: bytes | None  # normalized names, UTF-8, joined by "\n" (None: not read from ``json`` yet)
    entries: int


_NO_PIECE = Piece(b"", b"", None, b"", 0)


def render_batch(names: list[str] | None, serials: list[int | None] | None = None, *, html: bool = False,
                 entries: list[Any] | None = None, plain: bytes | None = None) -> Piece:
    """The :class:`Piece` of a batch of entries. ``plain``: the names joined by "\\n", when the parser found them
    plain (``names`` may then be None); ``entries``: the decoded JSON entries, when the parser has them (they are
    written again in one call, and ``serials`` may be None).

    A batch of names made only of ASCII letters, digits, ``.``, ``_`` and ``-`` (every name on the public
    index) takes the fast path: a few operations on the joined batch, and no new object per name but for the
    HTML, which is made now with ``html``, else when first needed (:func:`plain_html`). Other batches are
    rendered name by name, in both formats at once.
    """
    if plain is None:
        if not names:
            return _NO_PIECE
        text = "\n".join(names)
        plain = text.encode("ascii") if text.isascii() else b"\0"
        if plain.translate(None, PLAIN) or plain.count(b"\n") != len(names) - 1:
            if serials is None and entries is not None:
                serials = [e.last_serial for e in entries]
            return _render_each(names, serials)
    elif not plain:
        return _NO_PIECE
    plain_json = entries is None and (names is None or serials is None or all(s is None for s in serials))
    count, keys, json, lines = plain_forms(plain, plain_json, html)
    if entries is not None:
        encoded = msgspec.json.encode(entries)  # {"name":...,"_last-serial":...} each, in one call
        json = b"".join((memoryview(encoded)[1:-1], b","))
    elif json is None:
        assert names is not None and serials is not None
        json = b"".join(_json_entry(n, s) for n, s in zip(names, serials, strict=True))
    return Piece(json, lines, None if html else plain, keys, count)


def normalized(plain: bytes) -> bytes:
    """Plain names joined by "\\n", each normalized (PEP 503)."""
    return plain_forms(plain, False, False)[1]


def plain_html(names: bytes) -> bytes:
    """The HTML lines of plain names joined by "\\n" (see :func:`render_batch`)."""
    return plain_forms(names, False, True)[3] or b"" if names else b""


def keyed(piece: Piece, *, html: bool = False) -> Piece:
    """``piece`` with its normalized names (and with ``html``, its HTML lines), read from its JSON when it is
    upstream's (see :class:`Piece`). Blocking (~0.1 s for 700,000 names read from JSON)."""
    if piece.keys is not None and (piece.html is not None or not html):
        return piece
    plain = piece.names if piece.names is not None else plain_names(piece.json)
    _, keys, _, lines = plain_forms(plain, False, html and piece.html is None)
    if html:
        return piece._replace(html=piece.html if piece.html is not None else lines, names=None, keys=keys)
    return piece._replace(keys=piece.keys if piece.keys is not None else keys)


def piece_html(piece: Piece) -> bytes:
    """The HTML lines of ``piece``, made now if need be. Blocking."""
    return piece.html if piece.html is not None else keyed(piece, html=True).html or b""


def _render_each(names: list[str], serials: list[int | None] | None) -> Piece:
    """:func:`render_batch` one name at a time, for names that need escaping or quoting."""
    html: list[str] = []
    json: list[bytes] = []
    keys: list[bytes] = []
    for i, name in enumerate(names):
        name = name.encode("utf-8", "replace").decode("utf-8")  # no lone surrogate reaches a client
        key = canonicalize_name(name)
        text = str(escape(name)).replace("\n", "&#10;").replace("\r", "&#13;")  # one line per entry
        html.append(f'<a href="{url_quote(key, safe="")}/">{text}</a>\n')
        json.append(_json_entry(name, serials[i] if serials is not None else None))
        keys.append(key.replace("\n", " ").encode("utf-8"))
    return Piece(b"".join(json), "".join(html).encode("utf-8"), None, b"\n".join(keys), len(names))


def render_entries(names: list[str], serials: list[int | None] | None = None) -> tuple[bytes, bytes]:
    """The HTML lines and the JSON objects (each followed by ",") of ``names`` (and their ``serials``)."""
    piece = render_batch(names, serials)
    return piece_html(piece), piece.json


def without_names(piece: Piece, names: Iterable[str]) -> Piece:
    """``piece`` without the entries of ``names`` (normalized), rendered again in both formats."""
    drop = {name.encode("utf-8", "surrogatepass") for name in names}
    if not piece.entries:
        return piece
    keys = (piece.keys if piece.keys is not None else normalized(plain_names(piece.json))).split(b"\n")
    kept = [e for key, e in zip(keys, decode_entries(piece.json), strict=True) if key not in drop]
    html, json = render_entries([e.name for e in kept], [e.last_serial for e in kept])
    return Piece(json, html, None, b"\n".join(k for k in keys if k not in drop), len(kept))


def _json_entry(name: str, last_serial: int | None) -> bytes:
    data: dict[str, object] = {"name": name}
    if last_serial is not None:
        data["_last-serial"] = last_serial
    return msgspec.json.encode(data) + b","


def json_frame(last_serial: int | None) -> tuple[bytes, bytes]:
    """What comes before and after the entries of a PEP 691 project list."""
    meta: dict[str, object] = {"api-version": API_VERSION}
    if last_serial is not None:
        meta["_last-serial"] = last_serial
    return b'{"meta":' + msgspec.json.encode(meta) + b',"projects":[', b"]}"


def document(head: bytes, pieces: list[bytes], tail: bytes, *, json: bool) -> Document:
    """``head``, the entries' pieces and ``tail`` as one body; in JSON the last entry's "," is left out."""
    body: list[bytes | memoryview] = list(pieces)
    if json:
        last = max((i for i, p in enumerate(body) if p), default=None)
        if last is not None:
            body[last] = memoryview(body[last])[:-1]
    return Document((head, *body, tail))
