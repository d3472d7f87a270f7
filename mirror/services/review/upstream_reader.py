"""The configured upstream as the reviewer commands read it: a project's page, JSON documents (the JSON API,
provenance objects) and the provenance documents of files. aiohttp is imported only when a command reads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mirror.config import Config
from mirror.core.errors import ParseError, ProjectNotFound, ReviewError, UpstreamError
from mirror.core.models import DistFile, ProjectDetail

if TYPE_CHECKING:  # aiohttp (and pypi_simple) are imported only by the commands that talk to upstream
    import aiohttp

#: Largest JSON document read from upstream (the JSON API of a project with thousands of releases runs to
#: megabytes; a larger answer is refused with an error saying so).
JSON_LIMIT = 64 * 1024 * 1024


class UpstreamReader:
    """Reads ``config``'s upstream through ``session`` (one of its own when None, closed by :meth:`close`)."""

    def __init__(self, config: Config, session: aiohttp.ClientSession | None = None, *,
                 json_limit: int = JSON_LIMIT) -> None:
        self.config = config
        self._json_limit = json_limit
        self._session = session
        self._own_session = session is None

    @property
    def url(self) -> str:
        """The upstream's simple index root."""
        return self.config.upstream_url

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _http(self) -> aiohttp.ClientSession:
        from mirror.adapters.upstream import PAGE_POOL, fetch_rules, new_session

        if self._session is None:  # every connection checked against the SSRF rules, as the server's
            rules = fetch_rules(self.config.upstream_url, self.config.upstream.file_hosts)
            self._session = new_session(rules, PAGE_POOL, auto_decompress=True)
        return self._session

    async def client(self) -> Any:
        """An :class:`~mirror.adapters.upstream.UpstreamClient` of the configured upstream, on this reader's session."""
        from mirror.adapters.upstream import Timeouts, UpstreamClient, fetch_rules

        up = self.config.upstream
        return UpstreamClient(await self._http(), self.config.upstream_url,
                              Timeouts(up.connect_timeout, up.read_timeout, up.page_timeout), up.max_page_bytes,
                              rules=fetch_rules(self.config.upstream_url, up.file_hosts))

    async def fetch_detail(self, name: str) -> ProjectDetail:
        """The project's page from the configured upstream (JSON preferred); raises the upstream errors."""
        from mirror.adapters.upstream import FetchedPage
        from mirror.core.simple.parse import parse_project_page

        client = await self.client()
        page = await client.fetch_project(name)
        assert isinstance(page, FetchedPage)  # no ETag sent, so never NotModified
        return parse_project_page(page.body, page.content_type, project=name, page_url=page.url,
                                  header_serial=page.serial)

    async def project_detail(self, name: str) -> ProjectDetail:
        """:meth:`fetch_detail`, with every failure a ReviewError for the reviewer."""
        try:
            return await self.fetch_detail(name)
        except ProjectNotFound:
            raise ReviewError(f"upstream ({self.config.upstream_url}) has no project {name}") from None
        except (UpstreamError, ParseError) as exc:
            raise ReviewError(f"cannot get {name}'s page from upstream: {exc}") from None

    async def get_json(self, url: str) -> Any:
        """GET a JSON document, read whole (however many chunks it arrives in) up to ``json_limit`` bytes;
        None on 404, UpstreamError on anything else that is not JSON, and on a larger answer."""
        client = await self.client()
        page = await client.fetch_document(url, accept="application/json", limit=self._json_limit)
        if page is None:
            return None
        try:
            return json.loads(page.body)
        except ValueError:
            raise UpstreamError(url, "answer is not JSON") from None

    async def provenance_documents(self, files: Iterable[DistFile]) -> dict[str, bytes | None]:
        """filename → the provenance document upstream serves for it now (None: none advertised, or 404)."""
        client = await self.client()
        documents: dict[str, bytes | None] = {}
        for f in files:
            if not f.provenance:
                documents[f.filename] = None
                continue
            try:
                page = await client.fetch_provenance(f.provenance)
            except UpstreamError as exc:
                raise ReviewError(f"cannot read the provenance of {f.filename} from upstream ({exc}); "
                                  "not vetting without it") from None
            documents[f.filename] = getattr(page, "body", None)
        return documents
