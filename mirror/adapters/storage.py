"""The file cache on local disk: content-addressed, written through a temp file, renamed atomically.

A file becomes visible under ``files/<algorithm>/<aa>/<bb>/<digest>`` only after its bytes were hashed
while being written and the digest matched what upstream advertised. Partial downloads live in ``tmp/``
under a name that carries the writing process's pid, so a restart can remove what a killed process
left behind without touching the temp files of live sibling workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from pathlib import Path

import aiofiles
import aiofiles.os

from mirror.core.errors import IntegrityError

_HEX = re.compile(r"^[0-9a-f]{32,128}$")
_ALGORITHMS = frozenset(("sha512", "sha384", "sha256", "sha224", "sha1", "md5"))


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
        """Where a file with this digest lives; raises ValueError for anything but a known hex digest."""
        digest = digest.lower()
        if algorithm not in _ALGORITHMS or not _HEX.match(digest):
            raise ValueError(f"not a valid {algorithm} digest: {digest!r}")
        return self.files_dir / algorithm / digest[:2] / digest[2:4] / digest

    async def find(self, algorithm: str, digest: str) -> Path | None:
        """The cached file's path if it is present (verified by construction), else None."""
        path = self.path_for(algorithm, digest)
        return path if await aiofiles.os.path.isfile(path) else None

    def new_temp(self, algorithm: str, digest: str, expected_size: int | None) -> TempFile:
        """A temp file that verifies ``digest`` (and ``expected_size`` when given) before it is kept."""
        final = self.path_for(algorithm, digest)
        name = f"{os.getpid()}.{secrets.token_hex(8)}.part"
        return TempFile(self.tmp_dir / name, final, algorithm, digest.lower(), expected_size)


class TempFile:
    """A download in progress: bytes appended and hashed; :meth:`commit` verifies and renames."""

    def __init__(self, path: Path, final: Path, algorithm: str, digest: str, expected_size: int | None) -> None:
        self.path, self.final = path, final
        self.algorithm, self.digest, self.expected_size = algorithm, digest, expected_size
        self.written = 0
        self._hash = hashlib.new(algorithm)
        self._fh = None

    async def open(self) -> None:
        self._fh = await aiofiles.open(self.path, "wb")

    async def write(self, chunk: bytes) -> None:
        assert self._fh is not None, "open() first"
        await self._fh.write(chunk)
        # Flush so that readers tailing the temp file through another descriptor see the bytes.
        await self._fh.flush()
        self._hash.update(chunk)
        self.written += len(chunk)

    async def commit(self, url: str) -> Path:
        """Verify size and digest, then atomically move into place; raises :class:`IntegrityError`.

        On failure the temp file is removed and nothing becomes visible in the cache.
        """
        await self._close()
        if self.expected_size is not None and self.written != self.expected_size:
            await self.discard()
            raise IntegrityError(url, f"{self.expected_size} bytes", f"{self.written} bytes")
        actual = self._hash.hexdigest()
        if actual != self.digest:
            await self.discard()
            raise IntegrityError(url, f"{self.algorithm}={self.digest}", f"{self.algorithm}={actual}")
        await asyncio.to_thread(_fsync_and_rename, self.path, self.final)
        return self.final

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
            await fh.close()


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
