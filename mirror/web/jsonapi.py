"""Routes of the JSON API tools expect: ``/<tier>/pypi/<project>/json`` and ``/<tier>/pypi/<project>/<version>/json``
(with or without a trailing slash), filtered by the tier exactly as its Simple API pages
(:mod:`mirror.services.jsonapi`). A project or release outside the tier is 404, never 401/403.
"""

from __future__ import annotations

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.web.headers import document_headers, permanent_redirect
from mirror.web.names import is_project_name, tier_of
from mirror.web.responses import accepts_gzip, etag_matches
from mirror.web.state import SERVICES


async def document_route(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    raw = request.match_info["project"]
    version = request.match_info.get("version")
    if not is_project_name(raw) or (version is not None and not 0 < len(version) <= 128):
        raise web.HTTPNotFound(text="not a valid project name or version\n")
    name = canonicalize_name(raw)
    if name != raw:
        tail = f"{version}/json" if version is not None else "json"
        raise permanent_redirect(f"/{tier.value}/pypi/{name}/{tail}", services.config.server.client_max_age)
    origin = f"{request.scheme}://{request.host}"
    served = await services.jsonapi.document(tier, name, version, origin)
    headers = {"Content-Type": "application/json",
               **document_headers(services.config.server.client_max_age, stale=served.stale)}
    if served.serial is not None:
        headers["X-PyPI-Last-Serial"] = str(served.serial)
    use_gzip = served.gzip_body is not None and accepts_gzip(request.headers.get("Accept-Encoding", ""))
    etag = served.gzip_etag if use_gzip and served.gzip_etag else served.etag
    headers["ETag"] = etag
    inm = request.headers.get("If-None-Match")
    if inm and (etag_matches(inm, etag) or etag_matches(inm, served.etag)):
        headers.pop("Content-Type")
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=served.gzip_body, headers=headers)
    return web.Response(body=served.body, headers=headers)


def add_routes(app: web.Application) -> None:
    for path in ("/{tier}/pypi/{project}/json", "/{tier}/pypi/{project}/{version}/json"):
        app.router.add_get(path, document_route)
        app.router.add_get(path + "/", document_route)
