"""The browser UI: ``/``, ``/<tier>/``, ``/ui/projects/<name>[/<version>]``, ``/ui/search``, ``/ui/demand``,
``/ui/holes``, ``/ui/audit``, and logging in and out.

Pages are read-only and anonymous by default (``[web] access = "login"`` puts them behind a login); reviewers'
notes and the buttons that change a tier appear only to a logged-in reviewer. The buttons post forms to the
admin API (:mod:`mirror.web.api`), which redirects back here with the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from urllib.parse import quote

from aiohttp import web
from packaging.utils import canonicalize_name

from mirror.core.auth import new_csrf, same_text
from mirror.core.errors import ProjectNotFound
from mirror.core.models import Tier
from mirror.core.overview import find_release
from mirror.core.policy.evaluate import canonical_version
from mirror.resources import templates_dir
from mirror.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    identify,
    rate_limit,
    read_form,
    set_cookie,
)
from mirror.web.names import is_project_name, tier_of
from mirror.web.state import SERVICES
from mirror.web.templating import SECURITY_HEADERS, flash, local_target, render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Releases per page of a project, rows per page of the demand queue and of the audit log.
RELEASES_PER_PAGE = 25
ROWS_PER_PAGE = 50
#: Holes listed on /ui/holes (the rest are counted: ``mirror check`` prints them all).
HOLES_SHOWN = 500
TIER_PROMISES = {
    Tier.ALL: "Everything upstream has, minus blocked projects and releases: cached, every file hash-verified.",
    Tier.REVIEWED: "Only projects a reviewer promoted; a new release waits out the cooldown before it appears.",
    Tier.VETTED: "Only releases a reviewer vetted, each file pinned to the sha256 seen when it was vetted.",
}


def page(handler: Handler) -> Handler:
    """A UI page: with ``[web] access = "login"`` it needs a session (else a redirect to the login form)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if request.app[SERVICES].config.web.access == "login" and await identify(request) is None:
            raise web.HTTPSeeOther(f"/ui/login?next={quote(request.path_qs, safe='')}")
        return await handler(request)

    return wrapped


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _page_number(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 100_000))
    except ValueError:
        return 1


