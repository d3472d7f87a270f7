""""Does upstream have this project?": the names of a project list in a compact, searchable form.

The public index lists ~700,000 projects. A ``set`` of their normalized names costs ~70 MB of
Python objects; this index keeps them sorted in one ``bytes`` blob (UTF-8, each followed by a byte that UTF-8
never holds) with the offset of every 64th name, about the size of the names themselves (~10 MB), and answers in
O(log n): a binary search over the blocks of 64 names, then one search within a block (~1 KB). Building it costs
a few joins, never a Python object per name beyond the sorted list it is made from. It is immutable: a new list
builds a new index (:meth:`NameIndex.from_key_index` from names the project list's builder sorted and laid out,
see :mod:`.scan`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable

from packaging.utils import canonicalize_name

from mirror.core.simple.scan import BLOCK, END, KeyIndex, lay_out


class NameIndex:
    """Normalized project names, sorted and de-duplicated; ``name in index`` normalizes ``name``."""

    __slots__ = ("_blob", "_count", "_starts")

    def __init__(self, names: Iterable[str] = ()) -> None:
        """Index ``names`` (any spelling; duplicates after normalization count once)."""
        self._set(lay_out(sorted({canonicalize_name(name).encode("utf-8", "surrogatepass") for name in names})))

    @classmethod
    def from_sorted(cls, keys: list[bytes] | list[str]) -> NameIndex:
        """The index of ``keys``: normalized names, sorted, without repeats (not checked); UTF-8 bytes, or ASCII
        ``str`` (joined faster: a ``str`` join copies, a ``bytes`` join asks each item for its buffer)."""
        return cls.from_key_index(lay_out(keys))

    @classmethod
    def from_key_index(cls, keys: KeyIndex) -> NameIndex:
        """The index of names already laid out by :func:`~mirror.core.simple.scan.index_keys`."""
        index = cls.__new__(cls)
        index._set(keys)
        return index

    def _set(self, keys: KeyIndex) -> None:
        self._blob = keys.blob
        self._starts = keys.starts if len(keys.blob) >= 1 << 32 else array("I", keys.starts)
        self._count = keys.names

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.rank(name) is not None

    def rank(self, name: str) -> int | None:
        """How many indexed names sort before ``name`` (any spelling), or None when it is not indexed."""
        key = canonicalize_name(name).encode("utf-8", "surrogatepass")
        block = bisect_right(_Firsts(self), key) - 1
        if block < 0:
            return None
        start, end = self._starts[block], self._starts[block + 1]
        found = (END + self._blob[start:end]).find(END + key + END)
        return None if found < 0 else block * BLOCK + self._blob.count(END, start, start + found)

    def first_of_block(self, block: int) -> bytes:
        """The first name of the ``block``-th block (UTF-8)."""
        start = self._starts[block]
        return self._blob[start:self._blob.index(END, start)]

    @property
    def nbytes(self) -> int:
        """Memory held by the index's data (the blob and the block offsets)."""
        return len(self._blob) + self._starts.itemsize * len(self._starts)


class _Firsts:
    """The first name of each block, as a read-only sequence for :func:`bisect.bisect_right`."""

    __slots__ = ("_index",)

    def __init__(self, index: NameIndex) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index._starts) - 1

    def __getitem__(self, block: int) -> bytes:
        return self._index.first_of_block(block)
