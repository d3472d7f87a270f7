"""Route of distribution files and their PEP 658 ``.metadata``: ``/<tier>/files/<project>/<filename>``.

Only files listed in the tier's view of the project page are served, from the file store (sendfile or
streamed from the store, Range, HEAD, conditional GET: :mod:`mirror.web.filesend`) or, on a miss, streamed
from the single upstream download.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.errors import MirrorError
from mirror.core.models import Tier
from mirror.core.stored import StoredFile
from mirror.services.downloads import ClientGone, Download, wait_for_download
from mirror.services.fetching import METADATA_SUFFIX, wanted
from mirror.services.filestore import FileStore, read_bytes
from mirror.services.telemetry import HIT, MISS, note_cache
from mirror.web.filesend import send_stored
from mirror.web.headers import file_headers
from mirror.web.names import is_filename, is_project_name, tier_of
from mirror.web.state import SERVICES, Services

log = logging.getLogger("mirror.files")

#: Metadata bigger than this is not read for prefetching (real files are a few KiB).
_PREFETCH_READ = 1024 * 1024


async def file_or_metadata(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    project, filename = request.match_info["project"], request.match_info["filename"]
    if not is_project_name(project) or not is_filename(filename):
        raise web.HTTPNotFound(text="no such file\n")
    normalized = canonicalize_name(project)
    if normalized != project:
        raise web.HTTPMovedPermanently(f"/{tier.value}/files/{normalized}/{filename}")
    is_metadata = filename.endswith(METADATA_SUFFIX)
    dist_name = filename[: -len(METADATA_SUFFIX)] if is_metadata else filename
    dist = await services.prepared.admitted_file(tier, normalized, dist_name)
    # Every hash the tier's view lists must match the bytes; in `vetted` that view's sha256 is the pin.
    want = wanted(normalized, dist, metadata=is_metadata)  # FileNotListed when no hash can be checked
    # Not "immutable" for a year: a later block must reach clients' caches, within client_max_age like pages.
    headers = file_headers(services.config.server.client_max_age)
    stored = await services.storage.find_verified(want.hashes)
    kind = "metadata" if is_metadata else "file"
    if stored is not None:
        services.telemetry.cache_result(kind, HIT)
        note_cache(HIT)
        log.debug("cache hit file=%s/%s", normalized, filename)
        if is_metadata:
            _prefetch_after(services, tier, normalized, stored)
        return await send_stored(request, services.storage, stored, headers)
    on_cached: Callable[[StoredFile], Awaitable[object]] | None = None
    if is_metadata:
        on_cached = functools.partial(_prefetch_after_download, services, tier, normalized)
    elif dist.filename.endswith(".whl") and dist.local_metadata is None:
        # Derive metadata from the verified file once cached (used where upstream's is missing or unpinned).
        on_cached = functools.partial(_extract, services, tier, normalized)

    services.telemetry.cache_result(kind, MISS)
    note_cache(MISS)
    download = services.downloader.get(replace(want, on_cached=on_cached))
    download.attach()
    try:
        return await _send(request, services.storage, download, headers)
    except ClientGone:
        return web.Response(status=499)  # nobody reads it: the connection is gone
    finally:
        download.detach()


def _prefetch_after(services: Services, tier: Tier, project: str, stored: StoredFile) -> None:
    """The client just got a release's metadata: warm the pages of its dependencies (background, bounded)."""
    if services.prefetcher is not None and stored.size <= _PREFETCH_READ:
        services.prefetcher.after_read(tier, project,
                                       functools.partial(read_bytes, services.storage, stored, 0, stored.size))


async def _prefetch_after_download(services: Services, tier: Tier, project: str, stored: StoredFile) -> None:
    _prefetch_after(services, tier, project, stored)


async def _extract(services: Services, tier: Tier, project: str, wheel: StoredFile) -> None:
    """Extract a verified wheel's metadata; the installer that fetched the wheel asks for its dependencies next."""
    digest = await services.extractor.extract_verified(project, wheel)
    if digest is not None and services.prefetcher is not None:
        extracted = await services.storage.find(digest)
        if extracted is not None:
            _prefetch_after(services, tier, project, extracted)


def _client_gone(request: web.Request) -> Callable[[], bool]:
    return lambda: request.transport is None or request.transport.is_closing()


async def _send(request: web.Request, store: FileStore, download: Download,
                headers: dict[str, str]) -> web.StreamResponse:
    gone = _client_gone(request)
    if request.method == "HEAD" or "Range" in request.headers:
        # Ranges and HEAD are answered from the complete, verified file.
        stored = await wait_for_download(download.finished, gone)
        return await send_stored(request, store, stored, headers)
    length = await wait_for_download(download.started, gone)
    response = web.StreamResponse(headers={**headers, "Content-Type": "application/octet-stream"})
    if length is not None:
        response.content_length = length
    try:
        await response.prepare(request)
    except ConnectionError:  # the client left while upstream was answering
        raise ClientGone() from None
    try:
        async with contextlib.aclosing(download.tail(gone)) as chunks:
            async for chunk in chunks:
                await response.write(chunk)
    except Exception as exc:  # upstream, integrity, storage or any failure after the headers went out
        # The client must not take a prefix for the file: cut the connection before the end.
        if request.transport is not None:
            request.transport.abort()
        if not isinstance(exc, (MirrorError, ClientGone, ConnectionError)):
            log.exception("failed while streaming file=%s", download.wanted.label)
        return response
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/{tier}/files/{project}/{filename}", file_or_metadata)
