"""The upstream index client (aiohttp): page fetches with ETag revalidation, and file streams.

Every failure becomes one of :class:`~mirror.core.errors.UpstreamError`, :class:`~mirror.core.errors.UpstreamTimeout`
or :class:`~mirror.core.errors.ProjectNotFound`, so callers never see aiohttp exceptions. Redirects of pages are
only followed within the upstream's own origin; files and provenance are fetched under the rules of
:mod:`mirror.core.fetch_rules` (no SSRF): redirects followed by hand, only to the same origin or to a
``file_hosts`` host, and every connection's resolved addresses checked by :class:`GuardedResolver`.

Pages and files use separate connection pools (:func:`open_upstream`), so downloads, however many and
however slow, never make a page fetch wait for a connection.
"""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from mirror.adapters.provenance import MAX_PROVENANCE_BYTES
from mirror.core.errors import FetchRefused, ProjectNotFound, UpstreamError, UpstreamTimeout
from mirror.core.fetch_rules import FetchRules, HostRule, internal_address, origin_of, parse_host_rule

#: What we ask upstream for: JSON first, HTML as a fallback (uv's header).
PAGE_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
               "text/html;q=0.01")
#: What we ask for a PEP 740 provenance object (Warehouse's integrity API).
PROVENANCE_ACCEPT = "application/vnd.pypi.integrity.v1+json, application/json;q=0.9"
_MAX_REDIRECTS = 5
#: Read buffer and chunk size of a body streamed to a sink.
_SINK_BUFFER = 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
#: Connection pool sizes: (total, per host), for pages and for files separately.
PAGE_POOL = (100, 50)
FILE_POOL = (100, 50)
_USER_AGENT = "mirror (caching index proxy)"
_REFUSED = "the mirror does not fetch the URL upstream gave for it (see [upstream] file_hosts)"
_REFUSED_REDIRECT = "upstream redirected to a location the mirror does not fetch from (see [upstream] file_hosts)"


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A 200 answer: the raw body and what is needed to parse and revalidate it."""

    body: bytes
    content_type: str
    url: str
    etag: str | None
    serial: str | None
    elapsed: float


class BodySink(Protocol):
    """Takes the body of a 200 answer as it arrives, instead of it being read whole (a 40 MB project list)."""

    async def start(self, content_type: str, serial: str | None) -> None: ...

    async def feed(self, chunk: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class NotModified:
    """Upstream answered 304 to our If-None-Match."""

    elapsed: float


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float
    page_total: float


class GuardedResolver(AbstractResolver):
    """Resolves host names like ``inner``, then drops internal addresses unless ``rules`` trust that host
    and port: checked when a connection is made, so DNS tricks (a public name with an internal address,
    or one that re-resolves to it) cannot reach the machine's own network. IP literals never reach a
    resolver; :meth:`FetchRules.url_problem` checks those."""

    def __init__(self, rules: FetchRules, inner: AbstractResolver | None = None) -> None:
        self._rules = rules
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._rules.trusted(host, port):
            return found
        allowed = [r for r in found if not internal_address(r["host"])]
        if not allowed:
            raise OSError(f"refused: {host} resolves only to internal addresses (not the upstream, "
                          "not in [upstream] file_hosts)")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def proxy_hosts() -> tuple[HostRule, ...]:
    """The HTTP proxies the environment configures (a session with ``trust_env`` connects to them)."""
    rules = []
    for url in urllib.request.getproxies().values():
        origin = origin_of(url if "://" in url else f"http://{url}")
        if origin is not None:
            rules.append(HostRule(origin.host, origin.port))
    return tuple(rules)


def fetch_rules(base_url: str, file_hosts: tuple[str, ...] = ()) -> FetchRules:
    """The SSRF rules for an upstream at ``base_url``; ``file_hosts`` as in the configuration."""
    origin = origin_of(base_url)
    if origin is None:
        raise ValueError(f"not an http(s) URL: {base_url}")
    return FetchRules(origin, tuple(parse_host_rule(h) for h in file_hosts), proxy_hosts())


def new_session(rules: FetchRules, pool: tuple[int, int], **kwargs: Any) -> aiohttp.ClientSession:
    """A client session whose every connection obeys ``rules`` (see :class:`GuardedResolver`)."""
    connector = aiohttp.TCPConnector(limit=pool[0], limit_per_host=pool[1], ttl_dns_cache=300,
                                     resolver=GuardedResolver(rules))
    headers = {"User-Agent": _USER_AGENT, **kwargs.pop("headers", {})}
    return aiohttp.ClientSession(connector=connector, trust_env=True, headers=headers, **kwargs)


def open_upstream(base_url: str, timeouts: Timeouts, max_page_bytes: int,
                  file_hosts: tuple[str, ...] = ()) -> UpstreamClient:
    """An :class:`UpstreamClient` owning two guarded sessions (pages, files); close it with ``close()``."""
    rules = fetch_rules(base_url, file_hosts)
    return UpstreamClient(new_session(rules, PAGE_POOL), base_url, timeouts, max_page_bytes,
                          files_session=new_session(rules, FILE_POOL), rules=rules, owns_sessions=True)


class UpstreamClient:
    """Talks to one upstream simple index rooted at ``base_url`` (ends with ``/``).

    ``session`` fetches pages (and provenance), ``files_session`` (default: the same) streams files;
    ``rules`` (default: the upstream's origin, no ``file_hosts``) decide which file and provenance URLs and
    redirects may be followed.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeouts: Timeouts,
                 max_page_bytes: int, *, files_session: aiohttp.ClientSession | None = None,
                 rules: FetchRules | None = None, owns_sessions: bool = False) -> None:
        self.base_url = base_url
        self._session = session
        self._files = files_session or session
        self._timeouts = timeouts
        self._max_page_bytes = max_page_bytes
        self._origin = _origin(base_url)
        self.rules = rules or fetch_rules(base_url)
        self._owns_sessions = owns_sessions

    async def close(self) -> None:
        """Close the sessions when this client opened them (:func:`open_upstream`)."""
        if self._owns_sessions:
            for session in {id(s): s for s in (self._session, self._files)}.values():
                await session.close()

    def project_url(self, project: str) -> str:
        return urljoin(self.base_url, f"{project}/")

    async def fetch_project(self, project: str, etag: str | None = None) -> FetchedPage | NotModified:
        """GET the project's page; raises ProjectNotFound on 404, UpstreamError/UpstreamTimeout otherwise."""
        try:
            return await self._fetch_page(self.project_url(project), etag)
        except _NotFound:
            raise ProjectNotFound(project) from None

    async def fetch_index(self, etag: str | None = None, sink: BodySink | None = None) -> FetchedPage | NotModified:
        """GET the project list; a 404 is an upstream error here (an index always has a root).

        With a ``sink``, the body goes to it as it arrives (the answer's ``body`` is then empty); an error the
        sink raises stops the fetch and is raised here.
        """
        try:
            return await self._fetch_page(self.base_url, etag, sink=sink)
        except _NotFound:
            raise UpstreamError(self.base_url, "upstream index root answered 404", status=404) from None

    async def fetch_provenance(self, url: str, etag: str | None = None) -> FetchedPage | NotModified | None:
        """GET a PEP 740 provenance URL taken from an upstream page (never from a client); None on 404.

        The URL and its redirects obey :attr:`rules` (same origin or ``file_hosts``, no internal address);
        bodies over MAX_PROVENANCE_BYTES are refused. Raises FetchRefused, UpstreamError/UpstreamTimeout otherwise.
        """
        return await self._fetch_guarded(url, etag, PROVENANCE_ACCEPT, MAX_PROVENANCE_BYTES)

    async def fetch_document(self, url: str, *, accept: str, limit: int) -> FetchedPage | None:
        """GET a document at ``url`` (the upstream's JSON API, say), whole but at most ``limit`` bytes once
        decoded, however many chunks it arrives in; None on 404.

        The URL and its redirects obey :attr:`rules`, as for provenance. Raises FetchRefused, UpstreamError
        (a body over ``limit`` included) or UpstreamTimeout.
        """
        page = await self._fetch_guarded(url, None, accept, limit)
        assert not isinstance(page, NotModified)  # no ETag sent
        return page

    async def revalidate_document(self, url: str, etag: str | None, *, accept: str,
                                  limit: int) -> FetchedPage | NotModified | None:
        """:meth:`fetch_document` with ``If-None-Match: etag`` when given (NotModified when upstream answers 304)."""
        return await self._fetch_guarded(url, etag, accept, limit)

    async def _fetch_guarded(self, url: str, etag: str | None, accept: str,
                             limit: int) -> FetchedPage | NotModified | None:
        problem = self.rules.url_problem(url)
        if problem is not None:
            raise FetchRefused(url, f"refused: {problem}", public=_REFUSED)
        try:
            return await self._fetch_page(url, etag, accept=accept, limit=limit,
                                          follow=lambda target: self._follow(url, target))
        except _NotFound:
            return None

    async def _fetch_page(self, url: str, etag: str | None, *, accept: str = PAGE_ACCEPT, limit: int | None = None,
                          follow: Callable[[str], str | None] | None = None,
                          sink: BodySink | None = None) -> FetchedPage | NotModified:
        headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        timeout = aiohttp.ClientTimeout(total=self._timeouts.page_total, connect=self._timeouts.connect,
                                        sock_read=self._timeouts.read)
        started = time.monotonic()
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with self._session.get(url, headers=headers, timeout=timeout, allow_redirects=False,
                                             read_bufsize=_SINK_BUFFER if sink else None) as resp:
                    if resp.status in _REDIRECTS:
                        url = self._redirect_target(url, resp.headers.get("Location"), follow)
                        continue
                    elapsed = time.monotonic() - started
                    if resp.status == 304 and etag:
                        return NotModified(elapsed)
                    if resp.status == 404:
                        raise _NotFound()
                    if resp.status != 200:
                        raise UpstreamError(url, f"HTTP {resp.status}", status=resp.status)
                    content_type = resp.headers.get("Content-Type", "text/html")
                    serial = resp.headers.get("X-PyPI-Last-Serial")
                    if sink is not None:
                        await sink.start(content_type, serial)
                    body = await self._read_limited(resp, url, limit, sink)
                    return FetchedPage(body=body, content_type=content_type, url=str(resp.url),
                                       etag=resp.headers.get("ETag"), serial=serial,
                                       elapsed=time.monotonic() - started)
            raise UpstreamError(url, "too many redirects")
        except TimeoutError:
            raise UpstreamTimeout(url, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(url, f"{type(exc).__name__}: {exc}") from None

    async def _read_limited(self, resp: aiohttp.ClientResponse, url: str, limit: int | None = None,
                            sink: BodySink | None = None) -> bytes:
        """The body, at most ``limit`` bytes (default ``max_page_bytes``); with a ``sink``, fed to it instead."""
        name = "max_page_bytes" if limit is None else f"the limit of {limit} bytes"
        limit = self._max_page_bytes if limit is None else limit
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise UpstreamError(url, f"answer of {declared} bytes exceeds {name}",
                                public=f"the answer exceeds {name}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(_SINK_BUFFER if sink else 256 * 1024):
            total += len(chunk)
            if total > limit:
                raise UpstreamError(url, f"answer exceeds {name}", public=f"the answer exceeds {name}")
            if sink is not None:
                await sink.feed(chunk)
            else:
                chunks.append(chunk)
        return b"".join(chunks)

    def _redirect_target(self, url: str, location: str | None,
                         follow: Callable[[str], str | None] | None = None) -> str:
        """Where a redirect from ``url`` leads; ``follow(target)`` says why not (default: not the upstream's
        origin). Raises FetchRefused."""
        if not location:
            raise UpstreamError(url, "redirect without Location")
        target = urljoin(url, location)
        if follow is not None:
            problem, public = follow(target), _REFUSED_REDIRECT
        else:  # a page: only within the upstream's own origin
            problem = None if _origin(target) == self._origin else "redirect to another origin"
            public = "upstream redirected to another origin"
        if problem is not None:
            raise FetchRefused(url, f"refused: {problem}: {target}", public=public)
        return target

    def _follow(self, fetched: str, target: str) -> str | None:
        return self.rules.redirect_problem(fetched, target)

    @contextlib.asynccontextmanager
    async def stream_file(self, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streaming GET of a file URL taken from an upstream page (never from a client).

        The URL and every redirect obey :attr:`rules` (followed by hand: same origin or ``file_hosts``,
        http(s) only, no internal address). Yields the 200 response (read it with ``iter_chunked``);
        raises FetchRefused for a URL or redirect the rules refuse, UpstreamError for other statuses or
        network errors, and UpstreamTimeout when no data arrives within the read timeout.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeouts.connect,
                                        sock_read=self._timeouts.read)
        problem = self.rules.url_problem(url)
        if problem is not None:
            raise FetchRefused(url, f"refused: {problem}", public=_REFUSED)
        current = url
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with self._files.get(current, timeout=timeout, headers={"Accept-Encoding": "identity"},
                                           auto_decompress=False, allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS:
                        current = self._redirect_target(current, resp.headers.get("Location"),
                                                        lambda target: self._follow(url, target))
                        continue
                    if resp.status != 200:
                        raise UpstreamError(current, f"HTTP {resp.status}", status=resp.status)
                    yield resp
                    return
            raise UpstreamError(url, "too many redirects")
        except TimeoutError:
            raise UpstreamTimeout(current, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(current, f"{type(exc).__name__}: {exc}") from None


class _NotFound(Exception):
    pass


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
