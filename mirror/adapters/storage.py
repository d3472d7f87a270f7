"""The file store on a local or shared file system: content-addressed, written through a temp file.

A file becomes visible under ``files/sha256/<aa>/<bb>/<digest>`` only after its bytes were hashed while
being written and every digest upstream advertised matched (:class:`~mirror.adapters.spool.Spool`). Each
other algorithm computed gets a hard link ``files/<algorithm>/<aa>/<bb>/<digest>`` to the same inode, so a
lookup by a set of advertised hashes proves every one of them matched these very bytes
(:meth:`LocalFileStore.find_verified`).

Several processes and nodes may share the directory (NFS, CephFS, a shared volume). A verified file enters
with a hard link from the fsynced temp file, which never replaces an existing name: concurrent writers of
one digest leave exactly one inode, complete, and never a partial file. Temp files live in ``tmp/`` (same
file system, so the link is atomic); see :mod:`mirror.adapters.spool` for when they are swept.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import secrets
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path

import aiofiles

from mirror.adapters.spool import Spool, host_token, sweep, temp_name
from mirror.core.errors import StorageError
from mirror.core.hashes import COMPUTABLE, hex_length, primary
from mirror.core.stored import KEY_ALGORITHM, StoredFile

_HEX = re.compile(r"^[0-9a-f]+$")
_CHUNK = 256 * 1024
#: errno values meaning "this name is not there" (a missing file, or a file where a directory should be)
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


class LocalFileStore:
    """Content-addressed file store rooted at ``root``; temp files older than ``stale_after`` seconds are
    dead whoever wrote them."""

    def __init__(self, root: Path, *, stale_after: float = 3600.0) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.tmp_dir = root / "tmp"
        self.stale_after = stale_after

    @property
    def description(self) -> str:
        return str(self.root)

    async def prepare(self) -> int:
        """Create the directories and remove dead temp files; returns how many were removed."""
        return await asyncio.to_thread(self._prepare)

    def _prepare(self) -> int:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return sweep(self.tmp_dir, self.stale_after)

    async def close(self) -> None:
        """Nothing to release: every file handle is closed by the call that opened it."""

    def path_for(self, algorithm: str, digest: str) -> Path:
        """Where a file with this digest lives; raises ValueError for anything but a computable hex digest."""
        digest = digest.lower()
        if algorithm not in COMPUTABLE or len(digest) != hex_length(algorithm) or not _HEX.match(digest):
            raise ValueError(f"not a valid {algorithm} digest: {digest!r}")
        return self.files_dir / algorithm / digest[:2] / digest[2:4] / digest

    async def find(self, sha256: str) -> StoredFile | None:
        """The stored file with this sha256, else None; raises StorageError when the disk cannot be read."""
        return await self.find_verified({KEY_ALGORITHM: sha256})

    async def find_verified(self, hashes: Mapping[str, str]) -> StoredFile | None:
        """The stored file whose bytes matched *every* one of ``hashes`` (checked hashes), else None.

        A file stored under one of them but never checked against another (e.g. upstream's page now adds a
        sha512) is not found: it has to be downloaded and verified again. Raises StorageError when the disk
        cannot be read.
        """
        chosen = primary(hashes)
        if chosen is None:
            return None
        paths = {a: self.path_for(a, d) for a, d in hashes.items()}
        return await asyncio.to_thread(self._lookup, paths, chosen[0])

    async def present(self, pairs: Mapping[str, str]) -> dict[str, str]:
        """The entries of ``pairs`` (file sha256 → derived file sha256) whose two files are both stored."""
        def check() -> dict[str, str]:
            return {a: b for a, b in pairs.items()
                    if self.path_for(KEY_ALGORITHM, a).is_file() and self.path_for(KEY_ALGORITHM, b).is_file()}

        return await asyncio.to_thread(check)

    def new_write(self, expected: Mapping[str, str], expected_size: int | None,
                  max_bytes: int | None = None) -> Spool:
        """A verified-write session for bytes that must match every digest of ``expected`` (and
        ``expected_size`` when given); writing more than ``max_bytes`` (or ``expected_size``) raises
        IntegrityError. Raises ValueError for a malformed expected digest."""
        for algorithm, digest in expected.items():
            self.path_for(algorithm, digest)  # validates
        return Spool(self.tmp_dir / temp_name(), expected, expected_size, max_bytes, self._install)

    async def _install(self, src: Path, digests: dict[str, str], size: int) -> StoredFile:
        paths = {a: self.path_for(a, d) for a, d in digests.items()}
        final = paths.pop(KEY_ALGORITHM)
        await asyncio.to_thread(_install, src, final, list(paths.values()))
        return await asyncio.to_thread(_stored, final, digests)

    async def read(self, stored: StoredFile, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes, None]:
        """The bytes ``[start, end)`` of a stored file, in chunks; raises StorageError when it cannot be read
        (including when it was deleted meanwhile)."""
        path = stored.local_path or self.path_for(KEY_ALGORITHM, stored.sha256)
        end = stored.size if end is None else end
        try:
            async with aiofiles.open(path, "rb") as fh:
                await fh.seek(start)
                position = start
                while position < end:
                    chunk = await fh.read(min(_CHUNK, end - position))
                    if not chunk:
                        raise StorageError(f"{path} ends at byte {position}, expected {end}")
                    position += len(chunk)
                    yield chunk
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    async def delete(self, sha256: str) -> bool:
        """Remove a stored file and its links under other algorithms; False when it was not stored.

        For withdrawn files. Readers that already opened the file finish reading it.
        """
        path = self.path_for(KEY_ALGORITHM, sha256)
        try:
            return await asyncio.to_thread(self._delete, path)
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc}") from exc

    def _lookup(self, paths: dict[str, Path], chosen: str) -> StoredFile | None:
        path = paths[chosen]
        try:
            info = os.stat(path)
            others = [p for a, p in paths.items() if a != chosen]
            if others and not _same_file(path, others):
                return None
            sha256 = paths[KEY_ALGORITHM].name if KEY_ALGORITHM in paths else self._sha256_of(path)
        except OSError as exc:
            if exc.errno in _ABSENT:
                return None
            raise StorageError(f"cannot look up {path}: {exc}") from exc
        if sha256 is None:
            return None
        digests = {a: p.name for a, p in paths.items()}
        digests[KEY_ALGORITHM] = sha256
        return StoredFile(sha256=sha256, size=info.st_size, digests=digests, modified=info.st_mtime,
                          local_path=path)

    def _sha256_of(self, path: Path) -> str | None:
        """The sha256 of a file found by another algorithm (pages without a sha256: rare), if it is stored
        under it too."""
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                h.update(chunk)
        digest = h.hexdigest()
        return digest if _same_file(path, [self.path_for(KEY_ALGORITHM, digest)]) else None

    def _delete(self, path: Path) -> bool:
        if not path.is_file():
            return False
        # The links carry other algorithms' digests of these bytes: hash them with each algorithm in use.
        algorithms = [d.name for d in self.files_dir.iterdir() if d.name in COMPUTABLE and d.name != KEY_ALGORITHM]
        hashes = {a: hashlib.new(a) for a in algorithms}
        with open(path, "rb") as fh:
            while algorithms and (chunk := fh.read(1024 * 1024)):
                for h in hashes.values():
                    h.update(chunk)
        for algorithm, h in hashes.items():
            alias = self.path_for(algorithm, h.hexdigest())
            if _same_file(path, [alias]):
                alias.unlink()
        path.unlink()
        return True

    async def health(self) -> dict[str, object]:
        """Whether files can be read and written here: ``ok``, ``backend``, ``location`` and ``problem``."""
        report: dict[str, object] = {"backend": "filesystem", "location": str(self.root), "ok": True,
                                     "problem": None}
        try:
            await asyncio.to_thread(self._probe)
        except OSError as exc:
            report.update(ok=False, problem=f"{type(exc).__name__}: {exc.strerror or exc}")
        return report

    def _probe(self) -> None:
        if not self.files_dir.is_dir():
            raise FileNotFoundError(errno.ENOENT, "no files directory", str(self.files_dir))
        probe = self.tmp_dir / f"{host_token()}.{os.getpid()}.{secrets.token_hex(4)}.probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, b"probe")
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()


def _stored(path: Path, digests: Mapping[str, str]) -> StoredFile:
    info = path.stat()
    return StoredFile(sha256=path.name, size=info.st_size, digests=dict(digests), modified=info.st_mtime,
                      local_path=path)


def _same_file(path: Path, others: list[Path]) -> bool:
    try:
        return all(os.path.samefile(path, other) for other in others)
    except OSError:  # one of them is missing
        return False


def _install(src: Path, final: Path, aliases: list[Path]) -> None:
    """Put verified ``src`` at ``final`` unless those bytes are already there, then link ``aliases`` to it."""
    _fsync(src)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        # A hard link never replaces an existing name: of concurrent writers of one digest, the first wins and
        # every later one keeps its inode (aliases already made to it stay valid).
        os.link(src, final)
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        if not final.is_file():  # no hard links here: an atomic rename (same bytes if two writers race)
            os.replace(src, final)
    _fsync_dir(final.parent)
    for alias in aliases:
        if _same_file(final, [alias]):
            continue
        alias.parent.mkdir(parents=True, exist_ok=True)
        tmp = alias.with_name(f".{alias.name}.{host_token()}.{os.getpid()}.{secrets.token_hex(4)}.link")
        try:
            os.link(final, tmp)
        except OSError:  # a file system without hard links: a relative symlink resolves to the same file
            os.symlink(os.path.relpath(final, alias.parent), tmp)
        try:
            os.replace(tmp, alias)  # atomic: a reader sees the old alias or the new one
        finally:
            # Gone after a rename; still there when a concurrent writer made the same link first (renaming one
            # hard link onto another of the same inode does nothing) or when the rename failed.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _fsync(path: Path) -> None:
    # fsync before the file gets its name: after a crash the store holds the whole verified file or nothing.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened or synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
