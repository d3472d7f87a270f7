"""Routes of the Simple API pages: ``/<tier>/simple/`` and ``/<tier>/simple/<project>/``."""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.models import Format, Tier
from mirror.core.simple.negotiate import negotiate
from mirror.services.telemetry import note_memory_hit
from mirror.web.headers import permanent_redirect
from mirror.web.names import is_project_name, tier_of
from mirror.web.responses import page_response, streamed_list_response
from mirror.web.state import SERVICES


@lru_cache(maxsize=512)
def _negotiate_cached(accept: str | None, format_param: str | None) -> Format:
    # Installers send a handful of distinct Accept headers; parse each once.
    return negotiate(accept, format_param)


def _format(request: web.Request) -> Format:
    return _negotiate_cached(request.headers.get("Accept"), request.query.get("format"))


def _redirect(request: web.Request, path: str) -> web.HTTPMovedPermanently:
    query = request.query_string
    return permanent_redirect(path + (f"?{query}" if query else ""),
                              request.app[SERVICES].config.server.client_max_age)


async def index_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    fmt = _format(request)
    max_age = services.config.server.client_max_age
    cold = await services.lists.cold(tier, fmt) if request.method == "GET" else None
    if cold is not None:  # the mirror has no list yet: send it as it is built
        return await streamed_list_response(request, cold, fmt, max_age=max_age)
    prepared, stale = await services.lists.index(tier, fmt)
    if tier is Tier.ALL:  # (the curated tiers' lists come from the policies, no cache)
        note_memory_hit(services.telemetry, "project-list", stale)
    return page_response(request, prepared, fmt, stale=stale, max_age=max_age)


async def project_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    name = request.match_info["project"]
    if not is_project_name(name):
        raise web.HTTPNotFound(text=f"{name!r} is not a valid project name\n")
    normalized = canonicalize_name(name)
    if normalized != name:
        raise _redirect(request, f"/{tier.value}/simple/{normalized}/")
    fmt = _format(request)
    prepared, stale = await services.prepared.project(tier, normalized, fmt)
    note_memory_hit(services.telemetry, "page", stale)
    return page_response(request, prepared, fmt, stale=stale, max_age=services.config.server.client_max_age)


async def add_slash(request: web.Request) -> web.StreamResponse:
    """``/<tier>/simple`` and ``/<tier>/simple/<project>`` → the same URL with a trailing slash."""
    tier_of(request)
    raise _redirect(request, request.path + "/")


async def extra_slashes(request: web.Request) -> web.StreamResponse:
    """``/<tier>/simple//<project>/`` (a base URL ending in a slash, as some clients join it) → the page's URL
    with single slashes; anything else under it is not a page (404)."""
    tier = tier_of(request)
    parts = [p for p in request.match_info["rest"].split("/") if p]
    if len(parts) != 1 or not is_project_name(parts[0]):
        raise web.HTTPNotFound(text="no such page: a project page is /<tier>/simple/<project>/\n")
    raise _redirect(request, f"/{tier.value}/simple/{canonicalize_name(parts[0])}/")


def add_routes(app: web.Application) -> None:
    tier = "{tier}"
    app.router.add_get(f"/{tier}/simple//{{rest:.*}}", extra_slashes)
    app.router.add_get(f"/{tier}/simple/", index_page)
    app.router.add_get(f"/{tier}/simple", add_slash)
    app.router.add_get(f"/{tier}/simple/{{project}}/", project_page)
    app.router.add_get(f"/{tier}/simple/{{project}}", add_slash)