async def home(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    overview = await services.ui.overview()
    return await render(request, "home.html", nav="home", overview=overview, origin=_origin(request),
                        tiers=list(Tier), promises=TIER_PROMISES, holes=services.ui.holes())


async def tier_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    tier = tier_of(request)
    overview = await services.ui.overview()
    names = services.ui.tier_names(tier) if tier is not Tier.ALL else []
    return await render(request, "tier.html", nav="home", tier=tier, overview=overview, origin=_origin(request),
                        promise=TIER_PROMISES[tier], names=names[:500], listed=len(names), holes=services.ui.holes())


async def tier_slash(request: web.Request) -> web.StreamResponse:
    tier = tier_of(request)
    raise web.HTTPMovedPermanently(f"/{tier.value}/")


def _project_name(request: web.Request) -> str:
    raw = request.match_info["project"]
    if not is_project_name(raw):
        raise web.HTTPNotFound(text="not a valid project name\n")
    return raw


async def project_page(request: web.Request) -> web.StreamResponse:
    raw = _project_name(request)
    name = canonicalize_name(raw)
    if name != raw:
        raise web.HTTPMovedPermanently(f"/ui/projects/{name}")
    try:
        data = await request.app[SERVICES].ui.project(name)
    except ProjectNotFound:
        return await render(request, "missing.html", status=404, nav="search", name=name)
    number = _page_number(request)
    pages = max(1, -(-len(data.releases) // RELEASES_PER_PAGE))
    number = min(number, pages)
    ui = request.app[SERVICES].ui
    rows = ui.rows(data, data.releases[(number - 1) * RELEASES_PER_PAGE: number * RELEASES_PER_PAGE])
    return await render(request, "project.html", nav="search", p=data, rows=rows, page=number, pages=pages,
                        tiers=list(Tier), origin=_origin(request))


async def release_page(request: web.Request) -> web.StreamResponse:
    raw = _project_name(request)
    version = request.match_info["version"]
    name = canonicalize_name(raw)
    if len(version) > 128:
        raise web.HTTPNotFound(text="not a valid version\n")
    if name != raw:
        raise web.HTTPMovedPermanently(f"/ui/projects/{name}/{quote(version, safe='')}")
    try:
        data = await request.app[SERVICES].ui.project(name)
    except ProjectNotFound:
        return await render(request, "missing.html", status=404, nav="search", name=name)
    release = find_release(data.releases, version)
    if release is None:
        return await render(request, "missing.html", status=404, nav="search", name=name, version=version)
    (row,) = request.app[SERVICES].ui.rows(data, [release])
    policy, found = data.policy, row.version
    vetting = policy.vettings.get(canonical_version(found) or found or "") if policy is not None else None
    blocks = [b for b in policy.blocks if b.versions is not None and b.matches(found)] if policy is not None else []
    return await render(request, "release.html", nav="search", p=data, row=row, tiers=list(Tier),
                        origin=_origin(request), vetting=vetting, release_blocks=blocks)


async def search_page(request: web.Request) -> web.StreamResponse:
    query = request.query.get("q", "")[:200]
    hits, total, known = request.app[SERVICES].ui.search(query)
    candidate = query.strip()
    lookup = canonicalize_name(candidate) if candidate and is_project_name(candidate) else None
    return await render(request, "search.html", nav="search", query=query, hits=hits, total=total, known=known,
                        lookup=lookup)


async def demand_page(request: web.Request) -> web.StreamResponse:
    tier = request.query.get("tier") or None
    if tier not in (None, *(t.value for t in Tier)):
        tier = None
    number = _page_number(request)
    rows, total = await request.app[SERVICES].ui.demand_page(tier, (number - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE)
    pages = max(1, -(-total // ROWS_PER_PAGE))
    return await render(request, "demand.html", nav="demand", rows=rows, total=total, tier=tier, page=number,
                        pages=pages, tiers=list(Tier))


async def holes_page(request: web.Request) -> web.StreamResponse:
    holes = request.app[SERVICES].ui.holes()
    wanted = request.query.get("tier")
    tier = Tier(wanted) if wanted in (Tier.REVIEWED.value, Tier.VETTED.value) else None
    gaps = holes.rows(tier)
    return await render(request, "holes.html", nav="holes", holes=holes, tier=tier, gaps=gaps[:HOLES_SHOWN],
                        total=len(gaps), curated=[Tier.REVIEWED, Tier.VETTED])


async def audit_page(request: web.Request) -> web.StreamResponse:
    ui = request.app[SERVICES].ui
    project_raw = request.query.get("project", "").strip()[:200]
    project = canonicalize_name(project_raw) if project_raw and is_project_name(project_raw) else None
    actor = request.query.get("actor", "").strip()[:64] or None
    try:
        before = int(request.query["before"]) if request.query.get("before") else None
    except ValueError:
        before = None
    records = await ui.audit_page(project, actor, before, ROWS_PER_PAGE)
    following = records[-1].id if len(records) == ROWS_PER_PAGE else None
    return await render(request, "audit.html", nav="audit", records=records, project=project_raw, actor=actor or "",
                        actors=await ui.audit.actors(), following=following, filtered=bool(project_raw or actor),
                        bad_project=bool(project_raw) and project is None)


async def login_form(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_csrf()
    response = await render(request, "login.html", nav="login", login_csrf=token,
                            next=local_target(request.query.get("next"), "/"), failed=False)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600, path="/ui/login")
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    rate_limit(request, "login")
    form = await read_form(request, json_errors=False)
    target = local_target(form.get("next", ""), "/")
    given, expected = str(form.get("csrf_token", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same_text(given, expected):
        raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the login page and try again\n",
                                headers=SECURITY_HEADERS)
    opened = await services.tokens.open_session(str(form.get("token", "")))
    if opened is None:
        response = await render(request, "login.html", status=401, nav="login", login_csrf=expected, next=target,
                                failed=True)
        return response
    cookie, identity, expires = opened
    response = web.HTTPSeeOther(target)
    lifetime = max(1, int(expires - services.tokens.now()))
    set_cookie(response, request, SESSION_COOKIE, cookie, max_age=lifetime)
    clear_cookie(response, request, LOGIN_CSRF_COOKIE, path="/ui/login")
    flash(response, request, True, [f"logged in as {identity.name} ({identity.role.value})"])
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    identity = await identify(request)
    form = await read_form(request, json_errors=False)
    response = web.HTTPSeeOther("/")
    if identity is not None and identity.session_id is not None:
        if identity.csrf is None or not same_text(str(form.get("csrf_token", "")), identity.csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token\n", headers=SECURITY_HEADERS)
        await services.tokens.close_session(identity.session_id)
        flash(response, request, True, ["logged out"])
    clear_cookie(response, request, SESSION_COOKIE)
    raise response


@cache
def _stylesheet() -> bytes:
    return (templates_dir() / "ui" / "mirror.css").read_bytes()


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_stylesheet(), content_type="text/css", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


async def to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/")


def add_routes(app: web.Application) -> None:
    """The UI's routes; ``/<tier>/`` last, after every fixed path."""
    router = app.router
    router.add_get("/", page(home))
    router.add_get("/ui/static/mirror.css", stylesheet)
    router.add_get("/ui/login", login_form)
    router.add_post("/ui/login", login_submit)
    router.add_post("/ui/logout", logout)
    router.add_get("/ui/search", page(search_page))
    router.add_get("/ui/demand", page(demand_page))
    router.add_get("/ui/holes", page(holes_page))
    router.add_get("/ui/audit", page(audit_page))
    router.add_get("/ui/projects/{project}", page(project_page))
    router.add_get("/ui/projects/{project}/{version}", page(release_page))
    router.add_get("/ui", to_home)
    router.add_get("/ui/", to_home)
    router.add_get("/{tier}/", page(tier_page))
    router.add_get("/{tier}", tier_slash)
