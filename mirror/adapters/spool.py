"""Writing a file into a store: bytes spooled to a local temp file while they are hashed, verified, then
installed by the store (a rename on a file system, an upload to object storage).

Nothing becomes visible in a store before :meth:`Spool.commit` checked the size and every expected digest.
The sha256 is always computed (it names the file in every store). While a download is spooled, readers
follow it through their own descriptors (:meth:`Spool.open_reader`).

Temp files are named ``<host>.<pid>.<random>.part``. Stores may live on a directory several nodes share, so
:func:`sweep` removes a temp file only when it is provably dead: written by this host under a pid that no
longer runs, or (anyone's, including names it cannot parse) not modified for ``stale_after`` seconds.
A pid alone proves nothing across hosts, nor across containers that share a host name; the age bound covers
those, and is set well above the longest a download may take.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import aiofiles
import aiofiles.threadpool.binary

from mirror.core.errors import IntegrityError, StorageError
from mirror.core.stored import KEY_ALGORITHM, StoredFile

#: Called with the verified temp file, its digests and size; puts the bytes into the store.
Installer = Callable[[Path, dict[str, str], int], Awaitable[StoredFile]]

_SUFFIX = ".part"


def host_token() -> str:
    """This host's name as it appears in temp file names (letters, digits and ``-`` only)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "localhost"


def temp_name() -> str:
    """A fresh temp file name carrying this host and process."""
    return f"{host_token()}.{os.getpid()}.{secrets.token_hex(8)}{_SUFFIX}"


class Spool:
    """A verified-write session: :meth:`write` bytes, then :meth:`commit` (or :meth:`discard`).

    Writes and hashing run in a worker thread (one hop per chunk), never on the event loop. Failures of the
    local disk raise :class:`StorageError`; a size or digest mismatch raises :class:`IntegrityError`.
    """

    def __init__(self, path: Path, expected: Mapping[str, str], expected_size: int | None,
                 max_bytes: int | None, install: Installer) -> None:
        self.path = path
        self.expected = {a: d.lower() for a, d in expected.items()}
        self.expected_size = expected_size
        self.max_bytes = expected_size if expected_size is not None else max_bytes
        self.written = 0
        self._install = install
        self._hashes = {a: hashlib.new(a) for a in {*self.expected, KEY_ALGORITHM}}
        self._fh: BinaryIO | None = None

    @property
    def name(self) -> str:
        return self.path.name

    async def open(self) -> None:
        """Create the temp file; raises StorageError when it cannot be created."""
        try:
            self._fh = await asyncio.to_thread(open, self.path, "wb")
        except OSError as exc:
            raise StorageError(f"cannot create a temp file in {self.path.parent}: {exc}") from exc

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises IntegrityError past the size limit (nothing more is written)."""
        assert self._fh is not None, "open() first"
        if self.max_bytes is not None and self.written + len(chunk) > self.max_bytes:
            raise IntegrityError(self.path.name, f"at most {self.max_bytes} bytes", "more bytes")
        try:
            await asyncio.to_thread(self._write, self._fh, chunk)
        except OSError as exc:
            raise StorageError(f"cannot write the file cache: {exc}") from exc
        self.written += len(chunk)

    def _write(self, fh: BinaryIO, chunk: bytes) -> None:
        fh.write(chunk)
        # Flush so that readers following the temp file through another descriptor see the bytes.
        fh.flush()
        for h in self._hashes.values():
            h.update(chunk)

    async def open_reader(self) -> SpoolReader | None:
        """A reader of the bytes written so far; None when the temp file is gone (committed or discarded).

        Raises StorageError when the file exists but cannot be opened (e.g. too many open files).
        """
        try:
            return SpoolReader(await aiofiles.open(self.path, "rb"))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the temp file {self.path.name}: {exc}") from exc

    async def commit(self, url: str) -> StoredFile:
        """Verify size and every expected digest, then install the bytes into the store.

        Raises IntegrityError on a mismatch (``url`` names the file in the message) and StorageError when
        the store refuses the bytes; either way the temp file is removed and nothing becomes visible.
        """
        await self._close()
        if self.expected_size is not None and self.written != self.expected_size:
            await self.discard()
            raise IntegrityError(url, f"{self.expected_size} bytes", f"{self.written} bytes")
        digests = {a: h.hexdigest() for a, h in self._hashes.items()}
        wrong = sorted(a for a, d in self.expected.items() if digests[a] != d)
        if wrong:
            await self.discard()
            raise IntegrityError(url, ", ".join(f"{a}={self.expected[a]}" for a in wrong),
                                 ", ".join(f"{a}={digests[a]}" for a in wrong))
        try:
            return await self._install(self.path, digests, self.written)
        except OSError as exc:
            raise StorageError(f"cannot store the verified file: {exc}") from exc
        finally:
            await self.discard()

    async def discard(self) -> None:
        """Close and delete the temp file (safe to call twice)."""
        await self._close()
        try:
            await asyncio.to_thread(os.unlink, self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot remove the temp file {self.path.name}: {exc}") from exc

    async def _close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            await asyncio.to_thread(fh.close)


class SpoolReader:
    """Reads a temp file being written (through its own descriptor, so it keeps working after a rename)."""

    def __init__(self, fh: aiofiles.threadpool.binary.AsyncBufferedReader) -> None:
        self._fh = fh

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``; raises StorageError on a read error."""
        try:
            await self._fh.seek(offset)
            return await self._fh.read(size)
        except OSError as exc:
            raise StorageError(f"cannot read a temp file: {exc}") from exc

    async def close(self) -> None:
        await self._fh.close()


def sweep(tmp_dir: Path, stale_after: float, *, now: float | None = None, host: str | None = None,
          pid: int | None = None) -> int:
    """Remove the dead temp files in ``tmp_dir`` (see the module docstring); returns how many were removed.

    Blocking: run in a thread.
    """
    now = time.time() if now is None else now
    host = host_token() if host is None else host
    pid = os.getpid() if pid is None else pid
    removed = 0
    for entry in tmp_dir.iterdir():
        try:
            info = entry.stat()
        except FileNotFoundError:
            continue  # removed meanwhile (by its writer or another node's sweep)
        if not entry.is_file():
            continue
        if now - info.st_mtime > stale_after or _dead_here(entry.name, host, pid):
            try:
                entry.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _dead_here(name: str, host: str, pid: int) -> bool:
    """Whether ``name`` is a temp file of a process of this host that no longer runs."""
    parts = name.split(".")
    if len(parts) != 4 or parts[0] != host or not parts[1].isdigit() or "." + parts[3] != _SUFFIX:
        return False
    owner = int(parts[1])
    # Our own pid on an older file: a previous process that had it, or a container sharing the host name.
    return owner != pid and not _pid_alive(owner)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
