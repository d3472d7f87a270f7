"""Route of distribution files and their PEP 658 ``.metadata``: ``/<tier>/files/<project>/<filename>``.

Only files listed in the tier's view of the project page are served, from the content-addressed cache
(sendfile, Range, HEAD, conditional GET) or, on a miss, streamed from the single upstream download.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.errors import FileNotListed, MirrorError
from mirror.services.downloads import Wanted
from mirror.web.names import is_filename, is_project_name, tier_of
from mirror.web.state import SERVICES

log = logging.getLogger("mirror.files")

_METADATA_SUFFIX = ".metadata"
_IMMUTABLE = "public, max-age=31536000, immutable"


async def file_or_metadata(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    project, filename = request.match_info["project"], request.match_info["filename"]
    if not is_project_name(project) or not is_filename(filename):
        raise web.HTTPNotFound(text="no such file\n")
    normalized = canonicalize_name(project)
    if normalized != project:
        raise web.HTTPMovedPermanently(f"/{tier.value}/files/{normalized}/{filename}")
    is_metadata = filename.endswith(_METADATA_SUFFIX)
    dist_name = filename[: -len(_METADATA_SUFFIX)] if is_metadata else filename
    dist = await services.prepared.admitted_file(tier, normalized, dist_name)
    if is_metadata:
        chosen = dist.metadata_hash()
        url, size = dist.url + _METADATA_SUFFIX, None
    else:
        chosen = dist.verifiable_hash()
        url, size = dist.url, dist.size
    if chosen is None:
        raise FileNotListed(normalized, filename)
    algorithm, digest = chosen
    headers = {"Cache-Control": _IMMUTABLE, "Accept-Ranges": "bytes"}
    path = await services.storage.find(algorithm, digest)
    if path is not None:
        log.debug("cache hit file=%s/%s", normalized, filename)
        return web.FileResponse(path, headers=headers)
    on_cached: Callable[[Path], Awaitable[object]] | None = None
    if not is_metadata and dist.filename.endswith(".whl") and dist.metadata_hash() is None and dist.sha256:
        # Upstream has no .metadata for this wheel: derive it from the verified file once cached.
        on_cached = functools.partial(services.extractor.extract, normalized, wheel_sha256=dist.sha256)

    download = services.downloader.get(
        Wanted(url, algorithm, digest, size, f"{normalized}/{filename}", on_cached=on_cached))
    if request.method == "HEAD" or "Range" in request.headers:
        # Ranges and HEAD are answered from the complete, verified file.
        path = await asyncio.shield(download.finished)
        return web.FileResponse(path, headers=headers)
    length = await asyncio.shield(download.started)
    response = web.StreamResponse(headers={**headers, "Content-Type": "application/octet-stream"})
    if length is not None:
        response.content_length = length
    await response.prepare(request)
    try:
        async for chunk in download.tail():
            await response.write(chunk)
    except Exception as exc:  # upstream, integrity, storage or any failure after the headers went out
        # The client must not take a prefix for the file: cut the connection before the end.
        if request.transport is not None:
            request.transport.abort()
        if not isinstance(exc, MirrorError):
            log.exception("failed while streaming file=%s/%s", normalized, filename)
        return response
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/{tier}/files/{project}/{filename}", file_or_metadata)
