"""A verified file as a file store holds it. Pure values; the stores are in :mod:`mirror.adapters`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Every file is hashed with this, whatever upstream advertised: it names the file in every store.
KEY_ALGORITHM = "sha256"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in a store whose bytes matched every one of ``digests`` when it was written.

    ``digests`` always holds the sha256; a file found by a set of advertised hashes holds (at least) those.
    ``modified`` is when the store last wrote it (seconds since the epoch). ``local_path`` is set when the
    bytes are a file on this machine's file system (so they can be sent with sendfile); None for a remote
    store, whose bytes are read through the store.
    """

    sha256: str
    size: int
    digests: Mapping[str, str] = field(default_factory=dict)
    modified: float = 0.0
    local_path: Path | None = None

    @property
    def etag(self) -> str:
        """A strong HTTP entity tag: the bytes are named by their sha256, so it changes exactly with them."""
        return f'"{self.sha256}"'
