"""PEP 658 metadata the mirror derives itself: ``*.dist-info/METADATA`` of a verified, cached wheel.

Extracted from every wheel the mirror downloads and verifies. Pages advertise it where upstream advertises
no ``.metadata``, and ``vetted`` advertises it instead of upstream's unpinned ``.metadata``. The bytes are
stored exactly as they are in the wheel, content-addressed like any other file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from mirror.adapters.db.pages import PageStore
from mirror.adapters.storage import Committed, Storage

log = logging.getLogger("mirror.files")

_METADATA_ENTRY = re.compile(r"^[^/]+\.dist-info/METADATA$")
#: A METADATA file larger than this is not a METADATA file.
_MAX_METADATA = 16 * 1024 * 1024


def read_wheel_metadata(path: Path) -> bytes | None:
    """The bytes of the wheel's single ``<name>-<version>.dist-info/METADATA``, or None.

    None when the file is not a zip, has no such entry or more than one. Blocking: run in a thread.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [i for i in archive.infolist() if _METADATA_ENTRY.match(i.filename)]
            if len(entries) != 1 or entries[0].file_size > _MAX_METADATA:
                return None
            return archive.read(entries[0])
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
        return None


class MetadataExtractor:
    """Extracts, stores and records metadata of freshly cached wheels; notifies on success."""

    def __init__(self, storage: Storage, store: PageStore, on_change: Callable[[str], None]) -> None:
        self._storage = storage
        self._store = store
        self._on_change = on_change

    async def extract_verified(self, project: str, wheel: Committed) -> str | None:
        """Extract and record the METADATA of ``wheel``, a file that passed every hash check; returns
        the metadata's sha256, or None when there is none.

        The record is keyed by the sha256 the mirror computed from those verified bytes (never by a
        hash a page advertised), and replaces any earlier record for them: the bytes decide.
        """
        data = await asyncio.to_thread(read_wheel_metadata, wheel.path)
        if data is None:
            log.info("no METADATA to extract wheel=%s", wheel.sha256)
            return None
        digest = hashlib.sha256(data).hexdigest()
        if await self._storage.find("sha256", digest) is None:
            temp = self._storage.new_temp({"sha256": digest}, len(data))
            await temp.open()
            await temp.write(data)
            await temp.commit(f"extracted from {wheel.sha256}")
        await self._store.record_extracted_metadata(wheel.sha256, digest)
        self._on_change(project)
        log.info("extracted metadata project=%s wheel=%s metadata=%s", project, wheel.sha256, digest)
        return digest
