"""Response helpers: prepared-page responses with conditional GET, and error pages."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from mirror.core.models import Format
from mirror.core.simple.list_build import Document
from mirror.core.simple.negotiate import content_type
from mirror.services.prepared import PreparedPage
from mirror.services.prepared_lists import ColdList, PreparedList
from mirror.web.headers import STALE_MAX_AGE, error_headers, page_headers

log = logging.getLogger("mirror.web")


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """True when the Accept-Encoding header allows gzip (a ``q=0`` refusal is honoured)."""
    for item in accept_encoding.split(","):
        parts = [p.strip() for p in item.split(";")]
        if parts[0].lower() in ("gzip", "*"):
            for param in parts[1:]:
                key, _, value = param.partition("=")
                if key.strip() == "q":
                    try:
                        return float(value) > 0
                    except ValueError:
                        return False
            return True
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against one ETag."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


class DocumentPayload(Payload):
    """A :class:`~mirror.core.simple.list_build.Document` sent part by part: a 40 MB list is never joined into
    one string, and a slow client only holds the server back, never its memory."""

    def __init__(self, value: Document, *args: Any, **kwargs: Any) -> None:
        super().__init__(value, *args, **kwargs)
        self._size = value.size

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        for part in self._value.parts:
            await writer.write(part)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        size = self._value.size
        remaining = size if content_length is None else min(content_length, size)
        for part in self._value.parts:
            if remaining <= 0:
                break
            await writer.write(part[:remaining] if len(part) > remaining else part)
            remaining -= len(part)


def page_response(request: web.Request, page: PreparedPage | PreparedList, fmt: Format, *, stale: bool,
                  max_age: int) -> web.Response:
    """A 200 (or 304) response for a prepared page, gzip-encoded when the client accepts it."""
    use_gzip = page.gzip_body is not None and accepts_gzip(request.headers.get("Accept-Encoding", ""))
    etag = page.gzip_etag if use_gzip else page.etag
    assert etag is not None
    # Caching and staleness from the one header policy; CORS, when configured, is added by mirror.web.cors.
    headers = {"Content-Type": content_type(fmt), "ETag": etag, **page_headers(max_age, stale=stale)}
    if page.serial is not None:
        headers["X-PyPI-Last-Serial"] = str(page.serial)
    # How long preparing these bytes took (once per page version): for benchmarks and operators.
    headers["Server-Timing"] = f"prepare;dur={page.prepared_ms:.2f}"
    inm = request.headers.get("If-None-Match")
    if inm and (etag_matches(inm, etag) or etag_matches(inm, page.etag)):
        headers.pop("Content-Type")
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=page.gzip_body, headers=headers)
    if isinstance(page.body, Document):
        return web.Response(body=DocumentPayload(page.body, content_type=headers["Content-Type"]), headers=headers)
    return web.Response(body=page.body, headers=headers)


async def streamed_list_response(request: web.Request, cold: ColdList, fmt: Format, *,
                                 max_age: int) -> web.StreamResponse:
    """A project list sent as it is built (chunked, no ETag: the bytes are not known yet).

    Nothing is sent before the first part: a fetch that fails by then gets the usual error answer. One that
    fails later cuts the connection (the client sees an incomplete body, never a short list)."""
    parts = cold.parts()
    first = await anext(parts)
    # A list still being built is cached by clients no longer than a stale one.
    headers = {"Content-Type": content_type(fmt), **page_headers(min(max_age, STALE_MAX_AGE), stale=False)}
    if cold.serial is not None:
        headers["X-PyPI-Last-Serial"] = str(cold.serial)
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    try:
        await response.write(first)
        async for part in parts:
            await response.write(part)
    except Exception as exc:
        log.warning("project list stream cut: %s", exc)
        if request.transport is not None:
            request.transport.abort()
        raise
    await response.write_eof()
    return response


def error_response(status: int, message: str, *, hint: str | None = None) -> web.Response:
    """A small plain-text error body; installers show it to the user."""
    text = message + (f"\n{hint}" if hint else "") + "\n"
    return web.Response(status=status, text=text, content_type="text/plain", headers=error_headers(status))
