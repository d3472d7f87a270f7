"""Offline OSV import: advisories from a directory of ``*.json`` files, one such file, or an OSV export zip.

The zip is the one OSV publishes per ecosystem (``PyPI/all.zip``: one ``<ID>.json`` per advisory, MAL-
entries included). It is read entry by entry, never whole: each entry is inflated into at most
``max_file_bytes + 1`` bytes, whatever its header claims. Every bound holds for a directory too.

Blocking (file reads, inflation, JSON parsing): callers run the whole iteration in a worker thread, e.g.
``await asyncio.to_thread(list, OsvImport(path))`` or a thread that hands advisories over in batches.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mirror.core.advisories import Advisory, AdvisoryError, parse_osv
from mirror.core.errors import MirrorError

#: Reads one file: its bytes, or the reason it cannot be used.
_Reader = Callable[[], bytes | str]


class OsvSourceError(MirrorError):
    """The import cannot start: ``path`` is missing or is neither a directory, a zip nor a ``.json`` file."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """Bounds on one import: bytes per file, files looked at, bytes read in all."""

    max_file_bytes: int = 4 * 1024 * 1024
    max_files: int = 200_000
    max_total_bytes: int = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file (a path, or an entry name inside the zip) that was skipped, and why."""

    name: str
    reason: str


class OsvImport:
    """One pass over an OSV source: iterating yields the advisories that name PyPI projects.

    Bad files are skipped, never fatal: each lands in ``problems`` with a reason (unreadable, too large, not
    JSON, not a valid OSV record: ``AdvisoryError`` names the advisory id and field). ``foreign`` counts
    valid records naming no PyPI project; ``files`` counts the ``.json`` files looked at. Hitting
    ``max_files`` or ``max_total_bytes`` ends the pass with a problem saying so. Both attributes are reset
    when iteration starts again. The same id may come from several files; callers keep the record with the
    latest ``modified``.

    Raises ``OsvSourceError`` (when iteration starts) if ``path`` cannot be imported at all.
    """

    def __init__(self, path: Path, limits: ImportLimits | None = None) -> None:
        self.path = path
        self.limits = limits or ImportLimits()
        self.problems: list[FileProblem] = []
        self.foreign = 0
        self.files = 0
        self._bytes = 0

    def __iter__(self) -> Iterator[Advisory]:
        self.problems, self.foreign, self.files, self._bytes = [], 0, 0, 0
        for name, data in self._documents():
            advisory = self._parse(name, data)
            if advisory is None:
                continue
            if not advisory.affected:
                self.foreign += 1
                continue
            yield advisory

    def _documents(self) -> Iterator[tuple[str, bytes | None]]:
        """(name, bytes) of each ``.json`` file within the bounds; None bytes when the file was skipped."""
        path = self.path
        if path.is_dir():
            yield from self._from_directory(path)
        elif path.is_file() and zipfile.is_zipfile(path):
            yield from self._from_zip(path)
        elif path.is_file() and path.suffix.lower() == ".json":
            yield from self._counted([(str(path), functools.partial(self._read_file, path))])
        elif not path.exists():
            raise OsvSourceError(str(path), "does not exist")
        else:
            raise OsvSourceError(str(path), "is neither a directory, a zip file nor a .json file")

    def _from_directory(self, root: Path) -> Iterator[tuple[str, bytes | None]]:
        def files() -> Iterator[tuple[str, _Reader]]:
            for directory, subdirs, names in os.walk(root, followlinks=False):
                subdirs.sort()  # a stable order: problems and counts read the same on every run
                for name in sorted(names):
                    if name.lower().endswith(".json"):
                        path = Path(directory, name)
                        yield str(path), functools.partial(self._read_file, path)
        yield from self._counted(files())

    def _from_zip(self, path: Path) -> Iterator[tuple[str, bytes | None]]:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise OsvSourceError(str(path), f"cannot be read as a zip file: {error}") from None
        with archive:
            entries = (info for info in archive.infolist()
                       if not info.is_dir() and info.filename.lower().endswith(".json"))
            yield from self._counted(
                (_printable(info.filename), functools.partial(self._read_entry, archive, info)) for info in entries)

    def _counted(self, items: Iterable[tuple[str, _Reader]]) -> Iterator[tuple[str, bytes | None]]:
        """Apply the file-count and total-size bounds to (name, reader) pairs, in order."""
        for name, reader in items:
            if self.files >= self.limits.max_files:
                self.problems.append(FileProblem(name, f"import stopped: more than {self.limits.max_files} files"))
                return
            self.files += 1
            data = reader()
            if isinstance(data, str):  # a reason the file could not be read
                self.problems.append(FileProblem(name, data))
                yield name, None
                continue
            self._bytes += len(data)
            if self._bytes > self.limits.max_total_bytes:
                self.problems.append(FileProblem(
                    name, f"import stopped: more than {self.limits.max_total_bytes} bytes read"))
                return
            yield name, data

    def _read_file(self, path: Path) -> bytes | str:
        limit = self.limits.max_file_bytes
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                return "not a regular file"
            if info.st_size > limit:
                return f"larger than {limit} bytes"
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except OSError as error:
            return f"cannot be read: {error.strerror or error}"
        return data if len(data) <= limit else f"larger than {limit} bytes"

    def _read_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | str:
        limit = self.limits.max_file_bytes
        if info.file_size > limit:
            return f"larger than {limit} bytes"
        try:
            with archive.open(info) as handle:
                data = handle.read(limit + 1)  # the header may lie: never inflate more than this
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError,
                ValueError) as error:
            return f"cannot be read from the zip: {error}"
        return data if len(data) <= limit else f"larger than {limit} bytes"

    def _parse(self, name: str, data: bytes | None) -> Advisory | None:
        if data is None:
            return None
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as error:  # ValueError covers bad UTF-8 and bad JSON
            self.problems.append(FileProblem(name, f"not JSON: {error}"))
            return None
        try:
            return parse_osv(document)
        except AdvisoryError as error:
            self.problems.append(FileProblem(name, str(error)))
            return None


def _printable(name: str) -> str:
    """A zip entry name safe to print (control characters escaped)."""
    return name if name.isprintable() else ascii(name)[1:-1]
