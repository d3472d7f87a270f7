""""Does upstream have this project?": the names of a project list in a compact, searchable form.

The public index lists ~700,000 projects. A ``set`` of their normalized names costs ~70 MB of
Python objects; this index keeps them sorted in one ``bytes`` blob with an array of offsets, about
the size of the names themselves plus 4 bytes each (~12 MB), and answers in O(log n) (~20 slice
comparisons). It is immutable: a new list builds a new index (:meth:`NameIndex.from_sorted` from names already
normalized and sorted, as the project list's builder has them).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate, islice
from typing import cast

from packaging.utils import canonicalize_name

#: Names joined by one call while an index is made.
_CHUNK = 50_000


class NameIndex:
    """Normalized project names, sorted and de-duplicated; ``name in index`` normalizes ``name``."""

    __slots__ = ("_blob", "_offsets")

    def __init__(self, names: Iterable[str] = ()) -> None:
        """Index ``names`` (any spelling; duplicates after normalization count once).

        Normalizing and de-duplicating are O(n); the sort is Timsort's, close to linear on a list
        that comes (nearly) sorted, as indexes serve it.
        """
        keys = [canonicalize_name(name).encode("utf-8", "surrogatepass") for name in names]
        keys.sort()
        self._fill(list(dict.fromkeys(keys)))  # sorted, so this only drops repeats

    @classmethod
    def from_sorted(cls, keys: list[bytes] | list[str]) -> NameIndex:
        """The index of ``keys``: normalized names, sorted, without repeats (not checked); UTF-8 bytes, or ASCII
        ``str`` (joined faster: a ``str`` join copies, a ``bytes`` join asks each item for its buffer)."""
        index = cls.__new__(cls)
        index._fill(keys)
        return index

    def _fill(self, keys: list[bytes] | list[str]) -> None:
        """Join ``keys`` and their offsets a slice at a time: another thread may take the GIL in between."""
        if keys and isinstance(keys[0], str):
            text = keys
            blobs = ["".join(text[at:at + _CHUNK]).encode("ascii") for at in range(0, len(text), _CHUNK)]
        else:
            raw = cast("list[bytes]", keys)
            blobs = [b"".join(raw[at:at + _CHUNK]) for at in range(0, len(raw), _CHUNK)]
        self._blob = b"".join(blobs)
        offsets = array("Q" if len(self._blob) >= 1 << 32 else "I", [0])
        for at in range(0, len(keys), _CHUNK):
            offsets.extend(islice(accumulate(map(len, keys[at:at + _CHUNK]), initial=offsets[-1]), 1, None))
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.rank(name) is not None

    def rank(self, name: str) -> int | None:
        """How many indexed names sort before ``name`` (any spelling), or None when it is not indexed."""
        key = canonicalize_name(name).encode("utf-8", "surrogatepass")
        at = bisect_left(_Keys(self), key)
        return at if at < len(self) and self.key(at) == key else None

    def key(self, i: int) -> bytes:
        """The ``i``-th normalized name (UTF-8), in sorted order."""
        return self._blob[self._offsets[i]:self._offsets[i + 1]]

    @property
    def nbytes(self) -> int:
        """Memory held by the index's data (the blob and the offsets)."""
        return len(self._blob) + self._offsets.itemsize * len(self._offsets)


class _Keys:
    """The index's keys as a read-only sequence, for :func:`bisect.bisect_left`."""

    __slots__ = ("_index",)

    def __init__(self, index: NameIndex) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> bytes:
        return self._index.key(i)
