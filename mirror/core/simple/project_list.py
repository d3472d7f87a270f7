"""Incremental parsers of the project list (the ``/simple/`` index page), HTML and PEP 691 JSON.

The public index lists ~700,000 projects (~40 MB of HTML, ~23 MB of JSON). A parser is fed the body
chunk by chunk as it arrives (``feed(chunk)``) and hands back, for each chunk, a :class:`Batch` of
the entries it completed, which iterates as ``(name, serial or None)`` pairs; ``close()`` hands back
the rest. It never builds a DOM nor an object per name (a batch is a list of names and, for JSON, a
list of serials; read by a fast path, it is the names joined as bytes, or the JSON entries' own bytes
checked by one regular expression), and keeps only the unfinished tail of the input, so a consumer can
write its own output (prepared pages, a name index) as the list streams in.

Names are passed on as upstream writes them (entities decoded, surrounding whitespace stripped from
link text); duplicates are the consumer's to drop (:func:`unique`, keyed by normalized name).
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from operator import itemgetter
from typing import Any

import msgspec

from mirror.core.errors import ParseError
from mirror.core.simple.list_batch import (
    MAX_PENDING,
    Batch,
    ListEntry,
    columns,
    entries_decoder,
)
from mirror.core.simple.parse_html import HIDDEN, link_text, scan, tokenized_anchors
from mirror.core.simple.rules import HTML_TYPES, JSON_TYPE, Warnings, check_api_version, quote, serial
from mirror.core.simple.scan import canonical_count, simple_anchors


def project_list_parser(content_type: str, charset: str | None = None) -> HtmlListParser | JsonListParser:
    """The incremental parser for a list of this (lowercased) media type; raises ParseError for another."""
    if content_type == JSON_TYPE:
        return JsonListParser()
    if content_type in HTML_TYPES:
        return HtmlListParser(charset)
    raise ParseError("unsupported content type")


# --------------------------------------------------------------------------------------------- HTML

_OTHER_ATTRIBUTE = r'(?:\s++(?!href[\s=/>])[a-z][a-z0-9_:.-]*+(?:="[^"]*+")?)*+'
# A link written the common way (href present, double-quoted lowercase attributes, plain text), or
# a "<a"/"<A" that is not one: the fast reading is used for a piece of the list only without any.
_FAST_LINK = re.compile(
    r'<a' + _OTHER_ATTRIBUTE + r'\s++href="[^"]*+"' + _OTHER_ATTRIBUTE + r'\s*+>([^<]*+)</a>|(<[aA])')
_TEXT, _MARKER = itemgetter(0), itemgetter(1)
_A_END = re.compile(r"</a\s*>", re.I)
_HIDDEN_START = re.compile(r"<(?:!--|(?:script|style)(?=[\s/>]))", re.I)
_TERMINATED = re.compile(r"(?:-->|</(?:script|style)\s*>)\Z", re.I)


class HtmlListParser:
    """PEP 503 index page: one ``<a href="...">Name</a>`` per project; ``last_serial`` stays None
    (HTML carries none; the caller has the ``X-PyPI-Last-Serial`` header).

    A UTF-8 list (the default) is read as bytes while its pieces hold nothing but anchors written the common
    way (see :func:`~mirror.core.simple.scan.simple_anchors`); any other piece is decoded and read by the general path.
    """

    def __init__(self, charset: str | None = None) -> None:
        self.warnings = Warnings()
        self.last_serial: int | None = None
        try:
            codec = codecs.lookup(charset or "utf-8")
        except LookupError:
            self.warnings.add(None, "charset", f"unknown charset {quote(charset)}; read as UTF-8")
            codec = codecs.lookup("utf-8")
        self._utf8 = codec.name == "utf-8"
        self._decoder = codec.incrementaldecoder(errors="replace")
        self._pending = ""
        self._raw = b""  # UTF-8 input not read yet (instead of _pending)
        self._started = False
        self._version_checked = False

    def feed(self, chunk: bytes) -> Batch:
        """Entries completed by ``chunk``; raises ParseError (not HTML, unsupported version, an
        element longer than :data:`MAX_PENDING`)."""
        if self._utf8:
            return self._feed_utf8(chunk)
        text = self._pending + self._decoder.decode(chunk)
        if not self._start(text):
            self._pending = text
            return Batch()
        cut = self._cut(text)
        self._pending = text[cut:]
        return self._entries(text[:cut]) if cut else Batch()

    def _feed_utf8(self, chunk: bytes) -> Batch:
        data = self._raw + chunk
        if not self._start(data[:4096].decode("utf-8", "replace")):
            self._raw = data
            return Batch()
        fast = simple_anchors(data)
        if fast is not None:
            self._raw = data[fast[0]:]
            return Batch(plain=fast[1], count=fast[2])
        text = self._decoder.decode(data)
        unfinished = self._decoder.getstate()[0]  # the start of a character cut by the chunk's end
        self._decoder.reset()
        cut = self._cut(text)
        self._raw = text[cut:].encode("utf-8", "surrogatepass") + unfinished
        return self._entries(text[:cut]) if cut else Batch()

    def _cut(self, text: str) -> int:
        cut = _safe_cut(text)
        if cut == 0 and len(text) > MAX_PENDING:
            raise ParseError("project list has an element that is too long")
        return cut

    def close(self, chunk: bytes = b"") -> Batch:
        """The entries of the rest of the input (``chunk`` being its last piece); raises ParseError
        for a body that is empty or not HTML."""
        if self._utf8:
            text = (self._raw + chunk).decode("utf-8", "replace")
        else:
            text = self._pending + self._decoder.decode(chunk, final=True)
        self._pending, self._raw = "", b""
        if not self._start(text):
            raise ParseError("body is not HTML")  # nothing at all came
        return self._entries(text)

    def _start(self, text: str) -> bool:
        """False while nothing but whitespace came; ParseError if the first thing is not markup."""
        if not self._started:
            head = text.lstrip("\ufeff \t\r\n")
            if not head:
                return False
            if head[0] != "<":
                raise ParseError("body is not HTML")
            self._started = True
        return True

    def _entries(self, text: str) -> Batch:
        text, meta, _ = scan(text)
        if not self._version_checked and "repository-version" in meta:
            check_api_version(meta["repository-version"][0], self.warnings)
            self._version_checked = True
        found = _FAST_LINK.findall(text)
        if not any(map(_MARKER, found)):
            texts = list(map(_TEXT, found))
            names = list(map(str.strip, texts)) if "&" not in text else [link_text(t) for t in texts]
        else:
            names = [link_text(t) for attrs, t in tokenized_anchors(text) if "href" in attrs]
        return Batch(names if "" not in names else list(filter(None, names)))


def _safe_cut(text: str) -> int:
    """Where ``text`` may be cut so that the part before holds only whole anchors, comments and
    scripts: after the last ``</a>`` that is not inside an unfinished comment or script; 0 if none."""
    limit = len(text)
    first = _HIDDEN_START.search(text)
    last = _last_match(HIDDEN, text, first.start(), limit) if first is not None else None
    if last is not None and last.end() == limit and not _TERMINATED.search(last.group()):
        limit = last.start()  # an unfinished comment or script stays whole for the next chunk
    window = max(0, limit - 65536)
    while True:
        end = _last_match(_A_END, text, window, limit)
        if end is not None:
            return end.end()
        if window == 0:
            return 0
        window = max(0, window - 1024 * 1024)


def _last_match(pattern: re.Pattern[str], text: str, start: int, end: int) -> re.Match[str] | None:
    found = deque(pattern.finditer(text, start, end), maxlen=1)
    return found[0] if found else None


# --------------------------------------------------------------------------------------------- JSON


class _Meta(msgspec.Struct, gc=False, rename={"api_version": "api-version", "last_serial": "_last-serial"}):
    api_version: str
    last_serial: Any = None


class _Head(msgspec.Struct, gc=False):
    meta: _Meta | None = None


class _Tail(msgspec.Struct, gc=False):
    projects: list[ListEntry]
    meta: _Meta | None = None


class _LooseTail(msgspec.Struct, gc=False):
    projects: list[Any]
    meta: _Meta | None = None


#: What may come before an entry: blanks, and the "," after the one before.
_LEADING = re.compile(rb"[ \t\r\n,]*+")
_PROJECTS_KEY = re.compile(rb'"projects"\s*:\s*\[')
#: How many candidate cut points (a "}" that may close an entry) are tried per chunk.
_CUT_TRIES = 8


class JsonListParser:
    """PEP 691 index: ``{"meta": {...}, "projects": [{"name": ..., "_last-serial": ...}, ...]}``.

    ``last_serial`` is ``meta._last-serial``, known once ``meta`` was read (before the projects on
    the public index, else at ``close()``).
    """

    def __init__(self) -> None:
        self.warnings = Warnings()
        self.last_serial: int | None = None
        self._buffer = b""
        self._in_array = False
        self._meta_seen = False
        self._entries_read = False
        self._search_from = 0

    def feed(self, chunk: bytes) -> Batch:
        """Entries completed by ``chunk``; raises ParseError (invalid JSON, unsupported version,
        a piece longer than :data:`MAX_PENDING`)."""
        self._buffer += chunk
        if not self._in_array and not self._find_array():
            if len(self._buffer) > MAX_PENDING:
                raise ParseError("project list has no projects array where expected")
            return Batch()
        buf = self._buffer
        fast = buf.rfind(b"},")
        count = canonical_count(buf, fast + 2) if fast > 0 else -1
        if count > 0:  # the usual case: entries written as indexes write them, passed on with no entry decoded
            self._buffer = buf[fast + 2:]
            self._entries_read = True
            return Batch(json=buf[:fast + 2], count=count)
        end = len(buf)
        for _ in range(_CUT_TRIES):
            end = buf.rfind(b"}", 0, end)
            if end < 0:
                break
            if buf[max(0, end - 64):end].rstrip().endswith(b"]"):
                continue  # "]}" closes the array and the page: not an entry
            try:
                entries = self._decode(buf, end + 1)
            except msgspec.DecodeError:
                continue  # that "}" was inside a string or a nested object: try an earlier one
            self._buffer = buf[end + 1:]
            self._entries_read = True
            return entries
        if len(buf) > MAX_PENDING:
            raise ParseError("project list has an entry that is too long or is not JSON")
        return Batch()

    def close(self, chunk: bytes = b"") -> Batch:
        """The entries of the rest of the input (``chunk`` being its last piece: a whole body given
        here is decoded in one pass); raises ParseError when the list is invalid or incomplete."""
        self._buffer += chunk
        if not self._in_array and not self._find_array():
            self._check_whole(self._buffer)
            raise ParseError("page has no projects list")
        rest = self._buffer
        if self._entries_read:  # what is left follows an entry already read: drop the "," between them
            rest = rest.lstrip(b" \t\r\n")
            rest = rest[1:] if rest.startswith(b",") else rest
        body, self._buffer = b'{"projects":[' + rest, b""
        try:
            tail = msgspec.json.decode(body, type=_Tail)
            entries, meta = columns(tail.projects), tail.meta
        except msgspec.ValidationError:
            try:
                loose = msgspec.json.decode(body, type=_LooseTail)
            except msgspec.DecodeError as exc:
                raise ParseError("invalid JSON", detail=str(exc)) from None
            entries, meta = self._tolerant(loose.projects), loose.meta
        except msgspec.DecodeError as exc:
            raise ParseError("invalid JSON", detail=str(exc)) from None
        if meta is not None and not self._meta_seen:
            self._read_meta(meta)
        if not self._meta_seen:
            raise ParseError("page has no meta object")
        return entries

    def _find_array(self) -> bool:
        """Look for the top-level ``"projects": [``; read ``meta`` when it comes before."""
        buf = self._buffer
        while (m := _PROJECTS_KEY.search(buf, self._search_from)) is not None:
            try:  # a key of the top-level object iff what precedes it is an object's beginning
                head = msgspec.json.decode(buf[:m.end()] + b"]}", type=_Head)
            except msgspec.DecodeError:
                self._search_from = m.start() + 1
                continue
            if head.meta is not None:
                self._read_meta(head.meta)
            self._in_array = True
            self._buffer = buf[m.end():]
            return True
        return False

    def _read_meta(self, meta: _Meta) -> None:
        check_api_version(meta.api_version, self.warnings)
        self.last_serial = serial(meta.last_serial, self.warnings)
        self._meta_seen = True

    def _decode(self, buf: bytes, end: int) -> Batch:
        """The entries of ``buf[:end]`` (after the "," that may follow an earlier entry), copied once."""
        start = _LEADING.match(buf, 0, end).end()  # type: ignore[union-attr]  # (it matches "" at least)
        body = b"".join((b"[", memoryview(buf)[start:end], b"]"))
        try:
            return columns(entries_decoder().decode(body))
        except msgspec.ValidationError:
            return self._tolerant(msgspec.json.decode(body))

    def _tolerant(self, items: list[Any]) -> Batch:
        """Entries one by one: a bad one is dropped, a bad serial read as None (with warnings)."""
        out = Batch(serials=[])
        assert out.serials is not None
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                self.warnings.add(None, "projects", f"entry without a name dropped: {quote(item)}")
                continue
            out.names.append(name)
            out.serials.append(serial(item.get("_last-serial"), self.warnings))
        return out

    @staticmethod
    def _check_whole(body: bytes) -> None:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ParseError("invalid JSON", detail=str(exc)) from None
        if not isinstance(data, dict):
            raise ParseError("page is not a JSON object")
