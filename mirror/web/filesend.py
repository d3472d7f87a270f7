"""Sending a stored file: with sendfile when its bytes are a local file, else streamed from the store.

Both ways answer HEAD, single byte ranges (206, or 416 for a range outside the file), ``If-Range`` and
conditional GETs (``If-None-Match``, ``If-Modified-Since`` → 304). A streamed file carries its sha256 as a
strong ETag and the time the store wrote it as Last-Modified. A store failure before the first byte is a
StorageError (503); after the headers went out the connection is cut, so a client never takes a prefix
for the whole file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from mirror.core.errors import StorageError
from mirror.core.stored import StoredFile
from mirror.services.filestore import FileStore

log = logging.getLogger("mirror.files")


def resolve_range(start: int | None, stop: int | None, size: int) -> tuple[int, int] | None:
    """The byte range ``[first, end)`` a parsed ``Range`` (aiohttp's slice: ``start`` negative for a suffix,
    ``stop`` exclusive or None) selects in a file of ``size`` bytes; None when it is unsatisfiable."""
    if start is None:
        start = 0
    if start < 0:  # the last -start bytes
        return (max(0, size + start), size) if size > 0 else None
    if start >= size:
        return None
    end = size if stop is None else min(stop, size)
    return (start, end) if end > start else None


def _not_modified(request: web.Request, stored: StoredFile) -> bool:
    if request.if_none_match is not None:  # takes precedence over the date (RFC 9110, 13.2.2)
        return any(tag.value in (stored.sha256, "*") for tag in request.if_none_match)
    since = request.if_modified_since
    return since is not None and int(stored.modified) <= since.timestamp()


def _range_applies(request: web.Request, stored: StoredFile) -> bool:
    """Whether the Range header counts: no If-Range, or an If-Range naming this very version."""
    condition = request.headers.get("If-Range")
    if condition is None:
        return True
    if condition.startswith('"') or condition.startswith("W/"):
        return condition == stored.etag  # a strong comparison: weak tags never match
    try:
        when = parsedate_to_datetime(condition)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and int(stored.modified) == int(when.timestamp())


async def send_stored(request: web.Request, store: FileStore, stored: StoredFile,
                      headers: dict[str, str]) -> web.StreamResponse:
    """Answer ``request`` (GET or HEAD) with ``stored``; raises StorageError before any byte was sent."""
    if stored.local_path is not None:
        return web.FileResponse(stored.local_path, headers=headers)
    headers = {**headers, "ETag": stored.etag, "Content-Type": "application/octet-stream",
               "Last-Modified": format_datetime(datetime.fromtimestamp(int(stored.modified), UTC), usegmt=True)}
    if _not_modified(request, stored):
        return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    first, end, status = 0, stored.size, 200
    if "Range" in request.headers and _range_applies(request, stored):
        try:
            chosen = resolve_range(request.http_range.start, request.http_range.stop, stored.size)
        except ValueError:  # malformed, or several ranges: refused like aiohttp's FileResponse does
            chosen = None
        if chosen is None:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{stored.size}"})
        first, end = chosen
        status = 206
        headers["Content-Range"] = f"bytes {first}-{end - 1}/{stored.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - first
    if request.method == "HEAD" or end == first:
        await response.prepare(request)
        await response.write_eof()
        return response
    chunks = store.read(stored, first, end)
    async with contextlib.aclosing(chunks):
        try:
            head = await anext(chunks)  # a failure here is still a clean 503
        except StopAsyncIteration:
            raise StorageError(f"the store returned no bytes of {stored.sha256}") from None
        await response.prepare(request)
        try:
            await response.write(head)
            await _copy(chunks, response)
        except Exception as exc:  # the store or the client failed after the headers went out
            if request.transport is not None:
                request.transport.abort()
            if not isinstance(exc, ConnectionError):
                log.warning("stopped sending file=%s reason=%s", stored.sha256, exc)
            return response
    await response.write_eof()
    return response


async def _copy(chunks: AsyncIterator[bytes], response: web.StreamResponse) -> None:
    async for chunk in chunks:
        await response.write(chunk)
