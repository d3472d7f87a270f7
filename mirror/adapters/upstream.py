"""The upstream index client (aiohttp): page fetches with ETag revalidation, and file streams.

Every failure becomes one of :class:`~mirror.core.errors.UpstreamError`, :class:`~mirror.core.errors.UpstreamTimeout`
or :class:`~mirror.core.errors.ProjectNotFound`, so callers never see aiohttp exceptions. Redirects are only
followed within the upstream's own origin.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from mirror.adapters.provenance import MAX_PROVENANCE_BYTES
from mirror.core.errors import ProjectNotFound, UpstreamError, UpstreamTimeout

#: What we ask upstream for: JSON first, HTML as a fallback (uv's header).
PAGE_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
               "text/html;q=0.01")
#: What we ask for a PEP 740 provenance object (Warehouse's integrity API).
PROVENANCE_ACCEPT = "application/vnd.pypi.integrity.v1+json, application/json;q=0.9"
_MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A 200 answer: the raw body and what is needed to parse and revalidate it."""

    body: bytes
    content_type: str
    url: str
    etag: str | None
    serial: str | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class NotModified:
    """Upstream answered 304 to our If-None-Match."""

    elapsed: float


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float
    page_total: float


class UpstreamClient:
    """Talks to one upstream simple index rooted at ``base_url`` (ends with ``/``)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeouts: Timeouts,
                 max_page_bytes: int) -> None:
        self.base_url = base_url
        self._session = session
        self._timeouts = timeouts
        self._max_page_bytes = max_page_bytes
        self._origin = _origin(base_url)

    def project_url(self, project: str) -> str:
        return urljoin(self.base_url, f"{project}/")

    async def fetch_project(self, project: str, etag: str | None = None) -> FetchedPage | NotModified:
        """GET the project's page; raises ProjectNotFound on 404, UpstreamError/UpstreamTimeout otherwise."""
        try:
            return await self._fetch_page(self.project_url(project), etag)
        except _NotFound:
            raise ProjectNotFound(project) from None

    async def fetch_index(self, etag: str | None = None) -> FetchedPage | NotModified:
        """GET the project list; a 404 is an upstream error here (an index always has a root)."""
        try:
            return await self._fetch_page(self.base_url, etag)
        except _NotFound:
            raise UpstreamError(self.base_url, "upstream index root answered 404", status=404) from None

    async def fetch_provenance(self, url: str, etag: str | None = None) -> FetchedPage | NotModified | None:
        """GET a PEP 740 provenance URL taken from an upstream page (never from a client); None on 404.

        Redirects are followed within that URL's own origin only; bodies over MAX_PROVENANCE_BYTES are
        refused. Raises UpstreamError/UpstreamTimeout otherwise.
        """
        try:
            return await self._fetch_page(url, etag, accept=PROVENANCE_ACCEPT, limit=MAX_PROVENANCE_BYTES,
                                          origin=_origin(url))
        except _NotFound:
            return None

    async def _fetch_page(self, url: str, etag: str | None, *, accept: str = PAGE_ACCEPT, limit: int | None = None,
                          origin: tuple[str, str] | None = None) -> FetchedPage | NotModified:
        headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        timeout = aiohttp.ClientTimeout(total=self._timeouts.page_total, connect=self._timeouts.connect,
                                        sock_read=self._timeouts.read)
        started = time.monotonic()
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with self._session.get(url, headers=headers, timeout=timeout,
                                             allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        url = self._redirect_target(url, resp.headers.get("Location"), origin)
                        continue
                    elapsed = time.monotonic() - started
                    if resp.status == 304 and etag:
                        return NotModified(elapsed)
                    if resp.status == 404:
                        raise _NotFound()
                    if resp.status != 200:
                        raise UpstreamError(url, f"HTTP {resp.status}", status=resp.status)
                    body = await self._read_limited(resp, url, limit)
                    return FetchedPage(
                        body=body,
                        content_type=resp.headers.get("Content-Type", "text/html"),
                        url=str(resp.url),
                        etag=resp.headers.get("ETag"),
                        serial=resp.headers.get("X-PyPI-Last-Serial"),
                        elapsed=time.monotonic() - started,
                    )
            raise UpstreamError(url, "too many redirects")
        except TimeoutError:
            raise UpstreamTimeout(url, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(url, f"{type(exc).__name__}: {exc}") from None

    async def _read_limited(self, resp: aiohttp.ClientResponse, url: str, limit: int | None = None) -> bytes:
        name = "max_page_bytes" if limit is None else f"the limit of {limit} bytes"
        limit = self._max_page_bytes if limit is None else limit
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise UpstreamError(url, f"answer of {declared} bytes exceeds {name}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(256 * 1024):
            total += len(chunk)
            if total > limit:
                raise UpstreamError(url, f"answer exceeds {name}")
            chunks.append(chunk)
        return b"".join(chunks)

    def _redirect_target(self, url: str, location: str | None, origin: tuple[str, str] | None = None) -> str:
        if not location:
            raise UpstreamError(url, "redirect without Location")
        target = urljoin(url, location)
        if _origin(target) != (origin or self._origin):
            raise UpstreamError(url, f"refusing redirect to another origin: {target}")
        return target

    @contextlib.asynccontextmanager
    async def stream_file(self, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streaming GET of a file URL taken from an upstream page.

        Yields the 200 response (read it with ``iter_chunked``); raises UpstreamError for other
        statuses or network errors and UpstreamTimeout when no data arrives within the read timeout.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeouts.connect,
                                        sock_read=self._timeouts.read)
        try:
            # Files live on whatever host the upstream page named (a CDN, typically); the URL came
            # from the page, never from a client, so following its redirects is safe.
            async with self._session.get(url, timeout=timeout, headers={"Accept-Encoding": "identity"},
                                         auto_decompress=False) as resp:
                if resp.status != 200:
                    raise UpstreamError(url, f"HTTP {resp.status}", status=resp.status)
                yield resp
        except TimeoutError:
            raise UpstreamTimeout(url, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(url, f"{type(exc).__name__}: {exc}") from None


class _NotFound(Exception):
    pass


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
