"""Response helpers: prepared-page responses with conditional GET, and error pages."""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web

from mirror.core.models import Format
from mirror.core.simple.negotiate import content_type
from mirror.services.prepared import PreparedPage
from mirror.web.headers import error_headers, page_headers


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


def page_response(request: web.Request, page: PreparedPage, fmt: Format, *, stale: bool,
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
    return web.Response(body=page.body, headers=headers)


def error_response(status: int, message: str, *, hint: str | None = None) -> web.Response:
    """A small plain-text error body; installers show it to the user."""
    text = message + (f"\n{hint}" if hint else "") + "\n"
    return web.Response(status=status, text=text, content_type="text/plain", headers=error_headers(status))
