"""PEP 740 provenance, Warehouse-compatible: ``/<tier>/integrity/<project>/<version>/<filename>/provenance``.

Served only for files the tier admits, with upstream's bytes (fetched and cached by
:class:`~mirror.services.provenance.ProvenanceCache`, at most 10 minutes old unless upstream is failing).
Content negotiation as Warehouse: ``application/vnd.pypi.integrity.v1+json`` or ``application/json``
(or no Accept) get 200 with that type, anything else 406; no provenance is a 404 with a JSON body.
Nothing here verifies signatures: that happens at vetting time and in the background check.
"""

from __future__ import annotations

import logging

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.errors import (
    FileNotListed,
    ProjectNotFound,
    UpstreamError,
    UpstreamTimeout,
)
from mirror.core.policy.evaluate import canonical_version
from mirror.core.simple.negotiate import accept_quality
from mirror.services.provenance_cache import INTEGRITY_TYPE
from mirror.web.headers import error_headers, provenance_headers
from mirror.web.names import is_filename, is_project_name, tier_of
from mirror.web.state import SERVICES

log = logging.getLogger("mirror.web")

_OFFERS = (INTEGRITY_TYPE, "application/json")


def choose_type(accept: str | None) -> str | None:
    """The offered type the Accept header prefers (ties: the integrity type), or None when none is acceptable."""
    if accept is None or not accept.strip():
        return INTEGRITY_TYPE
    best: tuple[float, int, str] | None = None
    for rank, offer in enumerate(_OFFERS):
        q = accept_quality(offer, accept)
        if q is not None and q > 0 and (best is None or (q, -rank) > (best[0], best[1])):
            best = (q, -rank, offer)
    return best[2] if best else None


def _json(status: int, message: str, content_type: str = INTEGRITY_TYPE) -> web.Response:
    headers = {**provenance_headers(stale=False), **error_headers(status, negotiated=True)}
    return web.json_response({"message": message}, status=status, content_type=content_type, headers=headers)


async def provenance(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tier = tier_of(request)
    project, version, filename = (request.match_info[k] for k in ("project", "version", "filename"))
    content_type = choose_type(request.headers.get("Accept"))
    if content_type is None:
        return _json(406, "Request not acceptable", "application/json")
    if not is_project_name(project) or not is_filename(filename) or not 0 < len(version) <= 128:
        return _json(404, "no such file", content_type)
    normalized = canonicalize_name(project)
    if normalized != project:
        raise web.HTTPMovedPermanently(f"/{tier.value}/integrity/{normalized}/{version}/{filename}/provenance")
    try:
        dist = await services.prepared.admitted_file(tier, normalized, filename)
    except (FileNotListed, ProjectNotFound):
        return _json(404, f"{filename} is not a file of {normalized} in tier '{tier.value}'", content_type)
    if canonical_version(dist.version) != canonical_version(version):
        return _json(404, f"{filename} is not a file of {normalized} {version}", content_type)
    if not dist.provenance:
        return _json(404, f"No provenance available for {filename}", content_type)
    try:
        cached = await services.provenance.get(dist.provenance)
    except UpstreamTimeout as exc:  # the details (another host's URL, status...) go to the log only
        log.warning("provenance fetch timed out for %s: %s", request.path, exc)
        return _json(504, "provenance fetch from upstream timed out and no provenance is cached", content_type)
    except UpstreamError as exc:
        log.warning("provenance fetch failed for %s: %s", request.path, exc)
        return _json(502, "provenance fetch from upstream failed and no provenance is cached", content_type)
    if cached.body is None:
        return _json(404, f"No provenance available for {filename}", content_type)
    headers = provenance_headers(stale=cached.stale)
    return web.Response(body=cached.body, content_type=content_type, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/{tier}/integrity/{project}/{version}/{filename}/provenance", provenance)
