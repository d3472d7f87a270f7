"""The file cache on local disk: content-addressed, written through a temp file, renamed atomically.

A file becomes visible under ``files/sha256/<aa>/<bb>/<digest>`` only after its bytes were hashed while
being written and every digest upstream advertised matched. The sha256 is computed for every file (it
is the cache key, so a vetted file is looked up by its pinned sha256); each other algorithm computed
gets a hard link ``files/<algorithm>/<aa>/<bb>/<digest>`` to the same inode, so a lookup by a set of
advertised hashes proves every one of them matched these very bytes (:meth:`Storage.find_verified`).
Partial downloads live in ``tmp/`` under a name that carries the writing process's pid, so a restart
can remove what a killed process left behind without touching the temp files of live sibling workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiofiles.os

from mirror.core.errors import IntegrityError
from mirror.core.hashes import COMPUTABLE, hex_length, primary

_HEX = re.compile(r"^[0-9a-f]+$")
#: Every download is hashed with this, whatever upstream advertised: it is the cache key.
KEY_ALGORITHM = "sha256"


@dataclass(frozen=True, slots=True)
class Committed:
    """A verified file in the cache: its path and every digest computed while it was written."""

    path: Path
    digests: Mapping[str, str]

    @property
    def sha256(self) -> str:
        return self.digests[KEY_ALGORITHM]


class Storage:
    """Content-addressed file store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.tmp_dir = root / "tmp"

    def prepare(self) -> int:
        """Create the directories and remove temp files of dead processes; returns how many were removed.

        Blocking: call once at start-up (or via ``asyncio.to_thread``).
        """
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        removed = 0
        for entry in self.tmp_dir.iterdir():
            pid = entry.name.split(".", 1)[0]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def path_for(self, algorithm: str, digest: str) -> Path:
        """Where a file with this digest lives; raises ValueError for anything but a computable hex digest."""
        digest = digest.lower()
        if algorithm not in COMPUTABLE or len(digest) != hex_length(algorithm) or not _HEX.match(digest):
            raise ValueError(f"not a valid {algorithm} digest: {digest!r}")
        return self.files_dir / algorithm / digest[:2] / digest[2:4] / digest

    async def find(self, algorithm: str, digest: str) -> Path | None:
        """The cached file's path if it is present (verified by construction), else None."""
        path = self.path_for(algorithm, digest)
        return path if await aiofiles.os.path.isfile(path) else None

    async def find_verified(self, hashes: Mapping[str, str]) -> Path | None:
        """The cached file whose bytes matched *every* one of ``hashes`` (checked hashes), else None.

        A file cached under one of them but never checked against another (e.g. upstream's page now
        adds a sha512) is not found: it has to be downloaded and verified again.
        """
        chosen = primary(hashes)
        if chosen is None:
            return None
        path = self.path_for(*chosen)
        if len(hashes) == 1:
            return path if await aiofiles.os.path.isfile(path) else None
        others = [self.path_for(a, d) for a, d in hashes.items() if a != chosen[0]]
        return await asyncio.to_thread(_same_file, path, others)

    def present(self, pairs: Mapping[str, str]) -> dict[str, str]:
        """The entries of ``pairs`` (file sha256 → derived file sha256) whose two files are both cached.

        Blocking (stat calls): run in a thread.
        """
        return {a: b for a, b in pairs.items()
                if self.path_for(KEY_ALGORITHM, a).is_file() and self.path_for(KEY_ALGORITHM, b).is_file()}

    def new_temp(self, expected: Mapping[str, str], expected_size: int | None,
                 max_bytes: int | None = None) -> TempFile:
        """A temp file that verifies every digest of ``expected`` (and ``expected_size`` when given) before
        it is kept; writing more than ``max_bytes`` (or ``expected_size``) raises IntegrityError."""
        for algorithm, digest in expected.items():
            self.path_for(algorithm, digest)  # validates
        name = f"{os.getpid()}.{secrets.token_hex(8)}.part"
        return TempFile(self, self.tmp_dir / name, {a: d.lower() for a, d in expected.items()}, expected_size,
                        max_bytes)


class TempFile:
    """A download in progress: bytes appended and hashed; :meth:`commit` verifies and moves into place.

    Writes and hashing run in a worker thread (one hop per chunk), never on the event loop.
    """

    def __init__(self, storage: Storage, path: Path, expected: Mapping[str, str], expected_size: int | None,
                 max_bytes: int | None = None) -> None:
        self.storage, self.path = storage, path
        self.expected, self.expected_size = dict(expected), expected_size
        self.max_bytes = expected_size if expected_size is not None else max_bytes
        self.written = 0
        self._hashes = {a: hashlib.new(a) for a in {*expected, KEY_ALGORITHM}}
        self._fh: BinaryIO | None = None

    async def open(self) -> None:
        self._fh = await asyncio.to_thread(open, self.path, "wb")

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises IntegrityError past the size limit (nothing more is written)."""
        assert self._fh is not None, "open() first"
        if self.max_bytes is not None and self.written + len(chunk) > self.max_bytes:
            raise IntegrityError(str(self.path.name), f"at most {self.max_bytes} bytes", "more bytes")
        await asyncio.to_thread(self._write, self._fh, chunk)
        self.written += len(chunk)

    def _write(self, fh: BinaryIO, chunk: bytes) -> None:
        fh.write(chunk)
        # Flush so that readers tailing the temp file through another descriptor see the bytes.
        fh.flush()
        for h in self._hashes.values():
            h.update(chunk)

    async def commit(self, url: str) -> Committed:
        """Verify size and every expected digest, then make the file visible; raises :class:`IntegrityError`.

        On failure the temp file is removed and nothing becomes visible in the cache. When the same
        bytes are already cached (same sha256), the existing file is kept and the temp file dropped.
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
        paths = {a: self.storage.path_for(a, d) for a, d in digests.items()}
        try:
            await asyncio.to_thread(_install, self.path, paths.pop(KEY_ALGORITHM), list(paths.values()))
        finally:
            await self.discard()  # a no-op once it was renamed
        return Committed(self.storage.path_for(KEY_ALGORITHM, digests[KEY_ALGORITHM]), digests)

    async def discard(self) -> None:
        """Close and delete the temp file (safe to call twice)."""
        await self._close()
        try:
            await aiofiles.os.remove(self.path)
        except FileNotFoundError:
            pass

    async def _close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            await asyncio.to_thread(fh.close)


def _same_file(path: Path, others: list[Path]) -> Path | None:
    try:
        return path if all(os.path.samefile(path, other) for other in others) else None
    except OSError:  # one of them is missing
        return None


def _install(src: Path, final: Path, aliases: list[Path]) -> None:
    """Move verified ``src`` to ``final`` (unless those bytes are already there), then link ``aliases`` to it."""
    if not final.is_file():
        _fsync_and_rename(src, final)
    for alias in aliases:
        if alias.is_file() and _same_file(final, [alias]):
            continue
        alias.parent.mkdir(parents=True, exist_ok=True)
        tmp = alias.with_name(f".{alias.name}.{os.getpid()}.{secrets.token_hex(4)}.link")
        try:
            os.link(final, tmp)
        except OSError:  # a file system without hard links: a relative symlink resolves to the same file
            os.symlink(os.path.relpath(final, alias.parent), tmp)
        try:
            os.replace(tmp, alias)  # atomic: a reader sees the old alias or the new one
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _fsync_and_rename(src: Path, dst: Path) -> None:
    # fsync before rename: after a crash the cache holds either the whole verified file or nothing.
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a temp file of this very process predates it: a previous process with our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
