"""Release licences as evidence: read from the core metadata the mirror has, fetched in the background when it
has none yet.

A release's licence comes from the metadata of its files: upstream's PEP 658 ``.metadata`` (verified against
the hash upstream advertises) or the ``METADATA`` the mirror extracted from a verified wheel. What a metadata
file declares (:func:`mirror.core.licenses.license_from_metadata`) is kept per metadata sha256, in memory and in
the database. A page never waits: releases without a licence read yet are "not known yet" (the licence rules
say what that means), and are read in the background, newest first — the ``.metadata`` file when upstream
advertises one, else the smallest wheel of the release (downloaded and verified like any file, at most
``max_wheel_bytes``) — and the project's views are decided again once they are. A release with neither (an
sdist only) is unknown: its licence cannot be read without building it. Only the ``newest`` releases of a page
are fetched for; older ones are read as soon as a client downloads one of their wheels.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from packaging.version import Version

from mirror.core.errors import MirrorError
from mirror.core.licenses import LicenseSource, ReleaseLicense, license_from_metadata
from mirror.core.lru import LRU
from mirror.core.metadata import MAX_METADATA_BYTES
from mirror.core.models import DistFile, ProjectDetail
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.evidence import ReleaseLicenses
from mirror.core.stored import StoredFile
from mirror.services.downloads import Downloader, Wanted
from mirror.services.filestore import FileStore, read_bytes

log = logging.getLogger("mirror.licenses")

#: Seconds before a release whose metadata could not be fetched is tried again.
RETRY_AFTER = 600.0


class LicenseStore(Protocol):
    async def load(self, metadata_sha256s: list[str]) -> dict[str, ReleaseLicense]: ...

    async def save(self, metadata_sha256: str, found: ReleaseLicense) -> None: ...


class ExtractedRecords(Protocol):
    async def extracted_metadata_for(self, file_sha256s: list[str]) -> dict[str, str]: ...


#: ``extract(project, wheel)``: extract and record the METADATA of a verified, stored wheel.
Extract = Callable[[str, StoredFile], Awaitable[object]]


class LicenseReader:
    """Licences per release of a page (see the module docstring); ``on_change(project)`` re-decides it."""

    def __init__(self, records: LicenseStore, extracted: ExtractedRecords, store: FileStore,
                 downloader: Downloader, extract: Extract, on_change: Callable[[str], None],
                 clock: Callable[[], float] = time.time, *, capacity: int = 65536,
                 max_wheel_bytes: int = 64 * 1024 * 1024, newest: int = 20, concurrency: int = 2,
                 max_pending: int = 1000) -> None:
        self._records = records
        self._extracted = extracted
        self._store = store
        self._downloader = downloader
        self._extract = extract
        self.on_change = on_change
        self._clock = clock
        self._known: LRU[str, ReleaseLicense] = LRU(capacity)  # metadata sha256 → licence
        self._unreadable: LRU[tuple[str, str], ReleaseLicense] = LRU(capacity)  # (project, version) → unknown
        self._failed: LRU[tuple[str, str], float] = LRU(capacity)  # (project, version) → when it failed
        self._pending: set[tuple[str, str]] = set()
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_wheel_bytes = max_wheel_bytes
        self.newest = newest
        self.max_pending = max_pending

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no read is pending (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def for_page(self, project: str, detail: ProjectDetail, extracted: Mapping[str, str]) -> ReleaseLicenses:
        """canonical version → the licences read for it; starts background reads of the releases without one."""
        releases = _metadata_by_release(detail, extracted)
        wanted = [sha for shas in releases.values() for sha, _ in shas if sha not in self._known]
        if wanted:
            try:
                for sha, declared in (await self._records.load(sorted(set(wanted)))).items():
                    self._known[sha] = declared
            except Exception:  # the database is unavailable: read in the background, as if never read
                log.exception("cannot read licences project=%s", project)
        result: dict[str, tuple[ReleaseLicense, ...]] = {}
        missing: list[str] = []
        for version, shas in releases.items():
            found = tuple(dict.fromkeys(known for sha, _ in shas if (known := self._known.get(sha)) is not None))
            if not found:
                unreadable = self._unreadable.get((project, version))
                if unreadable is not None:
                    found = (unreadable,)
            if found:
                result[version] = found
            else:
                missing.append(version)
        self._schedule(project, detail, missing, extracted)
        return result

    def _schedule(self, project: str, detail: ProjectDetail, missing: list[str], extracted: Mapping[str, str]) -> None:
        if not missing:
            return
        newest = _newest_first(missing)[: self.newest]
        now = self._clock()
        for version in newest:
            key = (project, version)
            failed = self._failed.get(key)
            if key in self._pending or (failed is not None and now - failed < RETRY_AFTER):
                continue
            if len(self._pending) >= self.max_pending:
                return
            files = [f for f in detail.files if canonical_version(f.version) == version]
            self._pending.add(key)
            task = asyncio.ensure_future(self._read(project, version, files, dict(extracted)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read(self, project: str, version: str, files: list[DistFile], extracted: dict[str, str]) -> None:
        key = (project, version)
        try:
            async with self._limit:
                changed = await self._read_release(project, version, files, extracted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # upstream, store, anything: try again later
            self._failed[key] = self._clock()
            log.warning("cannot read the licence of project=%s version=%s: %s", project, version, exc)
            changed = False
        finally:
            self._pending.discard(key)
        if changed:
            self.on_change(project)

    async def _read_release(self, project: str, version: str, files: list[DistFile], extracted: dict[str, str]
                            ) -> bool:
        # 1. metadata already in the store
        for f in files:
            for sha in _metadata_shas(f, extracted):
                stored = await self._store.find(sha)
                if stored is not None and await self._remember(sha, stored):
                    return True
        # 2. upstream's .metadata, verified against the hash it advertises
        for f in files:
            hashes = f.checked_metadata()
            if hashes and "sha256" in hashes and f.checked_hashes() is not None:
                stored = await self._download(Wanted(f.url + ".metadata", hashes, None,
                                                     f"{project}/{f.filename}.metadata"))
                if await self._remember(hashes["sha256"], stored):
                    return True
        # 3. the smallest wheel, verified; the mirror extracts its METADATA
        wheels = sorted((f for f in files if f.filename.endswith(".whl") and f.checked_hashes() is not None
                         and f.sha256 and f.size is not None and f.size <= self.max_wheel_bytes),
                        key=lambda f: f.size or 0)
        for f in wheels[:1]:
            hashes = f.checked_hashes()
            assert hashes is not None and f.sha256 is not None
            await self._download(Wanted(f.url, hashes, f.size, f"{project}/{f.filename}",
                                        on_cached=lambda stored: self._extract(project, stored)))
            local = (await self._extracted.extracted_metadata_for([f.sha256])).get(f.sha256)
            stored = await self._store.find(local) if local else None
            if local and stored is not None and await self._remember(local, stored):
                return True
        why = ("no wheel and no .metadata: its licence cannot be read without building it" if not wheels
               else "its metadata could not be read")
        if any(f.filename.endswith(".whl") for f in files) and not wheels:
            why = f"no .metadata, and every wheel is over the {self.max_wheel_bytes} bytes read for a licence"
        self._unreadable[(project, version)] = ReleaseLicense(None, LicenseSource.NONE, why)
        return True

    async def _download(self, wanted: Wanted) -> StoredFile:
        download = self._downloader.get(wanted)
        download.attach()
        try:
            return await download.finished
        finally:
            download.detach()

    async def _remember(self, sha: str, stored: StoredFile) -> bool:
        if stored.size > MAX_METADATA_BYTES:
            return False
        data = await read_bytes(self._store, stored, 0, stored.size)
        try:
            found = await asyncio.to_thread(license_from_metadata, data)
        except (MirrorError, ValueError) as exc:
            found = ReleaseLicense(None, LicenseSource.NONE, f"the metadata cannot be read ({exc})")
        self._known[sha] = found
        await self._records.save(sha, found)
        log.info("licence read metadata=%s licence=%s source=%s", sha, found.expression or "unknown",
                 found.source.value)
        return True


async def stored_licenses(records: LicenseStore, detail: ProjectDetail, extracted: Mapping[str, str]
                          ) -> ReleaseLicenses:
    """The licences already read for the releases of ``detail`` (no fetch): what ``explain``, ``check`` and the
    dry run use."""
    releases = _metadata_by_release(detail, extracted)
    shas = sorted({sha for pairs in releases.values() for sha, _ in pairs})
    known = await records.load(shas) if shas else {}
    found = {version: tuple(dict.fromkeys(known[sha] for sha, _ in pairs if sha in known))
             for version, pairs in releases.items()}
    return {version: licences for version, licences in found.items() if licences}


def _metadata_shas(f: DistFile, extracted: Mapping[str, str]) -> list[str]:
    shas = []
    upstream = (f.checked_metadata() or {}).get("sha256") if f.checked_hashes() is not None else None
    if upstream:
        shas.append(upstream)
    local = extracted.get(f.sha256 or "")
    if local and local not in shas:
        shas.append(local)
    return shas


def _metadata_by_release(detail: ProjectDetail, extracted: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """canonical version → (metadata sha256, filename) of its files, in page order."""
    releases: dict[str, list[tuple[str, str]]] = {}
    for f in detail.files:
        version = canonical_version(f.version)
        if version is None:
            continue
        shas = releases.setdefault(version, [])
        shas += [(sha, f.filename) for sha in _metadata_shas(f, extracted)]
    return releases


def _newest_first(versions: list[str]) -> list[str]:
    return sorted(versions, key=Version, reverse=True)  # canonical versions: they parse
