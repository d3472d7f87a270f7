"""PEP 658 metadata the mirror derives itself: ``*.dist-info/METADATA`` of a verified, stored wheel.

Extracted from every wheel the mirror downloads and verifies. Pages advertise it where upstream advertises
no ``.metadata``, and ``vetted`` advertises it instead of upstream's unpinned ``.metadata``. The bytes are
stored exactly as they are in the wheel, content-addressed like any other file.

The wheel is read through the file store with byte ranges (the zip's directory at its end, then the one
entry), so extraction reads a few hundred kilobytes of a wheel of any size, whichever store holds it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mirror.adapters.db.pages import PageStore
from mirror.core.errors import StorageError
from mirror.core.stored import StoredFile
from mirror.services.filestore import FileStore, read_bytes

log = logging.getLogger("mirror.files")

_METADATA_ENTRY = re.compile(r"^[^/]+\.dist-info/METADATA$")
#: A METADATA file larger than this is not a METADATA file.
_MAX_METADATA = 16 * 1024 * 1024
#: The most bytes of a wheel read to find it (its zip directory and the entry): a bound for hostile zips.
_MAX_READ = 96 * 1024 * 1024
#: Seconds one range read of the store may take.
_READ_TIMEOUT = 120.0
#: Wheels read at once. Their threads wait for the event loop's store reads, so they are threads of their own:
#: in the default executor, enough concurrent extractions would take every thread the store's reads (local files
#: go through that executor) need, and wait for them forever.
_READERS = 4


def read_wheel_metadata(source: Path | BinaryIO) -> bytes | None:
    """The bytes of the wheel's single ``<name>-<version>.dist-info/METADATA``, or None.

    None when the file is not a zip, has no such entry or more than one, or cannot be read. Blocking: run
    in a thread.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            entries = [i for i in archive.infolist() if _METADATA_ENTRY.match(i.filename)]
            if len(entries) != 1 or entries[0].file_size > _MAX_METADATA:
                return None
            return archive.read(entries[0])
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError):
        return None


class RangeFile(io.RawIOBase):
    """A read-only, seekable file of ``size`` bytes whose reads call ``fetch(start, end)``; reading more than
    ``budget`` bytes in total raises OSError."""

    def __init__(self, size: int, fetch: Callable[[int, int], bytes], budget: int = _MAX_READ) -> None:
        super().__init__()
        self._size, self._fetch, self._budget = size, fetch, budget
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._position)
        if count <= 0:
            return 0
        if count > self._budget:
            raise OSError("read budget exhausted")
        data = self._fetch(self._position, self._position + count)
        if len(data) != count:
            raise OSError(f"short read: {len(data)} of {count} bytes")
        self._budget -= count
        memoryview(buffer)[:count] = data
        self._position += count
        return count


class MetadataExtractor:
    """Extracts, stores and records metadata of freshly stored wheels; notifies on success."""

    def __init__(self, store: FileStore, pages: PageStore, on_change: Callable[[str], None]) -> None:
        self._store = store
        self._pages = pages
        #: called with a project's name when metadata of one of its files was extracted
        self.on_change = on_change
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the reader threads (at shutdown; reads under way finish)."""
        if self._readers is not None:
            self._readers.shutdown(wait=False, cancel_futures=True)
            self._readers = None

    async def read_metadata(self, wheel: StoredFile) -> bytes | None:
        """The METADATA of a stored wheel, read through the store; None when there is none (or it cannot be
        read)."""
        loop = asyncio.get_running_loop()

        def fetch(start: int, end: int) -> bytes:  # runs in the worker thread
            future = asyncio.run_coroutine_threadsafe(read_bytes(self._store, wheel, start, end), loop)
            try:
                return future.result(_READ_TIMEOUT)
            except StorageError as exc:
                raise OSError(str(exc)) from exc
            except TimeoutError:
                future.cancel()
                raise OSError("the store did not answer in time") from None

        source = io.BufferedReader(RangeFile(wheel.size, fetch), buffer_size=256 * 1024)
        if self._readers is None:
            self._readers = concurrent.futures.ThreadPoolExecutor(_READERS, thread_name_prefix="metadata")
        return await loop.run_in_executor(self._readers, read_wheel_metadata, source)

    async def extract_verified(self, project: str, wheel: StoredFile) -> str | None:
        """Extract and record the METADATA of ``wheel``, a file that passed every hash check; returns
        the metadata's sha256, or None when there is none.

        The record is keyed by the sha256 the mirror computed from those verified bytes (never by a
        hash a page advertised), and replaces any earlier record for them: the bytes decide.
        """
        data = await self.read_metadata(wheel)
        if data is None:
            log.info("no METADATA to extract wheel=%s", wheel.sha256)
            return None
        digest = hashlib.sha256(data).hexdigest()
        if await self._store.find(digest) is None:
            temp = self._store.new_write({"sha256": digest}, len(data))
            await temp.open()
            try:
                await temp.write(data)
                await temp.commit(f"extracted from {wheel.sha256}")
            finally:
                await temp.discard()
        await self._pages.record_extracted_metadata(wheel.sha256, digest)
        self.on_change(project)
        log.info("extracted metadata project=%s wheel=%s metadata=%s", project, wheel.sha256, digest)
        return digest
