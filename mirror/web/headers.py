"""One policy for caching headers at the HTTP edge, driven by ``[server] client_max_age``.

Every answer of the Simple API, files and provenance gets its ``Cache-Control``/``Vary``/staleness headers here
(CORS is added to every answer under a tier by :mod:`mirror.web.cors`). Pages and files are cacheable for
``client_max_age`` (a later block reaches clients' caches within that time; nothing is ``immutable``); a stale
page for at most a minute; errors of the server's own making (5xx) never; a normalizing redirect carries the
``Vary`` of the page it points to, and a 406 says it depended on ``Accept``.
"""

from __future__ import annotations

from aiohttp import web

#: Pages are negotiated on these request headers.
PAGE_VARY = "Accept, Accept-Encoding"
#: A stale answer (upstream failing) is cached by clients for at most this long.
STALE_MAX_AGE = 60
#: Provenance may change upstream (PEP 740): clients re-ask at least this often.
PROVENANCE_MAX_AGE = 600


def public(max_age: int) -> str:
    return f"max-age={max_age}, public"


def page_headers(max_age: int, *, stale: bool) -> dict[str, str]:
    """Headers of a Simple API page (index or project), fresh or stale."""
    headers = {"Vary": PAGE_VARY, "Cache-Control": public(min(max_age, STALE_MAX_AGE) if stale else max_age)}
    if stale:
        headers["X-Mirror-Stale"] = "1"
        headers["Warning"] = '110 - "Response is Stale"'
    return headers


def document_headers(max_age: int, *, stale: bool) -> dict[str, str]:
    """Headers of a JSON API document (``/<tier>/pypi/...``): like a page's, but chosen by nothing but the
    encoding."""
    headers = {"Vary": "Accept-Encoding", "Cache-Control": public(min(max_age, STALE_MAX_AGE) if stale else max_age)}
    if stale:
        headers["X-Mirror-Stale"] = "1"
    return headers


def file_headers(max_age: int) -> dict[str, str]:
    """Headers of a distribution file or ``.metadata`` (cached or streamed)."""
    return {"Cache-Control": f"public, max-age={max_age}", "Accept-Ranges": "bytes"}


def provenance_headers(*, stale: bool) -> dict[str, str]:
    """Headers of a provenance answer."""
    headers = {"Vary": "Accept", "Cache-Control": public(STALE_MAX_AGE if stale else PROVENANCE_MAX_AGE)}
    if stale:
        headers["X-Mirror-Stale"] = "1"
    return headers


def error_headers(status: int, *, negotiated: bool = False) -> dict[str, str]:
    """Headers of an error answer: 5xx never cached; a 406 (and any answer chosen by Accept) varies on it."""
    headers: dict[str, str] = {}
    if status >= 500:
        headers["Cache-Control"] = "no-store"
    if status == 406 or negotiated:
        headers["Vary"] = "Accept"
    return headers


def permanent_redirect(location: str, max_age: int) -> web.HTTPMovedPermanently:
    """A 301 to ``location`` (a normalized name, or a missing slash) with the page's own Vary and caching."""
    return web.HTTPMovedPermanently(location, headers={"Vary": PAGE_VARY, "Cache-Control": public(max_age)})
