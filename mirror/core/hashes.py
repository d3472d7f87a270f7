"""Which of upstream's advertised hashes the mirror checks, and whether a file can be verified at all. Pure.

Rules (docs/security-model.md):

- every advertised hash of an algorithm hashlib can compute is checked against the bytes, not just the
  strongest one: a page that pairs a genuine sha256 with a sha512 of other bytes must not get either
  set of bytes through;
- a page whose hashes are malformed (wrong length, not hex) or disagree with each other (two spellings of
  one algorithm with different values) makes the file unverifiable;
- md5 and sha1 are checked when advertised, but alone they do not make a file verifiable;
- a hash of an algorithm the mirror cannot compute is dropped: it is neither checked nor shown to clients
  (an installer that can compute it would otherwise trust a value nobody verified).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping

#: Algorithms the mirror computes when upstream advertises them: every fixed-length hashlib guarantee.
COMPUTABLE: frozenset[str] = frozenset(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake_"))
#: Computable but broken: checked when advertised, never enough on their own.
WEAK: frozenset[str] = frozenset(("md5", "sha1"))
#: Which strong hash names a file (its cache key, its link fragment): sha256 first, as the public index.
PREFERENCE: tuple[str, ...] = ("sha256", "sha512", "sha384", "sha3_512", "sha3_384", "sha3_256", "blake2b",
                               "sha3_224", "sha224", "blake2s")

_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX = re.compile(r"[0-9a-f]+")


def _hex_length(algorithm: str) -> int:
    """Length of a hex digest of ``algorithm`` (one of :data:`COMPUTABLE`)."""
    return hashlib.new(algorithm).digest_size * 2


# Cached by wrapping, not by decorating: mutation testing skips decorated functions (docs/testing.md).
hex_length = functools.cache(_hex_length)


def checked_hashes(advertised: Mapping[str, str] | None) -> dict[str, str] | None:
    """The hashes the mirror will check, as {lowercase algorithm: lowercase hex}; None when unverifiable.

    None when nothing computable and strong is advertised, when a computable algorithm's value is
    malformed, or when two spellings of one algorithm carry different values. Unknown algorithms are
    left out of the result (never checked, never rendered).
    """
    if not advertised:
        return None
    if len(advertised) == 1:  # the common page: one sha256, already lowercase
        value = advertised.get("sha256")
        if isinstance(value, str) and len(value) == 64 and _LOWER_HEX.fullmatch(value):
            return {"sha256": value}
    checked: dict[str, str] = {}
    for raw_name, raw_value in advertised.items():
        if not isinstance(raw_name, str):
            return None
        name = raw_name.strip().lower()
        if name not in COMPUTABLE:
            continue
        if not isinstance(raw_value, str) or len(raw_value) != hex_length(name) or not _HEX.fullmatch(raw_value):
            return None
        value = raw_value.lower()
        if checked.setdefault(name, value) != value:
            return None
    if checked.keys() <= WEAK:
        return None
    return checked


def primary(hashes: Mapping[str, str]) -> tuple[str, str] | None:
    """The (algorithm, hex) that names a file among already checked ``hashes``: sha256 when present."""
    for name in PREFERENCE:
        value = hashes.get(name)
        if value is not None:
            return name, value
    return None
