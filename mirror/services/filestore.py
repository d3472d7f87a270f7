"""What the services need from a file store, as small Protocols: the adapters in :mod:`mirror.adapters`
(a local or shared file system, S3-compatible object storage) satisfy them; nothing above checks which.

Every failure of the store itself (disk, network, credentials) raises
:class:`~mirror.core.errors.StorageError`, which the web layer answers with a 503.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Protocol

from mirror.core.stored import StoredFile


class PartialReader(Protocol):
    """Reads the bytes of a write session written so far."""

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the current end); raises StorageError."""
        ...

    async def close(self) -> None: ...


class WriteSession(Protocol):
    """A verified write: bytes go to a temp file while hashed; :meth:`commit` checks them against every
    expected digest and size and only then makes them visible in the store."""

    #: bytes written so far
    written: int

    @property
    def name(self) -> str:
        """The temp file's name, for logs."""
        ...

    async def open(self) -> None:
        """Start the session; raises StorageError."""
        ...

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises IntegrityError past the size limit, StorageError on a write failure."""
        ...

    async def open_reader(self) -> PartialReader | None:
        """A reader of the bytes written so far; None once the temp file is gone (committed or discarded)."""
        ...

    async def commit(self, url: str) -> StoredFile:
        """Verify and store; raises IntegrityError (nothing stored) or StorageError. ``url`` is for messages."""
        ...

    async def discard(self) -> None:
        """Drop the temp file (safe to call twice)."""
        ...


class FileStore(Protocol):
    """Verified files, named by their sha256 and found by any set of hashes they were checked against."""

    @property
    def description(self) -> str:
        """Where the files are, for logs (never a credential)."""
        ...

    async def prepare(self) -> int:
        """Get ready to serve (directories, connections) and remove temp files of dead writers; returns how
        many were removed. Raises StorageError when the store cannot be used."""
        ...

    async def close(self) -> None: ...

    async def find(self, sha256: str) -> StoredFile | None:
        """The stored file with this sha256, else None."""
        ...

    async def find_verified(self, hashes: Mapping[str, str]) -> StoredFile | None:
        """The stored file whose bytes matched *every* one of ``hashes`` when written, else None."""
        ...

    async def present(self, pairs: Mapping[str, str]) -> dict[str, str]:
        """The entries of ``pairs`` (sha256 → sha256) whose two files are both stored."""
        ...

    def new_write(self, expected: Mapping[str, str], expected_size: int | None,
                  max_bytes: int | None = None) -> WriteSession:
        """A write session for bytes that must match every one of ``expected`` (and ``expected_size``);
        raises ValueError for a malformed digest."""
        ...

    def read(self, stored: StoredFile, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes, None]:
        """The bytes ``[start, end)`` of a stored file, in chunks; raises StorageError when they cannot be
        read (a file deleted meanwhile included)."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove a stored file (e.g. a withdrawn one) with its other names; False when it was not there."""
        ...

    async def health(self) -> dict[str, object]:
        """``{"ok": bool, "backend": str, "location": str, "problem": str | None}``; never raises."""
        ...


async def read_bytes(store: FileStore, stored: StoredFile, start: int, end: int) -> bytes:
    """The bytes ``[start, end)`` of a stored file in one piece (for small ranges); raises StorageError."""
    parts = [chunk async for chunk in store.read(stored, start, end)]
    return b"".join(parts)
