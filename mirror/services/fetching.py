"""A tier's file in the store: found there, or fetched once from upstream through the downloader and verified.

The files route streams a download to its client while it runs; everything else that needs a whole file
(dependency metadata, ``mirror prefetch``) waits here for the same single, verified download. Both build
the request with :func:`wanted`, so a file fetched for a closure is exactly the file a client would get.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from mirror.core.errors import FileNotListed, MirrorError
from mirror.core.hashes import checked_hashes
from mirror.core.models import DistFile
from mirror.core.stored import StoredFile
from mirror.services.downloads import Downloader, Wanted
from mirror.services.filestore import FileStore
from mirror.services.metadata import MetadataExtractor

METADATA_SUFFIX = ".metadata"
#: Seconds between two progress reports of a download.
_PROGRESS_INTERVAL = 0.1


def wanted(project: str, dist: DistFile, *, metadata: bool, extractor: MetadataExtractor | None = None) -> Wanted:
    """The download of ``dist`` (as a tier serves it) or of its PEP 658 ``.metadata``: the URL upstream lists
    and every hash the mirror checks. With ``extractor``, a wheel without extracted metadata gets its METADATA
    extracted once stored. Raises FileNotListed when the tier advertises no hash it can check for it."""
    if metadata:
        hashes = checked_hashes(dist.core_metadata)
        url, size, label = dist.url + METADATA_SUFFIX, None, f"{project}/{dist.filename}{METADATA_SUFFIX}"
    else:
        hashes = checked_hashes(dist.hashes)
        url, size, label = dist.url, dist.size, f"{project}/{dist.filename}"
    if hashes is None:
        raise FileNotListed(project, dist.filename + (METADATA_SUFFIX if metadata else ""))
    on_cached: Callable[[StoredFile], Awaitable[object]] | None = None
    if not metadata and extractor is not None and dist.filename.endswith(".whl") and dist.local_metadata is None:
        # Derive metadata from the verified file once cached (used where upstream's is missing or unpinned).
        on_cached = functools.partial(extractor.extract_verified, project)
    return Wanted(url, hashes, size, label, on_cached=on_cached)


class FileFetcher:
    """Whole files of a tier, from the store or through the single verified download of each."""

    def __init__(self, store: FileStore, downloader: Downloader, extractor: MetadataExtractor | None) -> None:
        self.store = store
        self.downloader = downloader
        self.extractor = extractor

    async def stored(self, project: str, dist: DistFile, *, metadata: bool = False) -> StoredFile | None:
        """The verified file if the store already holds it (no download), else None."""
        want = wanted(project, dist, metadata=metadata, extractor=self.extractor)
        return await self.store.find_verified(want.hashes)

    async def fetch(self, project: str, dist: DistFile, *, metadata: bool = False,
                    on_bytes: Callable[[int], object] | None = None) -> tuple[StoredFile, bool]:
        """The verified, stored file and whether it was downloaded now (False: the store had it).
        ``on_bytes`` is called with the bytes received so far, a few times a second while downloading.

        Raises FileNotListed (no checkable hash), UpstreamError, IntegrityError or StorageError.
        """
        want = wanted(project, dist, metadata=metadata, extractor=self.extractor)
        found = await self.store.find_verified(want.hashes)
        if found is not None:
            return found, False
        download = self.downloader.get(want)
        download.attach()  # a waiter: the download is not abandoned while we wait
        try:
            if on_bytes is None:
                return await asyncio.shield(download.finished), True  # never cancel others' download
            while True:  # asyncio.wait never cancels what it waits for
                done, _ = await asyncio.wait([download.finished], timeout=_PROGRESS_INTERVAL)
                on_bytes(download.temp.written)
                if done:
                    return download.finished.result(), True
        finally:
            download.detach()

    async def read(self, stored: StoredFile, limit: int) -> bytes:
        """The whole stored file, refused (MirrorError) when larger than ``limit`` bytes."""
        if stored.size > limit:
            raise MirrorError(f"{stored.sha256}: {stored.size} bytes is more than the {limit} accepted")
        return b"".join([chunk async for chunk in self.store.read(stored)])
