"""The batches the project-list parsers (:mod:`.project_list`) hand back, and the JSON entries they are read from.

A batch holds no object per name when a fast path read it (see :class:`Batch`): its names and serials are made
on first use, from the entries' own bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from itertools import compress, repeat
from operator import attrgetter
from typing import Any

import msgspec
from packaging.utils import canonicalize_name

from mirror.core.simple.scan import json_names

Entry = tuple[str, int | None]


class Batch:
    """Entries of a list, column-wise: ``names`` and, when the format has them, ``serials``.

    Iterating gives ``(name, serial or None)`` pairs. A batch read by a fast path holds no object per name: its
    plain names (ASCII letters, digits, ``.``, ``_``, ``-``) joined by "\\n" as bytes (``plain``), or, read from
    JSON written as indexes write it, its entries' very bytes (``json``: ``{"name":...,"_last-serial":...}``
    objects, each followed by ","); ``names`` and ``serials`` are made from those on first use. A batch read from
    other JSON may hold the decoded ``entries`` (``name``, ``last_serial``), written again in one call.
    """

    __slots__ = ("_count", "_names", "_serials", "entries", "json", "plain")

    def __init__(self, names: list[str] | None = None, serials: list[int | None] | None = None, *,
                 plain: bytes | None = None, json: bytes | None = None, count: int = 0,
                 entries: list[Any] | None = None) -> None:
        self._names = names
        self._serials = serials
        self.plain = plain
        self.json = json
        self.entries = entries
        if names is not None:
            count = len(names)
        elif plain is not None and json is None and not count:
            count = plain.count(b"\n") + 1 if plain else 0
        self._count = count

    @property
    def names(self) -> list[str]:
        if self._names is None:
            if self.json is not None:
                self._names, self._serials = decode_plain(self.json)
            elif self.plain:
                self._names = self.plain.decode("ascii").split("\n")
            else:
                self._names = []
        return self._names

    @property
    def serials(self) -> list[int | None] | None:
        if self._serials is None and self.entries is not None:
            self._serials = list(map(SERIAL, self.entries))
        elif self._serials is None and self.json is not None:
            self._names, self._serials = decode_plain(self.json)
        return self._serials

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Entry]:
        names, serials = self.names, self.serials
        return zip(names, repeat(None) if serials is None else serials)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Batch) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Batch({list(self)!r})"


#: Longest unfinished piece of input kept between chunks: no element of a sane list comes near it.
MAX_PENDING = 4 * 1024 * 1024


def unique(entries: Iterable[Entry], seen: set[str] | None = None) -> Iterator[Entry]:
    """The entries whose normalized name was not seen before (the first one wins).

    ``seen`` (normalized names) carries over between calls when a list is consumed chunk by chunk.
    """
    seen = set() if seen is None else seen
    for entry in entries:
        key = canonicalize_name(entry[0])
        if key not in seen:
            seen.add(key)
            yield entry


class ListEntry(msgspec.Struct, gc=False, omit_defaults=True, rename={"last_serial": "_last-serial"}):
    name: str
    last_serial: int | None = None


def columns(entries: list[ListEntry]) -> Batch:
    names = list(map(NAME, entries))
    if "" in names:  # an entry with an empty name is no project
        keep = list(map(bool, names))
        names, entries = list(compress(names, keep)), list(compress(entries, keep))
    return Batch(names, entries=entries)


NAME = attrgetter("name")
SERIAL = attrgetter("last_serial")


@functools.cache
def entries_decoder() -> msgspec.json.Decoder[list[ListEntry]]:
    return msgspec.json.Decoder(list[ListEntry])


def plain_names(json: bytes) -> bytes:
    """The names of canonical JSON entries (see :class:`Batch`), joined by "\\n"."""
    return json_names(json)


def decode_entries(json: bytes) -> list[ListEntry]:
    """The entries of a piece of JSON entries, each followed by "," (see :class:`Batch`)."""
    return entries_decoder().decode(b"[" + memoryview(json)[:-1] + b"]")


def decode_plain(json: bytes) -> tuple[list[str], list[int | None]]:
    entries = decode_entries(json)
    return list(map(NAME, entries)), list(map(SERIAL, entries))
